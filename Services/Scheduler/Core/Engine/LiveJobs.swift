import Contracts

/// The engine's live requests: the table by slot (`JobTable`) and where the waiting ones wait — each class's queue
/// (`ClassQueue`), the deferred heaps, the rate-limit back-off and the expiry timers — with the counts the engine
/// reports. Classes are kept by `RequestClass.index`.
struct LiveJobs: Sendable {
    private var table = JobTable()
    private var queues: [ClassQueue]
    private var deferred: [RankHeap] = [RankHeap(), RankHeap()]
    private var backoff = RankHeap()
    private var expiries = RankHeap()
    /// Requests deferred and requests backing off after a 429, per class (their heaps may hold stale entries).
    private var deferredCount = [0, 0]
    private var backingOffCount = [0, 0]
    /// Waiting requests per tenant.
    private(set) var waitingByTenant: [String: Int] = [:]

    /// Empty queues whose tenants share each class under `fairness`.
    init(fairness: any TenantFairnessPolicy) {
        queues = [ClassQueue(fairness: fairness), ClassQueue(fairness: fairness)]
    }

    // MARK: - Records

    /// The request in `slot`, nil when the slot is empty.
    subscript(slot: Int) -> JobRecord? {
        get { table[slot] }
        set { table[slot] = newValue }
    }

    func slot(of id: String) -> Int? { table.slot(of: id) }

    func record(of id: String) -> JobRecord? { table.record(of: id) }

    /// Requests waiting (queued, deferred or backing off after a 429).
    var waitingCount: Int {
        queues[0].count + queues[1].count + deferredCount.reduce(0, +) + backingOffCount.reduce(0, +)
    }

    /// Requests of a class waiting, in whichever way.
    func waitingCount(_ requestClass: RequestClass) -> Int {
        let index = requestClass.index
        return queues[index].count + deferredCount[index] + backingOffCount[index]
    }

    /// Requests of a class ready to dispatch (in its queue).
    func queuedCount(_ requestClass: RequestClass) -> Int {
        queues[requestClass.index].count
    }

    // MARK: - Arrival and departure

    /// Stores a newly admitted request and starts its expiry timer; the caller then queues or defers it.
    mutating func insert(_ record: JobRecord, graceFactor: Double) -> Int {
        let slot = table.insert(record)
        expiries.push(
            RankEntry(
                key: record.expiresAtMs(graceFactor: graceFactor), sequence: record.sequence, slot: slot,
                generation: 0))
        waitingByTenant[record.job.tenantId, default: 0] += 1
        return slot
    }

    /// Puts the request in `slot` into its class's queue.
    mutating func enqueue(_ slot: Int, ranking: JobRanking) {
        let record = table[slot]!
        let entry = RankEntry(
            key: ranking.key(record), sequence: record.sequence, slot: slot, generation: record.generation)
        queues[record.requestClass.index].push(
            entry, tenant: record.job.tenantId, urgentFromMs: ranking.urgentFromMs(record),
            urgentRank: ranking.urgentRank(record))
    }

    /// Ranks every waiting request again (queued and deferred) with `ranking`, at this uncongested speed, after what
    /// ranks are computed from changed; `ClassQueue.rerank`.
    mutating func rerank(_ ranking: JobRanking, rankMsPerOutputToken: Double, rankTtftMs: Double) {
        let waiting = queues.flatMap { $0.allEntries() } + deferred.flatMap(\.entries)
        for entry in waiting where table.isLive(entry) {
            table[entry.slot]!.item.rankMsPerOutputToken = rankMsPerOutputToken
            table[entry.slot]!.item.rankTtftMs = rankTtftMs
        }
        let table = self.table
        for index in queues.indices {
            queues[index].rerank(isLive: { table.isLive($0) }) { slot in
                let record = table[slot]!
                return (ranking.key(record), ranking.urgentFromMs(record), ranking.urgentRank(record))
            }
            let parked = deferred[index].entries.filter { table.isLive($0) }
            deferred[index] = RankHeap()
            for var entry in parked {
                entry.key = ranking.key(table[entry.slot]!)
                deferred[index].push(entry)
            }
        }
    }

