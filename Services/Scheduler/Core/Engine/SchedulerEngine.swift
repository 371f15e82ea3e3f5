import Contracts

/// The scheduling core: overload control at the door (`CostLadder`, queue bound), then per round allocation between
/// classes (`AllocationPolicy`), fairness between tenants (DRR in `ClassQueue`) and ordering inside a tenant
/// (`OrderingPolicy`), all under in-flight token budgets that the `CongestionController` scales.
///
/// Deterministic and free of I/O: time comes in as `now` (milliseconds on the caller's clock), so the live service,
/// the virtual-time simulator and the tests run the same code. Typical loop:
/// `submit` on arrival → `nextDispatches` whenever time passes or capacity frees → `complete` when the upstream
/// answers → `expire` now and then.
public struct SchedulerEngine: Sendable {
    public private(set) var policy: SchedulerPolicy
    public private(set) var model: ServiceTimeModel
    public private(set) var congestion: CongestionController
    public private(set) var knee: KneeEstimator
    public private(set) var trust: PredictionTrust
    private var ladder: CostLadder
    private var allocator: any AllocationPolicy
    /// Ordering per class, by `RequestClass.index` (the size weight may differ between classes).
    private var orderings: [any OrderingPolicy]

    private var slots = JobTable()
    private var queues: [ClassQueue] = [ClassQueue(), ClassQueue()]
    private var deferred: [RankHeap] = [RankHeap(), RankHeap()]
    private var backoff = RankHeap()
    private var expiries = RankHeap()
    private var inflightTokens = [0, 0]
    private var inflightRequests = [0, 0]
    private var sequence = 0
    private var log: EventLog
    private var counters = Counters()
    /// Whether the last dispatch round left work waiting because the budgets were full: the signal that probing
    /// for more capacity could help.
    private var budgetBound = false
    /// ∫ requests in flight dt (requests × ms) since the start, and when it was last brought up to date.
    private var inflightArea = 0.0
    private var inflightAreaAt: Double?
    /// Smoothed wait of recent answers in the provider's own queue (ms).
    private var queueDelayMs = 0.0
    /// The last congestion mode change, kept apart from the event ring, which forgets it under load.
    public private(set) var lastModeChange: SchedulerEvent?

    struct Counters: Sendable {
        var dispatched = 0
        var completed = 0
        var failed = 0
        var expired = 0
        var cancelled = 0
        var deferred = 0
        var requeued = 0
        var rejectedByReason: [String: Int] = [:]
        var deferredByReason: [String: Int] = [:]
        var deferredSinceTick = 0
        var rejectedSinceTick = 0
        var waitingDeferred = [0, 0]
        var backingOff = [0, 0]
        var queuedByTenant: [String: Int] = [:]
    }

    /// A new engine; `eventCapacity` bounds the in-memory `/events` ring (0 records nothing, for simulations).
    public init(policy: SchedulerPolicy = SchedulerPolicy(), eventCapacity: Int = 10_000) {
        self.policy = policy
        self.model = ServiceTimeModel(policy: policy)
        self.congestion = CongestionController(policy: policy)
        self.knee = KneeEstimator(policy: policy)
        self.trust = PredictionTrust(policy: policy)
        self.ladder = CostLadder(rungs: policy.ladder)
        self.allocator = makeAllocationPolicy(policy)
        self.orderings = Self.orderings(policy, trust: trust.trust)
        self.log = EventLog(capacity: eventCapacity)
    }

    // MARK: - Arrival

    /// Classifies a request, applies overload control and queues it. Returns queued, deferred or rejected.
    public mutating func submit(_ job: Job, now: Double) -> Decision {
        admit(job, now: now, restoring: false)
    }

    /// Puts back a request that was accepted before a restart: no ladder, no queue bound, same deadline.
    public mutating func restore(_ job: Job, now: Double) -> Decision {
        admit(job, now: now, restoring: true)
    }

