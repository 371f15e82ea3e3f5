import Foundation

/// `GET /ui/state`: what the operator page shows of the scheduler, bounded in size however long the queue is.
public struct OperatorState: Codable, Sendable, Equatable {
    public var generatedUnixMs: Double
    public var mode: CongestionModeName
    /// The last congestion mode change, with why it happened (nil before the first one).
    public var modeChange: SchedulerEvent?
    public var slowdownRatio: Double?
    public var rateLimitedShare: Double?
    public var inflightRequests: Int
    /// Requests the knee estimate lets be in flight (nil while no cap applies).
    public var inflightRequestCap: Int?
    /// The hard cap on requests in flight (`max_inflight_requests`).
    public var maxInflightRequests: Int
    public var inflightTokensByClass: [String: Int]
    public var inflightBudgetByClass: [String: Int]
    public var queuedTotal: Int
    public var waitingByClass: [WaitingGroup]
    /// The tenants with the most waiting requests, most first (at most `tenant_limit`).
    public var waitingByTenant: [WaitingGroup]
    /// Tenants with at least one waiting request.
    public var tenantsWaiting: Int
    public var dispatchedTotal: Int
    public var completedTotal: Int
    public var failedTotal: Int
    public var expiredTotal: Int
    public var rejectedByReason: [String: Int]
    public var deferredByReason: [String: Int]
    /// The newest decisions first, filtered by tenant when asked (at most `decision_limit`).
    public var decisions: [SchedulerEvent]
    public var prediction: PredictionQuality
    /// Latency of finished requests per class, in consecutive time buckets, oldest first.
    public var latency: [LatencyPoint]

    public init(
        generatedUnixMs: Double, mode: CongestionModeName, modeChange: SchedulerEvent?, slowdownRatio: Double?,
        rateLimitedShare: Double?, inflightRequests: Int, inflightRequestCap: Int?, maxInflightRequests: Int,
        inflightTokensByClass: [String: Int], inflightBudgetByClass: [String: Int], queuedTotal: Int,
        waitingByClass: [WaitingGroup], waitingByTenant: [WaitingGroup], tenantsWaiting: Int, dispatchedTotal: Int,
        completedTotal: Int, failedTotal: Int, expiredTotal: Int, rejectedByReason: [String: Int],
        deferredByReason: [String: Int], decisions: [SchedulerEvent], prediction: PredictionQuality,
        latency: [LatencyPoint]
    ) {
        self.generatedUnixMs = generatedUnixMs
        self.mode = mode
        self.modeChange = modeChange
        self.slowdownRatio = slowdownRatio
        self.rateLimitedShare = rateLimitedShare
        self.inflightRequests = inflightRequests
        self.inflightRequestCap = inflightRequestCap
        self.maxInflightRequests = maxInflightRequests
        self.inflightTokensByClass = inflightTokensByClass
        self.inflightBudgetByClass = inflightBudgetByClass
        self.queuedTotal = queuedTotal
        self.waitingByClass = waitingByClass
        self.waitingByTenant = waitingByTenant
        self.tenantsWaiting = tenantsWaiting
        self.dispatchedTotal = dispatchedTotal
        self.completedTotal = completedTotal
        self.failedTotal = failedTotal
        self.expiredTotal = expiredTotal
        self.rejectedByReason = rejectedByReason
        self.deferredByReason = deferredByReason
        self.decisions = decisions
        self.prediction = prediction
        self.latency = latency
    }

