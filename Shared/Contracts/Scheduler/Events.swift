import Foundation

/// Kind of a scheduling decision recorded in `/events`.
public enum SchedulerEventKind: String, Codable, Sendable, CaseIterable {
    case admit, `defer`, reject, dispatch, complete, fail, expire, cancel, requeue
    case modeChange = "mode_change"
    case configChange = "config_change"
}

/// One recorded decision, with its reason.
public struct SchedulerEvent: Codable, Sendable, Equatable {
    public var sequence: Int
    public var timeUnixMs: Double
    public var kind: SchedulerEventKind
    public var requestId: String?
    public var requestClass: RequestClass?
    public var tenantId: String?
    public var reason: DecisionReason?

    public init(
        sequence: Int,
        timeUnixMs: Double,
        kind: SchedulerEventKind,
        requestId: String? = nil,
        requestClass: RequestClass? = nil,
        tenantId: String? = nil,
        reason: DecisionReason? = nil
    ) {
        self.sequence = sequence
        self.timeUnixMs = timeUnixMs
        self.kind = kind
        self.requestId = requestId
        self.requestClass = requestClass
        self.tenantId = tenantId
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey {
        case sequence, kind, reason
        case timeUnixMs = "time_unix_ms"
        case requestId = "request_id"
        case requestClass = "request_class"
        case tenantId = "tenant_id"
    }
}

/// `GET /events?since=N` response; pass `next_since` back to read on.
public struct EventsResponse: Codable, Sendable, Equatable {
    public var events: [SchedulerEvent]
    public var nextSince: Int

    public init(events: [SchedulerEvent], nextSince: Int) {
        self.events = events
        self.nextSince = nextSince
    }

    enum CodingKeys: String, CodingKey {
        case events
        case nextSince = "next_since"
    }
}

/// Congestion mode the scheduler believes the provider is in.
public enum CongestionModeName: String, Codable, Sendable, CaseIterable {
    case free, moderate, congested
}

/// `POST /tick` response: what one scheduling round did.
public struct TickResponse: Codable, Sendable, Equatable {
    public var dispatched: Int
    public var deferred: Int
    public var rejected: Int
    public var expired: Int
    public var mode: CongestionModeName

    public init(dispatched: Int, deferred: Int, rejected: Int, expired: Int, mode: CongestionModeName) {
        self.dispatched = dispatched
        self.deferred = deferred
        self.rejected = rejected
        self.expired = expired
        self.mode = mode
    }
}

/// The scheduler's state in numbers, as served by `GET /metrics` beside the Prometheus families.
public struct SchedulerMetricsSnapshot: Codable, Sendable, Equatable {
    public var mode: CongestionModeName
    public var queueLengthByClass: [String: Int]
    public var queueLengthByTenant: [String: Int]
    public var inflightTokensByClass: [String: Int]
    public var inflightBudgetByClass: [String: Int]
    public var dispatchedTotal: Int
    public var completedTotal: Int
    public var rejectedByReason: [String: Int]
    public var expiredTotal: Int
    public var failedTotal: Int
    /// Requests in flight (all classes).
    public var inflightRequests: Int?
    /// Requests deferred by the cost ladder since start.
    public var deferredTotal: Int?
    /// Deferrals since start by reason code.
    public var deferredByReason: [String: Int]?
    /// Requests re-queued after an upstream 429 since start.
    public var requeuedTotal: Int?
    /// Requests withdrawn since start because their client left (or the scheduler shut down) before the answer.
    public var cancelledTotal: Int?
    /// Multiplier the congestion mode and knee probing apply to the base budgets.
    public var budgetScale: Double?
    /// The knee-probing part of `budget_scale`.
    public var capacityScale: Double?
    /// How much slower answers arrive than from the uncongested provider (whole answer, waiting for the first token
    /// included, or per token, whichever is larger).
    public var slowdownRatio: Double?
    public var msPerOutputToken: Double?
    public var baselineMsPerOutputToken: Double?
    public var ttftMs: Double?
    public var baselineTtftMs: Double?
    /// Requests the engine keeps in flight at most: the provider's estimated knee, or the knee times the knee gain
    /// while the cap probes above it (absent while no cap applies).
    public var inflightRequestCap: Int?
    /// Whether `inflight_request_cap` comes from the provider's measured knee (true) or is the start-up cap that
    /// holds while the provider has not yet been seen saturated or queueing (false).
    public var kneeEngaged: Bool?
    /// Smoothed time the last answers waited in the provider's own queue (first token later than the uncongested
    /// one), in ms.
    public var queueDelayMs: Double?
    /// Output tokens per second the provider delivered to this client while saturated (the knee estimate's base).
    public var bottleneckTokensPerS: Double?
    /// Share of recent upstream answers that were 429.
    public var rateLimitedShare: Double?
    public var allocationPolicy: String?
    public var orderingPolicy: String?
    /// Kendall τ of the predicted p50 against the output of the last answers, and the share of the size weight
    /// ordering gives the predictions because of it (0…1).
    public var predictionRankCorrelation: Double?
    public var predictionTrust: Double?
    /// Latency histograms (ms) by name, e.g. `queue_interactive`, `total_heavy`.
    public var latencyHistogramsMs: [String: LatencyHistogram]?