    /// The class a request belongs to: by predicted size when the client gives none; the client's otherwise, except
    /// that heavy-labelled work confidently predicted short joins the interactive class (`promoteHeavyMaxP90Tokens`).
    public func classify(_ job: Job) -> RequestClass {
        guard let requested = job.requestedClass else {
            if let shortProbability = job.predictedShortProbability {
                return shortProbability >= policy.interactiveMinShortProbability ? .interactive : .heavy
            }
            return job.boundedP50 <= policy.interactiveMaxPredictedTokens ? .interactive : .heavy
        }
        if requested == .heavy, policy.promoteHeavyMaxP90Tokens > 0, job.boundedP90 <= policy.promoteHeavyMaxP90Tokens {
            return .interactive
        }
        return requested
    }

    private mutating func admit(_ job: Job, now: Double, restoring: Bool) -> Decision {
        let requestClass = classify(job)
        // The default budget follows what the client asked for: promotion changes the queue, not the deadline.
        let deadline =
            job.deadlineAtMs ?? job.submittedAtMs + policy.deadlineBudgetMs(job.requestedClass ?? requestClass)
        if let existing = slots.slot(of: job.id), let record = slots[existing] {
            return Decision(
                requestId: job.id, state: record.state, requestClass: record.requestClass,
                deadlineAtMs: record.deadlineAtMs)
        }
        sequence += 1
        var record = JobRecord(
            job: job,
            requestClass: requestClass,
            deadlineAtMs: deadline,
            reservedTokens: job.boundedP50,
            item: orderingItem(job, deadline: deadline),
            state: .queued,
            sequence: sequence
        )
        if !restoring, let rejection = rejection(for: record, now: now) {
            counters.rejectedByReason[rejection.reason.code, default: 0] += 1
            counters.rejectedSinceTick += 1
            log.append(.reject, now: now, record: record, reason: rejection.reason)
            return Decision(
                requestId: job.id,
                state: .rejected,
                requestClass: requestClass,
                deadlineAtMs: deadline,
                reason: rejection.reason,
                retryAfterMs: rejection.retryAfterMs
            )
        }
        let (action, reason) = restoring ? (.admit, nil) : ladder.decide(cost: job.predictedCost, mode: congestion.mode)
        record.state = action == .defer ? .deferred : .queued
        record.reason = reason
        let slot = store(record)
        expiries.push(
            RankEntry(
                key: record.expiresAtMs(graceFactor: policy.expiryGraceFactor), sequence: record.sequence, slot: slot,
                generation: 0))
        counters.queuedByTenant[job.tenantId, default: 0] += 1
        if action == .defer {
            counters.deferred += 1
            counters.deferredByReason[reason?.code ?? "deferred", default: 0] += 1
            counters.deferredSinceTick += 1
            parkDeferred(slot)
            log.append(.defer, now: now, record: record, reason: reason)
        } else {
            enqueue(slot)
            log.append(.admit, now: now, record: record)
        }
        return Decision(
            requestId: job.id, state: record.state, requestClass: requestClass, deadlineAtMs: deadline, reason: reason)
    }

    private func rejection(for record: JobRecord, now: Double) -> (reason: DecisionReason, retryAfterMs: Double)? {
        if queuedCount >= policy.maxQueueLength {
            let reason = ReasonCode.queueFull.reason(
                "The queue holds \(queuedCount) requests, its limit (max_queue_length).")
            return (reason, policy.rejectRetryAfterMs)
        }
        if policy.shedInfeasibleAtSubmit, now + record.item.predictedDurationMs > record.deadlineAtMs {
            let reason = ReasonCode.deadlineInfeasible.reason(
                "Predicted duration \(Int(record.item.predictedDurationMs)) ms cannot fit before the deadline in \(Int(record.deadlineAtMs - now)) ms."
            )
            return (reason, policy.rejectRetryAfterMs)
        }
        let (action, reason) = ladder.decide(cost: record.job.predictedCost, mode: congestion.mode)
        if action == .reject, let reason { return (reason, policy.rejectRetryAfterMs) }
        return nil
    }

    // MARK: - Dispatch

