import Contracts

/// What the engine tells its callers: budgets, counts, where a request is, its decisions and its state in numbers.
extension SchedulerEngine {
    /// In-flight budget of a class after mode and probing.
    public func budgetTokens(_ requestClass: RequestClass) -> Int {
        max(1, Int(Double(policy.baseBudget(requestClass)) * congestion.budgetScale))
    }

    public var totalBudgetTokens: Int { budgetTokens(.interactive) + budgetTokens(.heavy) }
    public var totalInflightTokens: Int { inflight.totalTokens }
    public var totalInflightRequests: Int { inflight.totalRequests }
    public var mode: CongestionModeName { congestion.mode }

    /// Requests waiting (queued, deferred or backing off after a 429).
    public var queuedCount: Int { live.waitingCount }

    /// Where a live request is; nil once it finished (the caller keeps history).
    public func state(of id: String) -> RequestState? {
        live.record(of: id)?.state
    }

    /// The reason attached to a live request (deferral, re-queue).
    public func reason(of id: String) -> DecisionReason? {
        live.record(of: id)?.reason
    }

    /// Recent decisions after sequence `since`.
    public func events(since: Int, limit: Int = 1000) -> EventsResponse {
        log.since(since, limit: limit)
    }

    /// The newest decisions first, at most `limit`, only those of `tenant` when given.
    public func latestEvents(limit: Int, tenant: String? = nil) -> [SchedulerEvent] {
        log.latest(limit: limit, tenant: tenant)
    }

    /// Requests waiting per class, and for the `tenantLimit` tenants with the most waiting, with the oldest wait of
    /// each; one pass over the live requests.
    public func waiting(now: Double, tenantLimit: Int) -> (
        byClass: [WaitingGroup], byTenant: [WaitingGroup], tenants: Int
    ) {
        live.waiting(now: now, tenantLimit: tenantLimit)
    }

    /// Expires and dispatches at `now`; the summary counts what this and the calls since the last `tick` did.
    public mutating func tick(now: Double) -> (dispatches: [Dispatch], expired: [Expiry], summary: TickResponse) {
        let expired = expire(now: now)
        let dispatches = nextDispatches(now: now)
        let summary = TickResponse(
            dispatched: dispatches.count,
            deferred: counters.deferredSinceTick,
            rejected: counters.rejectedSinceTick,
            expired: expired.count,
            mode: mode
        )
        counters.deferredSinceTick = 0
        counters.rejectedSinceTick = 0
        return (dispatches, expired, summary)
    }

    /// The engine's state in numbers (the service adds latency histograms).
    public func snapshot() -> SchedulerMetricsSnapshot {
        var byClass: [String: Int] = [:]
        var tokens: [String: Int] = [:]
        var budgets: [String: Int] = [:]
        for requestClass in RequestClass.allCases {
            byClass[requestClass.rawValue] = live.waitingCount(requestClass)
            tokens[requestClass.rawValue] = inflight.tokens[requestClass.index]
            budgets[requestClass.rawValue] = budgetTokens(requestClass)
        }
        var snapshot = SchedulerMetricsSnapshot(
            mode: mode,
            queueLengthByClass: byClass,
            queueLengthByTenant: live.waitingByTenant,
            inflightTokensByClass: tokens,
            inflightBudgetByClass: budgets,
            dispatchedTotal: counters.dispatched,
            completedTotal: counters.completed,
            rejectedByReason: counters.rejectedByReason,
            expiredTotal: counters.expired,
            failedTotal: counters.failed
        )
        snapshot.inflightRequests = totalInflightRequests
        snapshot.deferredTotal = counters.deferred
        snapshot.deferredByReason = counters.deferredByReason
        snapshot.requeuedTotal = counters.requeued
        snapshot.cancelledTotal = counters.cancelled
        snapshot.budgetScale = congestion.budgetScale
        snapshot.capacityScale = congestion.capacityScale
        snapshot.slowdownRatio = model.slowdownRatio
        snapshot.msPerOutputToken = model.msPerOutputToken
        snapshot.baselineMsPerOutputToken = model.baselineMsPerOutputToken
        snapshot.ttftMs = model.ttftMs
        snapshot.baselineTtftMs = model.baselineTtftMs
        let lastEvent = inflight.areaAt ?? 0
        let cap = inflightRequestCap(now: lastEvent)
        snapshot.inflightRequestCap = cap < policy.maxInflightRequests ? cap : nil
        snapshot.kneeEngaged = knee.engaged
        snapshot.queueDelayMs = queueDelayMs
        snapshot.bottleneckTokensPerS = knee.bottleneckTokensPerMs(now: lastEvent).map { $0 * 1000 }
        snapshot.rateLimitedShare = congestion.rateLimitedShare
        snapshot.allocationPolicy = policy.allocation.rawValue
        snapshot.orderingPolicy = policy.ordering.rawValue
        snapshot.predictionRankCorrelation = trust.correlation
        snapshot.predictionTrust = trust.trust
        return snapshot
    }
}