    enum CodingKeys: String, CodingKey {
        case mode, decisions, prediction, latency
        case generatedUnixMs = "generated_unix_ms"
        case modeChange = "mode_change"
        case slowdownRatio = "slowdown_ratio"
        case rateLimitedShare = "rate_limited_share"
        case inflightRequests = "inflight_requests"
        case inflightRequestCap = "inflight_request_cap"
        case maxInflightRequests = "max_inflight_requests"
        case inflightTokensByClass = "inflight_tokens_by_class"
        case inflightBudgetByClass = "inflight_budget_by_class"
        case queuedTotal = "queued_total"
        case waitingByClass = "waiting_by_class"
        case waitingByTenant = "waiting_by_tenant"
        case tenantsWaiting = "tenants_waiting"
        case dispatchedTotal = "dispatched_total"
        case completedTotal = "completed_total"
        case failedTotal = "failed_total"
        case expiredTotal = "expired_total"
        case rejectedByReason = "rejected_by_reason"
        case deferredByReason = "deferred_by_reason"
    }
}

/// Requests waiting in one class or for one tenant, and how long the oldest has waited.
public struct WaitingGroup: Codable, Sendable, Equatable {
    public var name: String
    public var queued: Int
    public var oldestWaitMs: Double

    public init(name: String, queued: Int, oldestWaitMs: Double) {
        self.name = name
        self.queued = queued
        self.oldestWaitMs = oldestWaitMs
    }

    enum CodingKeys: String, CodingKey {
        case name, queued
        case oldestWaitMs = "oldest_wait_ms"
    }
}

/// One finished answer: its predicted p50 and p90 against the output tokens that came back.
public struct PredictionSample: Codable, Sendable, Equatable {
    public var predictedP50: Int
    public var predictedP90: Int
    public var outputTokens: Int

    public init(predictedP50: Int, predictedP90: Int, outputTokens: Int) {
        self.predictedP50 = predictedP50
        self.predictedP90 = predictedP90
        self.outputTokens = outputTokens
    }

    enum CodingKeys: String, CodingKey {
        case predictedP50 = "predicted_p50"
        case predictedP90 = "predicted_p90"
        case outputTokens = "output_tokens"
    }
}

/// How good the predictions have been on the last answers, and which predictor fallback levels produced them.
public struct PredictionQuality: Codable, Sendable, Equatable {
    /// The answers the scheduler judges its trust on, oldest first (those not cut by `max_tokens`).
    public var samples: [PredictionSample]
    /// Share of `samples` at or below their predicted p90.
    public var p90Coverage: Double?
    /// Kendall τ of predicted p50 against output over `samples` (nil until enough answers).
    public var rankCorrelation: Double?
    /// Share of the size weight ordering gives the predictions (0…1).
    public var trust: Double
    /// Predictions of the last submissions by `fallback_level`.
    public var fallbackLevels: [String: Int]

    public init(
        samples: [PredictionSample], p90Coverage: Double?, rankCorrelation: Double?, trust: Double,
        fallbackLevels: [String: Int]
    ) {
        self.samples = samples
        self.p90Coverage = p90Coverage
        self.rankCorrelation = rankCorrelation
        self.trust = trust
        self.fallbackLevels = fallbackLevels
    }

    enum CodingKeys: String, CodingKey {
        case samples, trust
        case p90Coverage = "p90_coverage"
        case rankCorrelation = "rank_correlation"
        case fallbackLevels = "fallback_levels"
    }
}

/// Latency (submit to finish) of the requests of one class that finished in one time bucket.
public struct LatencyPoint: Codable, Sendable, Equatable {
    public var startUnixMs: Double
    public var requestClass: RequestClass
    public var count: Int
    public var p50Ms: Double
    public var p95Ms: Double

    public init(startUnixMs: Double, requestClass: RequestClass, count: Int, p50Ms: Double, p95Ms: Double) {
        self.startUnixMs = startUnixMs
        self.requestClass = requestClass
        self.count = count
        self.p50Ms = p50Ms
        self.p95Ms = p95Ms
    }

    enum CodingKeys: String, CodingKey {
        case count
        case startUnixMs = "start_unix_ms"
        case requestClass = "request_class"
        case p50Ms = "p50_ms"
        case p95Ms = "p95_ms"
    }
}

