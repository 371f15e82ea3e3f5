import Foundation

/// `GET /_stats` response of one proxy instance.
public struct ProxyStats: Codable, Sendable, Equatable {
    public var instance: String
    public var queueDepth: Int
    public var accounts: [AccountStats]

    public init(instance: String, queueDepth: Int, accounts: [AccountStats]) {
        self.instance = instance
        self.queueDepth = queueDepth
        self.accounts = accounts
    }

    enum CodingKeys: String, CodingKey {
        case instance, accounts
        case queueDepth = "queue_depth"
    }
}

/// The live state of one upstream account (deployment). Never carries its API key.
public struct AccountStats: Codable, Sendable, Equatable {
    public var name: String
    public var modelName: String
    public var upstreamModel: String
    public var apiBase: String
    public var weight: Double
    public var window: Double
    public var maxConcurrency: Int
    public var inFlight: Int
    public var ewmaLatencyMs: Double?
    public var requests: Int
    public var successes: Int
    public var errors: Int
    public var rateLimited: Int
    public var cooldownRemainingMs: Double
    public var requestsThisMinute: Int
    public var tokensThisMinute: Int
    public var rpm: Int?
    public var tpm: Int?

    public init(
        name: String,
        modelName: String,
        upstreamModel: String,
        apiBase: String,
        weight: Double,
        window: Double,
        maxConcurrency: Int,
        inFlight: Int,
        ewmaLatencyMs: Double?,
        requests: Int,
        successes: Int,
        errors: Int,
        rateLimited: Int,
        cooldownRemainingMs: Double,
        requestsThisMinute: Int,
        tokensThisMinute: Int,
        rpm: Int?,
        tpm: Int?
    ) {
        self.name = name
        self.modelName = modelName
        self.upstreamModel = upstreamModel
        self.apiBase = apiBase
        self.weight = weight
        self.window = window
        self.maxConcurrency = maxConcurrency
        self.inFlight = inFlight
        self.ewmaLatencyMs = ewmaLatencyMs
        self.requests = requests
        self.successes = successes
        self.errors = errors
        self.rateLimited = rateLimited
        self.cooldownRemainingMs = cooldownRemainingMs
        self.requestsThisMinute = requestsThisMinute
        self.tokensThisMinute = tokensThisMinute
        self.rpm = rpm
        self.tpm = tpm
    }

    enum CodingKeys: String, CodingKey {
        case name, weight, window, requests, successes, errors, rpm, tpm
        case modelName = "model_name"
        case upstreamModel = "upstream_model"
        case apiBase = "api_base"
        case maxConcurrency = "max_concurrency"
        case inFlight = "in_flight"
        case ewmaLatencyMs = "ewma_latency_ms"
        case rateLimited = "rate_limited"
        case cooldownRemainingMs = "cooldown_remaining_ms"
        case requestsThisMinute = "requests_this_minute"
        case tokensThisMinute = "tokens_this_minute"
    }
}

/// Header names the services exchange, in one place.
public enum MaitreHeader {
    public static let requestID = "X-Request-ID"
    public static let predictedOutputTokens = "X-Predicted-Output-Tokens"
    public static let predictedOutputTokensP90 = "X-Predicted-Output-Tokens-P90"
    public static let tenant = "X-Tenant-ID"
    public static let requestClass = "X-Request-Class"
    public static let deadlineMs = "X-Deadline-Ms"
    public static let priority = "X-Priority"
    public static let taskType = "X-Task-Type"
    /// Sent by the scheduler as `queueing` while it holds a provider that queues at its slots: the proxy then does
    /// not read a first token's wait in the provider's line as congestion of the account (the scheduler counted
    /// it, and keeps no more in flight than the provider serves plus a small line).
    public static let paced = "X-Maitre-Paced"
    /// Test-only fault injection on the simulated upstream.
    public static let mockFault = "X-Mock-Fault"
}

extension ProxyStats: OpenAPIComponent {
    public static let schemaDescription = "Per-account state of one proxy instance (no keys)."
}

extension AccountStats: OpenAPIComponent {
    public static let schemaDescription = "One upstream account."
}