    public init(
        mode: CongestionModeName,
        queueLengthByClass: [String: Int],
        queueLengthByTenant: [String: Int],
        inflightTokensByClass: [String: Int],
        inflightBudgetByClass: [String: Int],
        dispatchedTotal: Int,
        completedTotal: Int,
        rejectedByReason: [String: Int],
        expiredTotal: Int,
        failedTotal: Int
    ) {
        self.mode = mode
        self.queueLengthByClass = queueLengthByClass
        self.queueLengthByTenant = queueLengthByTenant
        self.inflightTokensByClass = inflightTokensByClass
        self.inflightBudgetByClass = inflightBudgetByClass
        self.dispatchedTotal = dispatchedTotal
        self.completedTotal = completedTotal
        self.rejectedByReason = rejectedByReason
        self.expiredTotal = expiredTotal
        self.failedTotal = failedTotal
    }

    enum CodingKeys: String, CodingKey {
        case mode
        case queueLengthByClass = "queue_length_by_class"
        case queueLengthByTenant = "queue_length_by_tenant"
        case inflightTokensByClass = "inflight_tokens_by_class"
        case inflightBudgetByClass = "inflight_budget_by_class"
        case dispatchedTotal = "dispatched_total"
        case completedTotal = "completed_total"
        case rejectedByReason = "rejected_by_reason"
        case expiredTotal = "expired_total"
        case failedTotal = "failed_total"
        case inflightRequests = "inflight_requests"
        case deferredTotal = "deferred_total"
        case deferredByReason = "deferred_by_reason"
        case requeuedTotal = "requeued_total"
        case cancelledTotal = "cancelled_total"
        case budgetScale = "budget_scale"
        case capacityScale = "capacity_scale"
        case slowdownRatio = "slowdown_ratio"
        case msPerOutputToken = "ms_per_output_token"
        case baselineMsPerOutputToken = "baseline_ms_per_output_token"
        case ttftMs = "ttft_ms"
        case baselineTtftMs = "baseline_ttft_ms"
        case inflightRequestCap = "inflight_request_cap"
        case kneeEngaged = "knee_engaged"
        case queueDelayMs = "queue_delay_ms"
        case bottleneckTokensPerS = "bottleneck_tokens_per_s"
        case rateLimitedShare = "rate_limited_share"
        case allocationPolicy = "allocation_policy"
        case orderingPolicy = "ordering_policy"
        case predictionRankCorrelation = "prediction_rank_correlation"
        case predictionTrust = "prediction_trust"
        case latencyHistogramsMs = "latency_histograms_ms"
    }
}

/// A cumulative latency histogram: counts of observations at or below each upper bound (ms), plus sum and count.
public struct LatencyHistogram: Codable, Sendable, Equatable {
    public var upperBoundsMs: [Double]
    public var cumulativeCounts: [Int]
    public var count: Int
    public var sumMs: Double

    public init(upperBoundsMs: [Double], cumulativeCounts: [Int], count: Int, sumMs: Double) {
        self.upperBoundsMs = upperBoundsMs
        self.cumulativeCounts = cumulativeCounts
        self.count = count
        self.sumMs = sumMs
    }

    enum CodingKeys: String, CodingKey {
        case count
        case upperBoundsMs = "upper_bounds_ms"
        case cumulativeCounts = "cumulative_counts"
        case sumMs = "sum_ms"
    }
}

extension SchedulerEventKind: OpenAPIEnumeration {
    public static let schemaDescription = "Kind of a scheduling decision."
}

extension SchedulerEvent: OpenAPIComponent {
    public static let schemaDescription = "One recorded decision."
}

extension EventsResponse: OpenAPIComponent {
    public static let schemaDescription = "Recent decisions after `since`."
}

extension CongestionModeName: OpenAPIEnumeration {
    public static let schemaDescription = "Congestion mode."
}

extension TickResponse: OpenAPIComponent {
    public static let schemaDescription = "What one scheduling tick did."
}