    /// Releases what the budgets allow at `now`, in allocation, tenant-fairness and ordering order.
    public mutating func nextDispatches(now: Double, limit: Int = .max) -> [Dispatch] {
        releaseBackoff(now: now)
        updateMode(now: now)
        var dispatches: [Dispatch] = []
        budgetBound = false
        let (requestCap, heavyCap) = requestCaps(now: now)
        // The margin above the knee is interactive work's: heavy work stops at the knee (`heavyCap`), and interactive
        // work may use the margin even while heavy work sent before the cap engaged still holds more than its share
        // (a transient).
        // FIFO, the class-blind baseline, only has the total cap.
        let classAware = policy.allocation != .fifo
        let interactiveMargin = max(1, requestCap - heavyCap)
        while dispatches.count < limit {
            let total = totalInflightRequests
            let interactiveRoom =
                total < requestCap
                || (classAware && requestCap < policy.maxInflightRequests
                    && inflightRequests[RequestClass.interactive.index] < interactiveMargin)
            var heavyRoom = total < requestCap && (!classAware || inflightRequests[RequestClass.heavy.index] < heavyCap)
            guard interactiveRoom || heavyRoom else { break }
            let interactiveHead = interactiveRoom ? head(.interactive, now: now) : nil
            var heavyHead = heavyRoom ? head(.heavy, now: now) : nil
            var interactiveLoad = load(.interactive, head: interactiveHead, now: now)
            var heavyLoad = load(.heavy, head: heavyHead, now: now)
            // Under the knee cap a slot is the scarce thing: while interactive work waits for one, heavy work takes
            // none unless its next request is running out of slack (then the allocator weighs both, with aging).
            if classAware, requestCap < policy.maxInflightRequests, interactiveHead != nil,
                heavyLoad.headPressure < policy.heavyUrgentPressure
            {
                heavyRoom = false
                heavyHead = nil
            }
            if !interactiveRoom { interactiveLoad.queued = 0 }
            if !heavyRoom { heavyLoad.queued = 0 }
            let view = AllocationView(interactive: interactiveLoad, heavy: heavyLoad, now: now)
            guard let chosen = allocator.select(view), let picked = chosen == .interactive ? interactiveHead : heavyHead
            else {
                budgetBound = view.interactive.queued + view.heavy.queued > 0
                break
            }
            let entry = picked.entry
            let cost = Double(slots[entry.slot]!.reservedTokens)
            queues[chosen.index].serve(entry, tenant: picked.tenant, cost: cost)
            allocator.charge(chosen, tokens: Int(cost))
            dispatches.append(dispatch(slot: entry.slot, now: now))
        }
        dispatchDeferredWhenIdle(now: now, limit: limit, requestCap: requestCap, into: &dispatches)
        return dispatches
    }

    /// Deferred work is not dropped: when nothing else waits and there is room, it goes (work conservation).
    private mutating func dispatchDeferredWhenIdle(
        now: Double, limit: Int, requestCap: Int, into dispatches: inout [Dispatch]
    ) {
        guard queues[0].count == 0, queues[1].count == 0 else { return }
        for requestClass in RequestClass.allCases {
            while dispatches.count < limit, totalInflightRequests < requestCap,
                let top = deferred[requestClass.index].top
            {
                guard isLive(top), slots[top.slot]!.state == .deferred else {
                    deferred[requestClass.index].pop()
                    continue
                }
                let cost = slots[top.slot]!.reservedTokens
                guard totalInflightRequests == 0 || totalInflightTokens + cost <= totalBudgetTokens else { return }
                deferred[requestClass.index].pop()
                counters.waitingDeferred[requestClass.index] -= 1
                dispatches.append(dispatch(slot: top.slot, now: now))
            }
        }
    }

    private mutating func dispatch(slot: Int, now: Double) -> Dispatch {
        advanceInflightArea(now: now)
        var record = slots[slot]!
        record.state = .dispatched
        record.dispatchedAtMs = now
        record.inflightAreaAtDispatch = inflightArea
        record.inflightAtDispatch = totalInflightRequests + 1
        record.attempts += 1
        record.firstTokenSeen = false
        record.grewStartupCap = false
        record.generation += 1
        slots[slot] = record
        let index = record.requestClass.index
        inflightTokens[index] += record.reservedTokens
        inflightRequests[index] += 1
        counters.dispatched += 1
        decrementTenant(record.job.tenantId)
        log.append(.dispatch, now: now, record: record)
        return Dispatch(
            requestId: record.job.id,
            tenantId: record.job.tenantId,
            requestClass: record.requestClass,
            deadlineAtMs: record.deadlineAtMs,
            predictedOutputTokens: record.job.boundedP50,
            predictedOutputTokensP90: record.job.boundedP90,
            reservedTokens: record.reservedTokens,
            attempt: record.attempts
        )
    }

