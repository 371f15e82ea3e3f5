import Foundation
import PredictorCore
import ServiceRuntime

/// Every setting of the predictor, with its default and environment variable, in one place.
public struct PredictorConfiguration: Sendable {
    public static let specs: [SettingSpec] =
        CommonSettings.specs(port: 8000) + [
            SettingSpec(
                "top-k-neighbors", env: "TOP_K_NEIGHBORS", default: "5",
                help: "Nearest neighbours of the short list (the reference system's k)."),
            SettingSpec(
                "neighbor-pool-k", env: "NEIGHBOR_POOL_K", default: "50",
                help: "Wider k over which similarity-weighted neighbour quantiles are computed."),
            SettingSpec(
                "similarity-threshold", env: "SIMILARITY_THRESHOLD", default: "0.8",
                help: "Cosine similarity from which a past request counts as a close neighbour."),
            SettingSpec(
                "history-window-size", env: "HISTORY_WINDOW_SIZE", default: "10000",
                help: "Rows kept per pool (global, and each tenant), oldest dropped first."),
            SettingSpec(
                "embedding-model-path", env: "EMBEDDING_MODEL_PATH", default: "",
                help: "Folder of the all-MiniLM-L6-v2 model; empty searches site-packages."),
            SettingSpec(
                "embedder", env: "EMBEDDER", default: "auto",
                help: "auto (MiniLM when found, else hashed), minilm (required) or hashed."),
            SettingSpec(
                "retrain-every", env: "RETRAIN_EVERY", default: "200",
                help: "Retrain the boosted trees in the background after this many ingested rows."),
            SettingSpec(
                "min-training-rows", env: "MIN_TRAINING_ROWS", default: "100",
                help: "History rows needed before the boosted trees are trained."),
            SettingSpec(
                "short-max-tokens", env: "SHORT_MAX_TOKENS", default: "128",
                help: "Largest p50 output (tokens) of the short bucket."),
            SettingSpec(
                "medium-max-tokens", env: "MEDIUM_MAX_TOKENS", default: "512",
                help: "Largest p50 output (tokens) of the medium bucket."),
            SettingSpec(
                "price-table", env: "PRICE_TABLE", default: "",
                help: "Per-model prices per 1k tokens, model=input:output, comma-separated (adds to the built-in list)."
            ),
            SettingSpec(
                "default-price", env: "DEFAULT_PRICE", default: "0.0005:0.0015",
                help: "input:output price per 1k tokens of models not in the table."),
            SettingSpec(
                "max-prompt-chars", env: "MAX_PROMPT_CHARS", default: "1000000",
                help: "Longest prompt text accepted (400 beyond)."),
            SettingSpec(
                "max-batch", env: "MAX_BATCH", default: "512",
                help: "Most requests or records in one /predict/batch or /ingest/batch."),
            SettingSpec(
                "embed-batch", env: "EMBED_BATCH", default: "64",
                help: "Most texts the embedder runs in one forward pass."),
            SettingSpec(
                "embed-cache", env: "EMBED_CACHE", default: "4096",
                help: "Newest texts whose embeddings are kept, so an outcome report reuses its prediction's (0: none)."),
            SettingSpec(
                "prior", env: "PRIOR", default: "auto",
                help:
                    "Trained prior: auto (the shipped trained-prior.json when found), none (history only), or a file from `maitre-predictor train-prior`."
            ),
            SettingSpec(
                "length-layers", env: "LENGTH_LAYERS", default: "auto",
                help:
                    "MiniLM's top layers fine-tuned for answer length (`scripts/train-length-layers`): auto (the shipped length-layers.safetensors when found), none (the base model), or a file. The prior must have been trained with the same ones."
            ),
            SettingSpec(
                "database-url", env: "DATABASE_URL", default: "",
                help:
                    "postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require]: keep the history in PostgreSQL, shared by predictor replicas; empty: SQLite in the data directory."
            ),
            SettingSpec(
                "history-refresh-ms", env: "HISTORY_REFRESH_MS", default: "1000",
                help:
                    "With DATABASE_URL: how often the history other replicas ingested is read into this one's neighbour index."
            ),
        ]

