import Contracts

/// A request as the engine sees it: who sent it, how big it is predicted to be, and when it must finish.
/// Times are milliseconds on whatever clock the caller uses (Unix time in the service, virtual time in the simulator).
public struct Job: Sendable, Equatable {
    public var id: String
    public var tenantId: String
    /// A class the client imposed; nil lets the engine classify by predicted size.
    public var requestedClass: RequestClass?
    /// 0 (lowest) to 9 (highest); 5 is neutral.
    public var priority: Int
    public var submittedAtMs: Double
    /// Absolute deadline; nil takes the class default from the policy.
    public var deadlineAtMs: Double?
    public var predictedOutputTokensP50: Int
    public var predictedOutputTokensP90: Int
    /// The predictor's calibrated probability that the reply is short (at most `interactiveMaxPredictedTokens`);
    /// nil when it gave none, and the p50 decides instead.
    public var predictedShortProbability: Double?
    public var promptTokens: Int
    public var maxTokens: Int

    public init(
        id: String,
        tenantId: String = "default",
        requestedClass: RequestClass? = nil,
        priority: Int = 5,
        submittedAtMs: Double,
        deadlineAtMs: Double? = nil,
        predictedOutputTokensP50: Int,
        predictedOutputTokensP90: Int? = nil,
        predictedShortProbability: Double? = nil,
        promptTokens: Int = 0,
        maxTokens: Int = Int.max
    ) {
        self.id = id
        self.tenantId = tenantId
        self.requestedClass = requestedClass
        self.priority = priority
        self.submittedAtMs = submittedAtMs
        self.deadlineAtMs = deadlineAtMs
        self.predictedOutputTokensP50 = predictedOutputTokensP50
        self.predictedOutputTokensP90 = predictedOutputTokensP90 ?? predictedOutputTokensP50
        self.predictedShortProbability = predictedShortProbability.map { min(max($0, 0), 1) }
        self.promptTokens = promptTokens
        self.maxTokens = maxTokens
    }

    /// Predicted output tokens at p50 and p90, capped by `max_tokens` and at least one token.
    var boundedP50: Int { max(1, min(predictedOutputTokensP50, maxTokens)) }
    var boundedP90: Int { max(boundedP50, min(predictedOutputTokensP90, maxTokens)) }
    /// Predicted cost the ladder ranks by: prompt tokens plus predicted output tokens at p50.
    public var predictedCost: Double { Double(promptTokens + boundedP50) }
}

/// What `submit` decided.
public struct Decision: Sendable, Equatable {
    public var requestId: String
    /// `.queued`, `.deferred` or `.rejected`.
    public var state: RequestState
    public var requestClass: RequestClass
    public var deadlineAtMs: Double
    /// Why the request was deferred or rejected; nil when queued normally.
    public var reason: DecisionReason?
    /// For rejections: when the client may usefully retry.
    public var retryAfterMs: Double?

    public init(
        requestId: String,
        state: RequestState,
        requestClass: RequestClass,
        deadlineAtMs: Double,
        reason: DecisionReason? = nil,
        retryAfterMs: Double? = nil
    ) {
        self.requestId = requestId
        self.state = state
        self.requestClass = requestClass
        self.deadlineAtMs = deadlineAtMs
        self.reason = reason
        self.retryAfterMs = retryAfterMs
    }
}

/// A job the engine released to the upstream this round.
public struct Dispatch: Sendable, Equatable {
    public var requestId: String
    public var tenantId: String
    public var requestClass: RequestClass
    public var deadlineAtMs: Double
    /// Predicted output tokens at p50, sent upstream as `X-Predicted-Output-Tokens`.
    public var predictedOutputTokens: Int
    /// Predicted output tokens at p90, sent upstream as `X-Predicted-Output-Tokens-P90` (the proxy reserves tenant
    /// budgets with it).
    public var predictedOutputTokensP90: Int
    /// Tokens reserved against the in-flight budget until `complete`.
    public var reservedTokens: Int
    /// 1 for the first dispatch, more after rate-limit re-queues.
    public var attempt: Int
    /// Whether the engine holds a provider that queues at its slots now (`KneeEstimator.queueing`, cap engaged): the
    /// call goes out with `X-Maitre-Paced: queueing`.
    public var pacedAtSlots = false
}

/// A request the engine gave up on while it waited.
public struct Expiry: Sendable, Equatable {
    public var requestId: String
    public var reason: DecisionReason
}

/// The scheduling core's view of how a dispatched request ended upstream: what the engine learns from (service-time
/// model, knee, congestion) and whether it re-queues. The service builds it from a `ProxyCallResult`, the simulator
/// from its virtual upstream.
public struct DispatchOutcome: Sendable, Equatable {
    public enum Status: String, Sendable, Equatable {
        /// The upstream answered.
        case succeeded
        /// The upstream (or the proxy) answered 429; the engine re-queues while attempts and deadline allow.
        case rateLimited
        /// The upstream could not be reached or timed out before answering; re-queued like a 429 but without
        /// counting as a rate limit for the congestion controller.
        case retryable
        /// Any other failure; terminal.
        case failed
    }

    public var status: Status
    public var outputTokens: Int?
    /// Dispatch to last byte.
    public var latencyMs: Double?
    /// Dispatch to first byte.
    public var ttftMs: Double?
    public var retryAfterMs: Double?
    public var reason: DecisionReason?
    /// Content chunks of a streamed answer (nil when it was not streamed): with `outputTokens`, how many tokens a
    /// chunk carries, which turns the chunks counted mid-stream into tokens.
    public var streamedChunks: Int?

    public init(
        status: Status,
        outputTokens: Int? = nil,
        latencyMs: Double? = nil,
        ttftMs: Double? = nil,
        retryAfterMs: Double? = nil,
        reason: DecisionReason? = nil,
        streamedChunks: Int? = nil
    ) {
        self.status = status
        self.outputTokens = outputTokens
        self.latencyMs = latencyMs
        self.ttftMs = ttftMs
        self.retryAfterMs = retryAfterMs
        self.reason = reason
        self.streamedChunks = streamedChunks
    }

    public static func succeeded(
        outputTokens: Int, latencyMs: Double, ttftMs: Double? = nil, streamedChunks: Int? = nil
    ) -> DispatchOutcome {
        DispatchOutcome(
            status: .succeeded, outputTokens: outputTokens, latencyMs: latencyMs, ttftMs: ttftMs,
            streamedChunks: streamedChunks)
    }
}

/// What `complete` did with the request.
public enum CompletionEffect: String, Sendable, Equatable {
    case completed, requeued, failed, unknown
}