    /// Parks the request in `slot` with its class's deferred work, until the overload policy admits it or the
    /// provider is idle.
    mutating func park(_ slot: Int, ranking: JobRanking) {
        let record = table[slot]!
        deferred[record.requestClass.index].push(
            RankEntry(key: ranking.key(record), sequence: record.sequence, slot: slot, generation: record.generation))
        deferredCount[record.requestClass.index] += 1
    }

    /// Takes a waiting request out of whichever queue holds it (heap entries are dropped lazily).
    mutating func removeWaiting(_ slot: Int) {
        guard var record = table[slot] else { return }
        let index = record.requestClass.index
        if record.backingOff {
            backingOffCount[index] -= 1
        } else if record.state == .deferred {
            deferredCount[index] -= 1
        } else {
            queues[index].forget(tenant: record.job.tenantId)
        }
        record.generation += 1
        table[slot] = record
    }

    /// Empties the slot of a request that ended.
    mutating func finish(_ slot: Int) {
        guard let record = table[slot] else { return }
        if record.state.isWaiting { decrementTenant(record.job.tenantId) }
        table.remove(slot)
    }

    private mutating func decrementTenant(_ tenant: String) {
        let remaining = waitingByTenant[tenant, default: 1] - 1
        waitingByTenant[tenant] = remaining > 0 ? remaining : nil
    }

    // MARK: - Dispatch

    /// The tenant and request a class serves next at `now`: its fairness policy picks the tenant, the ranking the
    /// request.
    mutating func head(_ requestClass: RequestClass, now: Double, ranking: JobRanking) -> (
        tenant: String, entry: RankEntry
    )? {
        let table = self.table
        return queues[requestClass.index].selectHead(
            now: now,
            ordering: ranking.ordering(requestClass),
            isLive: { table.isLive($0) },
            isFeasible: { entry, now in
                now + table[entry.slot]!.item.predictedDurationMs <= table[entry.slot]!.deadlineAtMs
            },
            infeasibleKey: { entry in ranking.infeasibleKey(table[entry.slot]!) },
            cost: { entry in Double(table[entry.slot]!.reservedTokens) }
        )
    }

    /// Takes the request `head` returned out of its class's queue, charging its tenant `cost`.
    mutating func serve(_ head: (tenant: String, entry: RankEntry), of requestClass: RequestClass, cost: Double) {
        queues[requestClass.index].serve(head.entry, tenant: head.tenant, cost: cost)
    }

    /// The slot of a class's best deferred request, dropping stale entries; nil when none waits.
    mutating func topDeferred(_ requestClass: RequestClass) -> Int? {
        let index = requestClass.index
        while let top = deferred[index].top {
            guard table.isLive(top), table[top.slot]!.state == .deferred else {
                deferred[index].pop()
                continue
            }
            return top.slot
        }
        return nil
    }

    /// Takes the request `topDeferred` returned out of the deferred heap.
    mutating func removeTopDeferred(_ requestClass: RequestClass) {
        deferred[requestClass.index].pop()
        deferredCount[requestClass.index] -= 1
    }

    /// Marks the request in `slot` sent upstream at `now`; `inflightArea` and `inflightAfter` are the ledger's area and
    /// request count with it.
    mutating func markDispatched(_ slot: Int, now: Double, inflightArea: Double, inflightAfter: Int) -> JobRecord {
        var record = table[slot]!
        record.state = .dispatched
        record.dispatchedAtMs = now
        record.inflightAreaAtDispatch = inflightArea
        record.inflightAtDispatch = inflightAfter
        record.attempts += 1
        record.firstTokenSeen = false
        record.grewStartupCap = false
        record.streamMark = nil
        record.generation += 1
        table[slot] = record
        decrementTenant(record.job.tenantId)
        return record
    }

    // MARK: - Re-queueing and timers