    public var server: ServerSettings
    public var prediction: PredictionSettings
    public var windowSize: Int
    public var embeddingModelPath: String?
    public var embedder: String
    public var retrainEvery: Int
    public var minimumTrainingRows: Int
    public var maxPromptCharacters: Int
    public var maxBatch: Int
    public var embedBatch: Int
    public var embedCache: Int
    public var prior: String
    public var lengthLayers: String
    /// The shared PostgreSQL history; nil: SQLite in the data directory.
    public var databaseURL: DatabaseURL?
    public var historyRefreshMs: Int

    public init(_ settings: ResolvedSettings) throws {
        let databaseURL = try settings.databaseURL("database-url")
        self.databaseURL = databaseURL
        historyRefreshMs = try settings.int("history-refresh-ms", in: 50...600_000)
        server = try ServerSettings(settings)
        let shortMax = try settings.int("short-max-tokens", in: 1...1_000_000)
        let mediumMax = try settings.int("medium-max-tokens", in: 2...10_000_000)
        guard mediumMax > shortMax else {
            throw SettingError(key: "medium-max-tokens", message: "must be larger than short-max-tokens (\(shortMax))")
        }
        var prices = PriceTable.builtIn
        for entry in try settings.list("price-table") {
            let parts = entry.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let price = Self.parsePrice(String(parts[1])) else {
                throw SettingError(key: "price-table", message: "'\(entry)' is not model=input:output")
            }
            prices[String(parts[0])] = price
        }
        guard let fallback = Self.parsePrice(try settings.string("default-price")) else {
            throw SettingError(key: "default-price", message: "expected input:output prices per 1k tokens")
        }
        let topK = try settings.int("top-k-neighbors", in: 1...1000)
        prediction = PredictionSettings(
            topK: topK,
            wideK: max(topK, try settings.int("neighbor-pool-k", in: 1...5000)),
            similarityThreshold: Float(try settings.double("similarity-threshold", in: -1...1)),
            buckets: SizeBuckets(shortMax: shortMax, mediumMax: mediumMax),
            prices: PriceTable(prices: prices, fallback: fallback)
        )
        windowSize = try settings.int("history-window-size", in: 1...5_000_000)
        embeddingModelPath = try settings.optionalString("embedding-model-path")
        embedder = try settings.choice("embedder", of: ["auto", "minilm", "hashed"])
        retrainEvery = try settings.int("retrain-every", in: 1...10_000_000)
        minimumTrainingRows = try settings.int("min-training-rows", in: 10...10_000_000)
        maxPromptCharacters = try settings.int("max-prompt-chars", in: 1...100_000_000)
        maxBatch = try settings.int("max-batch", in: 1...100_000)
        embedBatch = try settings.int("embed-batch", in: 1...4096)
        embedCache = try settings.int("embed-cache", in: 0...1_000_000)
        prior = try settings.string("prior")
        guard !prior.isEmpty else { throw SettingError(key: "prior", message: "give auto, none or a file") }
        lengthLayers = try settings.string("length-layers")
        guard !lengthLayers.isEmpty else {
            throw SettingError(key: "length-layers", message: "give auto, none or a file")
        }
    }

    static func parsePrice(_ text: String) -> ModelPrice? {
        let parts = text.split(separator: ":").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let input = parts[0], let output = parts[1], input >= 0, output >= 0 else { return nil }
        return ModelPrice(inputPer1k: input, outputPer1k: output)
    }

    /// Defaults with overrides, for tests.
    public static func defaults(_ overrides: [String: String] = [:]) throws -> PredictorConfiguration {
        try PredictorConfiguration(ResolvedSettings.defaults(specs, overriding: overrides))
    }
}