    // MARK: - Completion

    /// Records how a dispatched request ended: releases its budget, teaches the service-time model and the congestion
    /// controller, and re-queues a rate-limited request while attempts and its deadline allow.
    @discardableResult
    /// The first token of a dispatched request arrived (streamed answers only; a whole answer says nothing about when
    /// its first token came). Before the provider's capacity is known this grows the start-up cap, as TCP's slow
    /// start grows its window on each acknowledgement, when the request was sent into a full cap and its first token
    /// came without waiting in a queue: a provider with room answers within a round trip, so the cap reaches its
    /// capacity in a few first tokens, while one whose slots are busy answers only after a whole service time.
    public mutating func firstToken(_ id: String, now: Double) {
        guard let slot = slots.slot(of: id), var record = slots[slot], record.state == .dispatched,
            !record.firstTokenSeen, let dispatchedAt = record.dispatchedAtMs
        else { return }
        record.firstTokenSeen = true
        record.grewStartupCap = knee.observeFirstToken(
            inflightAtDispatch: record.inflightAtDispatch, ttftMs: max(0, now - dispatchedAt),
            toleranceMs: max(50, 0.25 * model.baselineTtftMs))
        slots[slot] = record
    }

    public mutating func complete(_ id: String, outcome: Outcome, now: Double) -> CompletionEffect {
        guard let slot = slots.slot(of: id), var record = slots[slot], record.state == .dispatched else {
            return .unknown
        }
        advanceInflightArea(now: now)
        let index = record.requestClass.index
        let utilization = budgetBound ? 1 : Double(totalInflightTokens) / Double(max(totalBudgetTokens, 1))
        inflightTokens[index] -= record.reservedTokens
        inflightRequests[index] -= 1
        let effect: CompletionEffect
        switch outcome.status {
        case .succeeded:
            // What the prediction is worth, judged on answers that were not cut by max_tokens.
            if let tokens = outcome.outputTokens, tokens < record.job.maxTokens {
                let before = trust.trust
                trust.observe(
                    predictedTokens: record.job.boundedP50, predictedP90Tokens: record.job.boundedP90,
                    outputTokens: tokens)
                if trust.trust != before { orderings = Self.orderings(policy, trust: trust.trust) }
            }
            if let tokens = outcome.outputTokens, let latency = outcome.latencyMs {
                // Measured against the baselines before this answer teaches them.
                let queueing = KneeEstimator.Queueing(
                    inflightAtDispatch: record.inflightAtDispatch,
                    delayMs: outcome.ttftMs.map { model.queueDelayMs(ttftMs: min($0, latency)) } ?? 0,
                    meanServiceMs: model.meanServiceMs, toleranceMs: max(50, 0.25 * model.baselineTtftMs))
                if outcome.ttftMs != nil { queueDelayMs += policy.estimateAlpha * (queueing.delayMs - queueDelayMs) }
                let queued = queueing.isQueued(fraction: policy.kneeQueueFraction)
                model.observe(outputTokens: tokens, latencyMs: latency, ttftMs: outcome.ttftMs, queued: queued)
                observeKnee(
                    record, outputTokens: tokens, latencyMs: latency, ttftMs: outcome.ttftMs, queueing: queueing,
                    now: now)
                congestion.kneeEngaged = knee.engaged
            }
            congestion.recordCompletion(
                rateLimited: false, slowdownRatio: model.slowdownRatio, budgetUtilization: utilization)
            counters.completed += 1
            log.append(.complete, now: now, record: record)
            finish(slot)
            effect = .completed
        case .rateLimited, .retryable:
            let rateLimited = outcome.status == .rateLimited
            if rateLimited {
                congestion.recordCompletion(
                    rateLimited: true, slowdownRatio: model.slowdownRatio, budgetUtilization: utilization)
            }
            // A late request is still worth sending (it would be dispatched late anyway): retry until it expires.
            if record.attempts < policy.maxAttempts, now < record.expiresAtMs(graceFactor: policy.expiryGraceFactor) {
                let doubling = Double(1 << min(record.attempts - 1, 3))
                let wait = outcome.retryAfterMs ?? policy.rateLimitRetryMs * doubling
                let what = rateLimited ? "answered 429" : "could not be reached"
                let reason =
                    outcome.reason.map {
                        ReasonCode.rateLimitedRequeue.reason("\($0.message) Retrying in \(Int(wait)) ms.")
                    }
                    ?? ReasonCode.rateLimitedRequeue.reason(
                        "The upstream \(what) on attempt \(record.attempts); retrying in \(Int(wait)) ms.")
                record.state = .queued
                record.backingOff = true
                record.reason = reason
                record.generation += 1
                slots[slot] = record
                backoff.push(
                    RankEntry(key: now + wait, sequence: record.sequence, slot: slot, generation: record.generation))
                counters.backingOff[index] += 1
                expiries.push(
                    RankEntry(
                        key: record.expiresAtMs(graceFactor: policy.expiryGraceFactor), sequence: record.sequence,
                        slot: slot, generation: 0))
                counters.requeued += 1
                counters.queuedByTenant[record.job.tenantId, default: 0] += 1
                log.append(.requeue, now: now, record: record, reason: reason)
                effect = .requeued
            } else {
                let reason = ReasonCode.rateLimitedExhausted.reason(
                    "The upstream " + (rateLimited ? "answered 429" : "was unreachable")
                        + " on all \(record.attempts) attempts or the deadline passed.")
                fail(slot, reason: reason, now: now)
                effect = .failed
            }
        case .failed:
            fail(
                slot, reason: outcome.reason ?? ReasonCode.upstreamFailed.reason("The upstream request failed."),
                now: now)
            effect = .failed
        }
        updateMode(now: now)
        return effect
    }

