import Foundation

/// Size class of a request's expected output.
public enum SizeBucket: String, Codable, Sendable, CaseIterable {
    case short, medium, long
}

/// Which rung of the predictor's fallback ladder produced a prediction.
public enum FallbackLevel: String, Codable, Sendable, CaseIterable {
    /// Nearest neighbours from the caller's own tenant history.
    case tenantNeighbors = "tenant_neighbors"
    /// Nearest neighbours from the global history.
    case globalNeighbors = "global_neighbors"
    /// The prior trained offline on public conversations (shipped with the predictor), before any history.
    case trainedPrior = "trained_prior"
    /// Quantiles of the model's (and task type's) history.
    case modelPrior = "model_prior"
    /// No usable history at all.
    case globalPrior = "global_prior"
    /// The predictor was unreachable; the caller estimated from prompt length alone.
    case localPrior = "local_prior"
    /// True output length supplied by a benchmark oracle.
    case oracle
}

/// `POST /predict` request: a prompt or chat messages, and what the caller knows about the call.
public struct PredictRequest: Codable, Sendable, Equatable {
    public var prompt: String?
    public var messages: [ChatMessage]?
    public var maxTokens: Int?
    public var model: String
    public var taskType: String?
    public var tenantId: String?

    public init(
        prompt: String? = nil,
        messages: [ChatMessage]? = nil,
        maxTokens: Int? = nil,
        model: String,
        taskType: String? = nil,
        tenantId: String? = nil
    ) {
        self.prompt = prompt
        self.messages = messages
        self.maxTokens = maxTokens
        self.model = model
        self.taskType = taskType
        self.tenantId = tenantId
    }

    enum CodingKeys: String, CodingKey {
        case prompt, messages, model
        case maxTokens = "max_tokens"
        case taskType = "task_type"
        case tenantId = "tenant_id"
    }
}

/// `POST /predict` response: how much work the request will be.
public struct PredictResponse: Codable, Sendable, Equatable {
    public var sizeBucket: SizeBucket
    public var expectedOutputTokensP50: Int
    public var expectedOutputTokensP90: Int
    /// The 10th and 99th percentiles of the output length (absent from predictors that do not give them).
    public var expectedOutputTokensP10: Int?
    public var expectedOutputTokensP99: Int?
    /// Probability that the reply is at most the interactive threshold (`SHORT_THRESHOLD_TOKENS`, 256), calibrated
    /// on held-out data; nil when the predictor has no calibrated estimate.
    public var pShort: Double?
    public var promptTokens: Int
    public var predictedCostP50: Double
    public var riskScore: Double
    public var confidenceScore: Double
    public var fallbackLevel: FallbackLevel
    public var neighborsUsed: Int
    public var modelVersion: String

    public init(
        sizeBucket: SizeBucket,
        expectedOutputTokensP50: Int,
        expectedOutputTokensP90: Int,
        promptTokens: Int,
        predictedCostP50: Double,
        riskScore: Double,
        confidenceScore: Double,
        fallbackLevel: FallbackLevel,
        neighborsUsed: Int,
        modelVersion: String,
        expectedOutputTokensP10: Int? = nil,
        expectedOutputTokensP99: Int? = nil,
        pShort: Double? = nil
    ) {
        self.sizeBucket = sizeBucket
        self.expectedOutputTokensP50 = expectedOutputTokensP50
        self.expectedOutputTokensP90 = expectedOutputTokensP90
        self.expectedOutputTokensP10 = expectedOutputTokensP10
        self.expectedOutputTokensP99 = expectedOutputTokensP99
        self.pShort = pShort
        self.promptTokens = promptTokens
        self.predictedCostP50 = predictedCostP50
        self.riskScore = riskScore
        self.confidenceScore = confidenceScore
        self.fallbackLevel = fallbackLevel
        self.neighborsUsed = neighborsUsed
        self.modelVersion = modelVersion
    }

    enum CodingKeys: String, CodingKey {
        case sizeBucket = "size_bucket"
        case expectedOutputTokensP50 = "expected_output_tokens_p50"
        case expectedOutputTokensP90 = "expected_output_tokens_p90"
        case expectedOutputTokensP10 = "expected_output_tokens_p10"
        case expectedOutputTokensP99 = "expected_output_tokens_p99"
        case pShort = "p_short"
        case promptTokens = "prompt_tokens"
        case predictedCostP50 = "predicted_cost_p50"
        case riskScore = "risk_score"
        case confidenceScore = "confidence_score"
        case fallbackLevel = "fallback_level"
        case neighborsUsed = "neighbors_used"
        case modelVersion = "model_version"
    }
}

/// `POST /predict/batch` request.
public struct PredictBatchRequest: Codable, Sendable, Equatable {
    public var requests: [PredictRequest]

    public init(requests: [PredictRequest]) {
        self.requests = requests
    }
}

/// `POST /predict/batch` response, in request order.
public struct PredictBatchResponse: Codable, Sendable, Equatable {
    public var predictions: [PredictResponse]

    public init(predictions: [PredictResponse]) {
        self.predictions = predictions
    }
}

extension SizeBucket: OpenAPIEnumeration {
    public static let schemaDescription = "Coarse output size."
}

extension FallbackLevel: OpenAPIEnumeration {
    public static let schemaDescription = "Which evidence a prediction rests on."
}

extension PredictRequest: OpenAPIComponent {
    public static let schemaDescription = "A prompt (text or messages) to predict the output length and cost of."
}

extension PredictResponse: OpenAPIComponent {
    public static let schemaDescription = "Predicted output length, cost and confidence."
}

extension PredictBatchRequest: OpenAPIComponent {
    public static let schemaDescription = "Several predictions in one call."
    public static let schemaRefinements: [String: [SchemaRefinement]] = [
        "requests": [.minItems(1)]
    ]
}

extension PredictBatchResponse: OpenAPIComponent {
    public static let schemaDescription = "Predictions in request order."
}
