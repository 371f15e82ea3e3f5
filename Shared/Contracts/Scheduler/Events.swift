import Foundation

/// Kind of a scheduling decision recorded in `/events`.
public enum SchedulerEventKind: String, Codable, Sendable, CaseIterable {
    case admit, `defer`, reject, dispatch, complete, fail, expire, requeue
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
    }
}