    private mutating func fail(_ slot: Int, reason: DecisionReason, now: Double) {
        counters.failed += 1
        log.append(.fail, now: now, record: slots[slot], reason: reason)
        finish(slot)
    }

    // MARK: - Expiry and cancellation

    /// Gives up on requests still waiting `expiry_grace_factor` deadline budgets past their deadline.
    public mutating func expire(now: Double) -> [Expiry] {
        var expired: [Expiry] = []
        while let top = expiries.top, top.key <= now {
            expiries.pop()
            guard let record = slots[top.slot], record.sequence == top.sequence, record.state.isWaiting else {
                continue
            }
            let reason = ReasonCode.deadlineExpired.reason(
                "Still waiting \(Int(now - record.deadlineAtMs)) ms after its deadline; given up.")
            removeWaiting(top.slot)
            counters.expired += 1
            log.append(.expire, now: now, record: record, reason: reason)
            finish(top.slot)
            expired.append(Expiry(requestId: record.job.id, reason: reason))
        }
        return expired
    }

    /// Gives up on one waiting request now (a front-door request whose deadline passed). False when it is not waiting.
    @discardableResult
    public mutating func expire(_ id: String, reason: DecisionReason, now: Double) -> Bool {
        guard let slot = slots.slot(of: id), let record = slots[slot], record.state.isWaiting else { return false }
        removeWaiting(slot)
        counters.expired += 1
        log.append(.expire, now: now, record: record, reason: reason)
        finish(slot)
        return true
    }

    /// Withdraws a request whose client left: taken out of the queue if waiting, its capacity freed if dispatched (the
    /// caller stops the upstream call; nothing is learned from it). False when the engine no longer holds it.
    @discardableResult
    public mutating func cancel(_ id: String, reason: DecisionReason, now: Double) -> Bool {
        guard let slot = slots.slot(of: id), let record = slots[slot] else { return false }
        if record.state.isWaiting {
            removeWaiting(slot)
        } else {
            releaseInflight(record, now: now)
        }
        counters.cancelled += 1
        log.append(.cancel, now: now, record: record, reason: reason)
        finish(slot)
        return true
    }

    /// Forgets a dispatched request whose outcome will never come (e.g. marked failed after a restart).
    @discardableResult
    public mutating func abandon(_ id: String, reason: DecisionReason, now: Double) -> Bool {
        guard let slot = slots.slot(of: id), let record = slots[slot], record.state == .dispatched else { return false }
        releaseInflight(record, now: now)
        fail(slot, reason: reason, now: now)
        return true
    }