/// `GET /ui/accounts`: the upstream accounts of every proxy the scheduler dispatches to, read from their `/_stats`.
public struct OperatorAccounts: Codable, Sendable, Equatable {
    public var generatedUnixMs: Double
    public var proxies: [ProxyAccounts]

    public init(generatedUnixMs: Double, proxies: [ProxyAccounts]) {
        self.generatedUnixMs = generatedUnixMs
        self.proxies = proxies
    }

    enum CodingKeys: String, CodingKey {
        case proxies
        case generatedUnixMs = "generated_unix_ms"
    }
}

/// One proxy's accounts, or why they could not be read.
public struct ProxyAccounts: Codable, Sendable, Equatable {
    public var url: String
    public var instance: String?
    public var queueDepth: Int?
    public var accounts: [OperatorAccount]
    public var error: String?

    public init(url: String, instance: String?, queueDepth: Int?, accounts: [OperatorAccount], error: String?) {
        self.url = url
        self.instance = instance
        self.queueDepth = queueDepth
        self.accounts = accounts
        self.error = error
    }

    enum CodingKeys: String, CodingKey {
        case url, instance, accounts, error
        case queueDepth = "queue_depth"
    }
}

/// The part of an account's `/_stats` the operator page shows: its AIMD window and load, never its address or key.
public struct OperatorAccount: Codable, Sendable, Equatable {
    public var name: String
    public var modelName: String
    public var window: Double
    public var maxConcurrency: Int
    public var inFlight: Int
    public var requests: Int
    public var successes: Int
    public var errors: Int
    public var rateLimited: Int
    public var cooldownRemainingMs: Double
    public var ewmaLatencyMs: Double?

    /// The shown part of `stats`.
    public init(_ stats: AccountStats) {
        name = stats.name
        modelName = stats.modelName
        window = stats.window
        maxConcurrency = stats.maxConcurrency
        inFlight = stats.inFlight
        requests = stats.requests
        successes = stats.successes
        errors = stats.errors
        rateLimited = stats.rateLimited
        cooldownRemainingMs = stats.cooldownRemainingMs
        ewmaLatencyMs = stats.ewmaLatencyMs
    }

    enum CodingKeys: String, CodingKey {
        case name, window, requests, successes, errors
        case modelName = "model_name"
        case maxConcurrency = "max_concurrency"
        case inFlight = "in_flight"
        case rateLimited = "rate_limited"
        case cooldownRemainingMs = "cooldown_remaining_ms"
        case ewmaLatencyMs = "ewma_latency_ms"
    }
}

extension OperatorState: OpenAPIComponent {
    public static let schemaDescription = "What the operator page shows, bounded in size however long the queue is."
    public static let schemaRefinements: [String: [SchemaRefinement]] = [
        "waiting_by_tenant": [.maxItems(20)],
        "decisions": [.maxItems(1000)],
    ]
}

extension WaitingGroup: OpenAPIComponent {
    public static let schemaDescription = "Requests waiting in one class or for one tenant."
}

extension PredictionSample: OpenAPIComponent {
    public static let schemaDescription = "One answer: predicted p50 and p90 against the output tokens that came back."
}

extension PredictionQuality: OpenAPIComponent {
    public static let schemaDescription = "How good the predictions have been on the last answers."
}

extension LatencyPoint: OpenAPIComponent {
    public static let schemaDescription = "Latency of one class's requests that finished in one 5-second bucket."
}

extension OperatorAccounts: OpenAPIComponent {
    public static let schemaDescription = "The accounts of every proxy the scheduler dispatches to."
    public static let schemaRefinements: [String: [SchemaRefinement]] = [
        "proxies": [.maxItems(16)]
    ]
}

extension ProxyAccounts: OpenAPIComponent {
    public static let schemaDescription = "One proxy's accounts, or why they could not be read."
}

extension OperatorAccount: OpenAPIComponent {
    public static let schemaDescription = "An upstream account's AIMD window and load (no address, no key)."
}
