import Foundation

/// Wire: one completed request, as the proxy reports it to the predictor and `POST /ingest` stores it (the
/// predictor learns output lengths from it).
public struct OutcomeReport: Codable, Sendable, Equatable {
    public var prompt: String?
    public var messages: [ChatMessage]?
    public var outputTokens: Int
    public var promptTokens: Int?
    public var maxTokens: Int?
    public var model: String
    public var taskType: String?
    public var tenantId: String?
    public var success: Bool
    public var latencyMs: Double?
    public var ttftMs: Double?
    public var finishReason: String?
    public var requestId: String?

    public init(
        prompt: String? = nil,
        messages: [ChatMessage]? = nil,
        outputTokens: Int,
        promptTokens: Int? = nil,
        maxTokens: Int? = nil,
        model: String,
        taskType: String? = nil,
        tenantId: String? = nil,
        success: Bool,
        latencyMs: Double? = nil,
        ttftMs: Double? = nil,
        finishReason: String? = nil,
        requestId: String? = nil
    ) {
        self.prompt = prompt
        self.messages = messages
        self.outputTokens = outputTokens
        self.promptTokens = promptTokens
        self.maxTokens = maxTokens
        self.model = model
        self.taskType = taskType
        self.tenantId = tenantId
        self.success = success
        self.latencyMs = latencyMs
        self.ttftMs = ttftMs
        self.finishReason = finishReason
        self.requestId = requestId
    }

    enum CodingKeys: String, CodingKey {
        case prompt, messages, model, success
        case outputTokens = "output_tokens"
        case promptTokens = "prompt_tokens"
        case maxTokens = "max_tokens"
        case taskType = "task_type"
        case tenantId = "tenant_id"
        case latencyMs = "latency_ms"
        case ttftMs = "ttft_ms"
        case finishReason = "finish_reason"
        case requestId = "request_id"
    }
}

/// `POST /ingest/batch` request: many outcome reports at once (the proxy batches them).
public struct OutcomeBatch: Codable, Sendable, Equatable {
    public var records: [OutcomeReport]

    public init(records: [OutcomeReport]) {
        self.records = records
    }
}

/// `POST /ingest` and `POST /ingest/batch` response (201).
public struct IngestResponse: Codable, Sendable, Equatable {
    public var stored: Int
    public var historySize: Int

    public init(stored: Int, historySize: Int) {
        self.stored = stored
        self.historySize = historySize
    }

    enum CodingKeys: String, CodingKey {
        case stored
        case historySize = "history_size"
    }
}

/// `GET /models` response: what the predictor knows per model, and which embedder it runs.
public struct ModelProfilesResponse: Codable, Sendable, Equatable {
    public var models: [ModelProfile]
    public var embedder: EmbedderInfo
    public var historySize: Int
    public var modelVersion: String

    public init(models: [ModelProfile], embedder: EmbedderInfo, historySize: Int, modelVersion: String) {
        self.models = models
        self.embedder = embedder
        self.historySize = historySize
        self.modelVersion = modelVersion
    }

    enum CodingKeys: String, CodingKey {
        case models, embedder
        case historySize = "history_size"
        case modelVersion = "model_version"
    }
}

/// History and prices of one model.
public struct ModelProfile: Codable, Sendable, Equatable {
    public var model: String
    public var sampleCount: Int
    public var outputTokensP10: Double
    public var outputTokensP50: Double
    public var outputTokensP90: Double
    public var inputPricePer1k: Double
    public var outputPricePer1k: Double

    public init(
        model: String,
        sampleCount: Int,
        outputTokensP10: Double,
        outputTokensP50: Double,
        outputTokensP90: Double,
        inputPricePer1k: Double,
        outputPricePer1k: Double
    ) {
        self.model = model
        self.sampleCount = sampleCount
        self.outputTokensP10 = outputTokensP10
        self.outputTokensP50 = outputTokensP50
        self.outputTokensP90 = outputTokensP90
        self.inputPricePer1k = inputPricePer1k
        self.outputPricePer1k = outputPricePer1k
    }

    enum CodingKeys: String, CodingKey {
        case model
        case sampleCount = "sample_count"
        case outputTokensP10 = "output_tokens_p10"
        case outputTokensP50 = "output_tokens_p50"
        case outputTokensP90 = "output_tokens_p90"
        case inputPricePer1k = "input_price_per_1k"
        case outputPricePer1k = "output_price_per_1k"
    }
}

/// Which sentence embedder the predictor runs: the real MiniLM, or the hashed n-gram fallback.
public struct EmbedderInfo: Codable, Sendable, Equatable {
    public var name: String
    public var kind: String
    public var dimension: Int

    public init(name: String, kind: String, dimension: Int) {
        self.name = name
        self.kind = kind
        self.dimension = dimension
    }
}

extension OutcomeReport: OpenAPIComponent {
    public static let schemaDescription =
        "What one finished request produced (the proxy's report, the body of `/ingest`)."
}

extension OutcomeBatch: OpenAPIComponent {
    public static let schemaDescription = "Several outcome reports."
    public static let schemaRefinements: [String: [SchemaRefinement]] = [
        "records": [.minItems(1)]
    ]
}

extension IngestResponse: OpenAPIComponent {
    public static let schemaDescription = "How many reports were stored."
}

extension ModelProfilesResponse: OpenAPIComponent {
    public static let schemaDescription = "Per-model output-length profiles and the embedder in use."
}

extension ModelProfile: OpenAPIComponent {
    public static let schemaDescription = "Output-length quantiles and prices of one model."
}

extension EmbedderInfo: OpenAPIComponent {
    public static let schemaDescription = "The sentence embedder in use."
}