    private mutating func releaseInflight(_ record: JobRecord, now: Double) {
        advanceInflightArea(now: now)
        inflightTokens[record.requestClass.index] -= record.reservedTokens
        inflightRequests[record.requestClass.index] -= 1
    }

    // MARK: - Configuration

    /// Adopts a new (validated) policy: rebuilds allocator and ordering, re-ranks every waiting request, keeps what
    /// the service-time model and the congestion controller learned.
    public mutating func reconfigure(_ newPolicy: SchedulerPolicy, now: Double) {
        policy = newPolicy
        ladder = CostLadder(rungs: newPolicy.ladder)
        allocator = makeAllocationPolicy(newPolicy)
        orderings = Self.orderings(newPolicy, trust: trust.trust)
        model.reconfigure(newPolicy)
        congestion.reconfigure(newPolicy)
        knee.reconfigure(newPolicy)
        let waiting = queues.flatMap { $0.allEntries() }.map(\.entry).filter { isLive($0) }.map(\.slot)
        queues = [ClassQueue(), ClassQueue()]
        for slot in Set(waiting).sorted(by: { slots[$0]!.sequence < slots[$1]!.sequence }) {
            slots[slot]!.item = orderingItem(slots[slot]!.job, deadline: slots[slot]!.deadlineAtMs)
            slots[slot]!.generation += 1
            enqueue(slot)
        }
        log.append(.configChange, now: now)
        reconsiderDeferred(now: now)
    }

    // MARK: - Queues

    /// One ordering policy per class, at `RequestClass.index`.
    private static func orderings(_ policy: SchedulerPolicy, trust: Double) -> [any OrderingPolicy] {
        RequestClass.allCases.sorted { $0.index < $1.index }.map { makeOrderingPolicy(policy, for: $0, trust: trust) }
    }

    private func orderingItem(_ job: Job, deadline: Double) -> OrderingItem {
        OrderingItem(
            submittedAtMs: job.submittedAtMs,
            deadlineAtMs: deadline,
            predictedDurationMs: model.predictedDurationMs(outputTokens: job.boundedP50),
            predictedOutputTokensP50: job.boundedP50,
            predictedOutputTokensP90: job.boundedP90,
            msPerOutputToken: model.msPerOutputToken,
            ttftMs: model.ttftMs
        )
    }

    private func priorityShift(_ record: JobRecord) -> Double {
        Double(record.job.priority - 5) * policy.priorityStepMs
    }

    private mutating func store(_ record: JobRecord) -> Int {
        slots.insert(record)
    }

    private mutating func finish(_ slot: Int) {
        guard let record = slots[slot] else { return }
        if record.state.isWaiting { decrementTenant(record.job.tenantId) }
        slots.remove(slot)
    }

    private mutating func decrementTenant(_ tenant: String) {
        let remaining = counters.queuedByTenant[tenant, default: 1] - 1
        counters.queuedByTenant[tenant] = remaining > 0 ? remaining : nil
    }

    private mutating func enqueue(_ slot: Int) {
        let record = slots[slot]!
        let ordering = orderings[record.requestClass.index]
        let key = ordering.rank(record.item) - priorityShift(record)
        let entry = RankEntry(key: key, sequence: record.sequence, slot: slot, generation: record.generation)
        queues[record.requestClass.index].push(
            entry, tenant: record.job.tenantId,
            urgentFromMs: ordering.urgentFromMs(record.item).map { $0 - priorityShift(record) })
    }

    private mutating func parkDeferred(_ slot: Int) {
        let record = slots[slot]!
        let key = orderings[record.requestClass.index].rank(record.item) - priorityShift(record)
        deferred[record.requestClass.index].push(
            RankEntry(key: key, sequence: record.sequence, slot: slot, generation: record.generation))
        counters.waitingDeferred[record.requestClass.index] += 1
    }