    /// Puts a dispatched request back to wait out a rate-limit back-off until `untilMs`, then rejoin its queue.
    mutating func backOff(_ slot: Int, untilMs: Double, reason: DecisionReason, graceFactor: Double) {
        var record = table[slot]!
        record.state = .queued
        record.backingOff = true
        record.reason = reason
        record.generation += 1
        table[slot] = record
        backoff.push(RankEntry(key: untilMs, sequence: record.sequence, slot: slot, generation: record.generation))
        backingOffCount[record.requestClass.index] += 1
        expiries.push(
            RankEntry(
                key: record.expiresAtMs(graceFactor: graceFactor), sequence: record.sequence, slot: slot,
                generation: 0))
        waitingByTenant[record.job.tenantId, default: 0] += 1
    }

    /// Queues again the requests whose back-off ended by `now`.
    mutating func releaseBackoff(now: Double, ranking: JobRanking) {
        while let top = backoff.top, top.key <= now {
            backoff.pop()
            guard table.isLive(top), table[top.slot]!.backingOff else { continue }
            table[top.slot]!.backingOff = false
            backingOffCount[table[top.slot]!.requestClass.index] -= 1
            enqueue(top.slot, ranking: ranking)
        }
    }

    /// Takes every live deferred request of a class out of its heap, best rank first, for the caller to queue or
    /// defer again.
    mutating func takeDeferred(_ requestClass: RequestClass) -> [Int] {
        let index = requestClass.index
        let entries = deferred[index].entries.filter { table.isLive($0) && table[$0.slot]!.state == .deferred }
        deferred[index] = RankHeap()
        deferredCount[index] = 0
        return entries.sorted(by: { $0.precedes($1) }).map(\.slot)
    }

    /// Empties every class queue (new fairness policy) and returns the slots of the requests they held, in admission
    /// order, for the caller to re-rank and queue again.
    mutating func takeQueued(fairness: any TenantFairnessPolicy) -> [Int] {
        let table = self.table
        let waiting = queues.flatMap { $0.allEntries() }.filter { table.isLive($0) }.map(\.slot)
        queues = [ClassQueue(fairness: fairness), ClassQueue(fairness: fairness)]
        return Set(waiting).sorted(by: { table[$0]!.sequence < table[$1]!.sequence })
    }

    /// The slot of the next request still waiting past its expiry time at `now`, nil when none.
    mutating func nextExpired(now: Double) -> Int? {
        while let top = expiries.top, top.key <= now {
            expiries.pop()
            guard let record = table[top.slot], record.sequence == top.sequence, record.state.isWaiting else {
                continue
            }
            return top.slot
        }
        return nil
    }

    // MARK: - Reading

    /// Requests waiting per class, and for the `tenantLimit` tenants with the most waiting, with the oldest wait of
    /// each; one pass over the live requests.
    func waiting(now: Double, tenantLimit: Int) -> (byClass: [WaitingGroup], byTenant: [WaitingGroup], tenants: Int) {
        var classes = RequestClass.allCases.map { WaitingGroup(name: $0.rawValue, queued: 0, oldestWaitMs: 0) }
        var tenants: [String: WaitingGroup] = [:]
        for record in table.all where record.state.isWaiting {
            let wait = max(0, now - record.job.submittedAtMs)
            let index = record.requestClass.index
            classes[index].queued += 1
            classes[index].oldestWaitMs = max(classes[index].oldestWaitMs, wait)
            let tenant = record.job.tenantId
            var group = tenants[tenant] ?? WaitingGroup(name: tenant, queued: 0, oldestWaitMs: 0)
            group.queued += 1
            group.oldestWaitMs = max(group.oldestWaitMs, wait)
            tenants[tenant] = group
        }
        let busiest = tenants.values.sorted { ($0.queued, $1.name) > ($1.queued, $0.name) }
        return (classes, Array(busiest.prefix(tenantLimit)), tenants.count)
    }
}

extension RequestClass {
    var index: Int { self == .interactive ? 0 : 1 }
}

extension RequestState {
    /// Waiting in the scheduler (queued, deferred or backing off), not yet with the upstream.
    var isWaiting: Bool { self == .queued || self == .deferred }
}