    /// Takes a waiting request out of whichever queue holds it (heap entries are dropped lazily).
    private mutating func removeWaiting(_ slot: Int) {
        guard var record = slots[slot] else { return }
        let index = record.requestClass.index
        if record.backingOff {
            counters.backingOff[index] -= 1
        } else if record.state == .deferred {
            counters.waitingDeferred[index] -= 1
        } else {
            queues[index].forget(tenant: record.job.tenantId)
        }
        record.generation += 1
        slots[slot] = record
    }

    private mutating func releaseBackoff(now: Double) {
        while let top = backoff.top, top.key <= now {
            backoff.pop()
            guard isLive(top), slots[top.slot]!.backingOff else { continue }
            slots[top.slot]!.backingOff = false
            counters.backingOff[slots[top.slot]!.requestClass.index] -= 1
            enqueue(top.slot)
        }
    }

    /// Moves deferred requests the ladder now admits back into their queues (after a mode or policy change).
    private mutating func reconsiderDeferred(now: Double) {
        for index in 0..<2 {
            let entries = deferred[index].entries.filter { isLive($0) && slots[$0.slot]!.state == .deferred }
            deferred[index] = RankHeap()
            counters.waitingDeferred[index] = 0
            for entry in entries.sorted(by: { $0.precedes($1) }) {
                let record = slots[entry.slot]!
                let (action, _) = ladder.decide(cost: record.job.predictedCost, mode: congestion.mode)
                if action == .defer {
                    parkDeferred(entry.slot)
                } else {
                    slots[entry.slot]!.state = .queued
                    slots[entry.slot]!.reason = nil
                    enqueue(entry.slot)
                    log.append(.admit, now: now, record: slots[entry.slot])
                }
            }
        }
    }

    private mutating func updateMode(now: Double) {
        guard let mode = congestion.update(slowdownRatio: model.slowdownRatio, now: now) else { return }
        let reason = ReasonCode.modeChange.reason(
            "Provider now \(mode.rawValue): answers take \((model.slowdownRatio * 100).rounded() / 100)× their uncongested time, "
                + "\(Int((congestion.rateLimitedShare * 100).rounded()))% of recent answers rate-limited.")
        log.append(.modeChange, now: now, reason: reason)
        lastModeChange = SchedulerEvent(
            sequence: log.nextSequence - 1, timeUnixMs: now, kind: .modeChange, reason: reason)
        reconsiderDeferred(now: now)
    }

    private func isLive(_ entry: RankEntry) -> Bool {
        slots.isLive(entry)
    }

    private mutating func head(_ requestClass: RequestClass, now: Double) -> (tenant: String, entry: RankEntry)? {
        let slots = self.slots
        let ordering = orderings[requestClass.index]
        let step = policy.priorityStepMs
        let quantum = policy.tenantQuantumTokens
        return queues[requestClass.index].selectHead(
            now: now,
            quantum: quantum,
            ordering: ordering,
            isLive: { slots.isLive($0) },
            isFeasible: { entry, now in
                now + slots[entry.slot]!.item.predictedDurationMs <= slots[entry.slot]!.deadlineAtMs
            },
            infeasibleKey: { entry in
                ordering.infeasibleRank(slots[entry.slot]!.item) - Double(slots[entry.slot]!.job.priority - 5) * step
            },
            cost: { entry in Double(slots[entry.slot]!.reservedTokens) }
        )
    }

    private func load(_ requestClass: RequestClass, head: (tenant: String, entry: RankEntry)?, now: Double) -> ClassLoad
    {
        let index = requestClass.index
        var load = ClassLoad(
            requestClass: requestClass,
            queued: queues[index].count,
            inflightTokens: inflightTokens[index],
            inflightRequests: inflightRequests[index],
            budgetTokens: budgetTokens(requestClass)
        )
        if let head, let record = slots[head.entry.slot] {
            let budget = max(record.deadlineAtMs - record.job.submittedAtMs, 1)
            load.headCost = record.reservedTokens
            load.headSubmittedAtMs = record.job.submittedAtMs
            load.headAgeBudgets = max(0, now - record.job.submittedAtMs) / budget
            let slack = record.deadlineAtMs - now - record.item.predictedDurationMs
            load.headPressure = min(max(1 - slack / budget, 0), 1)
        }
        return load
    }

    // MARK: - Knee

    private mutating func advanceInflightArea(now: Double) {
        if let last = inflightAreaAt, now > last { inflightArea += Double(totalInflightRequests) * (now - last) }
        inflightAreaAt = max(now, inflightAreaAt ?? now)
    }

    /// Teaches the knee estimator from a completion: its decoding speed when the answer is long enough to measure
    /// it, and how long it waited in the provider's queue. Nothing is measured until the baselines are learned.
    private mutating func observeKnee(
        _ record: JobRecord, outputTokens: Int, latencyMs: Double, ttftMs: Double?, queueing: KneeEstimator.Queueing,
        now: Double
    ) {
        guard model.baselineReady, let dispatchedAt = record.dispatchedAtMs, now > dispatchedAt else { return }
        // Short answers measure their decoding speed too coarsely (a chunk can carry several tokens).
        var perToken: Double?
        if outputTokens >= 32 {
            let ttft = min(ttftMs ?? model.ttftMs, latencyMs)
            perToken = (latencyMs - ttft) / Double(outputTokens - 1)
        }
        let averageInflight = (inflightArea - record.inflightAreaAtDispatch) / (now - dispatchedAt)
        knee.observe(
            averageInflight: averageInflight, msPerOutputToken: perToken,
            baselineMsPerOutputToken: model.baselineMsPerOutputToken, queueing: queueing,
            startupJudged: record.grewStartupCap, now: now)
    }

    /// Requests that may be in flight now, in all and for heavy work: the policy's hard cap, or less once the
    /// provider's knee is known (one estimate for both).
    public func requestCaps(now: Double) -> (total: Int, heavy: Int) {
        let caps = knee.caps(baselineMsPerOutputToken: model.baselineMsPerOutputToken, now: now)
        return (
            min(policy.maxInflightRequests, caps?.total ?? .max), min(policy.maxInflightRequests, caps?.heavy ?? .max)
        )
    }

    /// Requests that may be in flight now (`requestCaps(now:).total`).
    public func inflightRequestCap(now: Double) -> Int {
        requestCaps(now: now).total
    }

    // MARK: - Reading

    /// In-flight budget of a class after mode and probing.
    public func budgetTokens(_ requestClass: RequestClass) -> Int {
        max(1, Int(Double(policy.baseBudget(requestClass)) * congestion.budgetScale))
    }

    public var totalBudgetTokens: Int { budgetTokens(.interactive) + budgetTokens(.heavy) }
    public var totalInflightTokens: Int { inflightTokens[0] + inflightTokens[1] }
    public var totalInflightRequests: Int { inflightRequests[0] + inflightRequests[1] }
    public var mode: CongestionModeName { congestion.mode }

    /// Requests waiting (queued, deferred or backing off after a 429).
    public var queuedCount: Int {
        queues[0].count + queues[1].count + counters.waitingDeferred.reduce(0, +) + counters.backingOff.reduce(0, +)
    }

    /// Where a live request is; nil once it finished (the caller keeps history).
    public func state(of id: String) -> RequestState? {
        slots.record(of: id)?.state
    }

    /// The reason attached to a live request (deferral, re-queue).
    public func reason(of id: String) -> DecisionReason? {
        slots.record(of: id)?.reason
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
        var classes = RequestClass.allCases.map { WaitingGroup(name: $0.rawValue, queued: 0, oldestWaitMs: 0) }
        var tenants: [String: WaitingGroup] = [:]
        for record in slots.all where record.state.isWaiting {
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

    /// Counts of what the last `tick` did, and resets them.
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
            let index = requestClass.index
            byClass[requestClass.rawValue] =
                queues[index].count + counters.waitingDeferred[index] + counters.backingOff[index]
            tokens[requestClass.rawValue] = inflightTokens[index]
            budgets[requestClass.rawValue] = budgetTokens(requestClass)
        }
        var snapshot = SchedulerMetricsSnapshot(
            mode: mode,
            queueLengthByClass: byClass,
            queueLengthByTenant: counters.queuedByTenant,
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
        let lastEvent = inflightAreaAt ?? 0
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

extension RequestClass {
    var index: Int { self == .interactive ? 0 : 1 }
}

extension RequestState {
    /// Waiting in the scheduler (queued, deferred or backing off), not yet with the upstream.
    var isWaiting: Bool { self == .queued || self == .deferred }
}
