import Contracts

/// The scheduling core: admission at the door (`Admission`: queue bound, then the `OverloadPolicy`), then per round
/// (`DispatchRound.swift`) allocation between classes (`AllocationPolicy`), fairness between tenants
/// (`TenantFairnessPolicy`) and ordering inside a tenant (`OrderingPolicy`), all under in-flight token budgets that the
/// `CongestionController` scales and a request cap the `KneeEstimator` sets. The live requests are kept in `LiveJobs`.
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
    var admission: Admission
    var allocator: any AllocationPolicy
    var ranking: JobRanking
    /// The uncongested time per output token the waiting requests' ranks were computed with.
    var rankedAtMsPerOutputToken: Double
    var live: LiveJobs
    var inflight = InflightLedger()
    var sequence = 0
    var log: EventLog
    var counters = Counters()
    /// Whether the last dispatch round left work waiting because the budgets were full: the signal that probing
    /// for more capacity could help.
    var budgetBound = false
    /// Smoothed wait of recent answers in the provider's own queue (ms).
    var queueDelayMs = 0.0
    /// Smoothed output tokens per content chunk of streamed answers (usage tokens over chunks counted); nil until an
    /// answer long enough to tell has ended.
    var tokensPerChunk: Double?
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
    }

    /// A new engine; `eventCapacity` bounds the in-memory `/events` ring (0 records nothing, for simulations).
    public init(policy: SchedulerPolicy = SchedulerPolicy(), eventCapacity: Int = 10_000) {
        self.policy = policy
        self.model = ServiceTimeModel(policy: policy)
        self.congestion = CongestionController(policy: policy)
        self.knee = KneeEstimator(policy: policy)
        self.trust = PredictionTrust(policy: policy)
        self.admission = Admission(policy: policy)
        self.allocator = makeAllocationPolicy(policy)
        self.ranking = JobRanking(policy, trust: trust.trust)
        self.rankedAtMsPerOutputToken = model.baselineMsPerOutputToken
        self.live = LiveJobs(fairness: makeTenantFairnessPolicy(policy))
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

    /// The class a request belongs to (see `Admission.classify`).
    public func classify(_ job: Job) -> RequestClass {
        admission.classify(job)
    }

    private mutating func admit(_ job: Job, now: Double, restoring: Bool) -> Decision {
        let requestClass = admission.classify(job)
        let deadline = admission.deadline(of: job, in: requestClass)
        if let record = live.record(of: job.id) {
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
        if !restoring,
            let rejection = admission.rejection(
                for: record, waiting: live.waitingCount, mode: congestion.mode, now: now)
        {
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
        let (action, reason) =
            restoring ? (.admit, nil) : admission.decide(cost: job.predictedCost, mode: congestion.mode)
        record.state = action == .defer ? .deferred : .queued
        record.reason = reason
        let slot = live.insert(record, graceFactor: policy.expiryGraceFactor)
        if action == .defer {
            counters.deferred += 1
            counters.deferredByReason[reason?.code ?? "deferred", default: 0] += 1
            counters.deferredSinceTick += 1
            live.park(slot, ranking: ranking)
            log.append(.defer, now: now, record: record, reason: reason)
        } else {
            live.enqueue(slot, ranking: ranking)
            log.append(.admit, now: now, record: record)
        }
        return Decision(
            requestId: job.id, state: record.state, requestClass: requestClass, deadlineAtMs: deadline, reason: reason)
    }

    private func orderingItem(_ job: Job, deadline: Double) -> OrderingItem {
        OrderingItem(
            submittedAtMs: job.submittedAtMs,
            deadlineAtMs: deadline,
            predictedDurationMs: model.predictedDurationMs(outputTokens: job.boundedP50),
            predictedOutputTokensP50: job.boundedP50,
            predictedOutputTokensP90: job.boundedP90,
            msPerOutputToken: model.msPerOutputToken,
            ttftMs: model.ttftMs,
            rankMsPerOutputToken: model.baselineMsPerOutputToken,
            rankTtftMs: model.baselineTtftMs
        )
    }

    // MARK: - Completion

    /// The first token of a dispatched request arrived (streamed answers only; a whole answer says nothing about when
    /// its first token came). Before the provider's capacity is known this grows the start-up cap, as TCP's slow
    /// start grows its window on each acknowledgement, when the request was sent into a full cap and its first token
    /// came without waiting in a queue: a provider with room answers within a round trip, so the cap reaches its
    /// capacity in a few first tokens, while one whose slots are busy answers only after a whole service time.
    public mutating func firstToken(_ id: String, now: Double) {
        guard let slot = live.slot(of: id), var record = live[slot], record.state == .dispatched,
            !record.firstTokenSeen, let dispatchedAt = record.dispatchedAtMs
        else { return }
        record.firstTokenSeen = true
        inflight.startServing()
        let ttftMs = max(0, now - dispatchedAt)
        let waited = queueing(of: record, ttftMs: ttftMs)
        record.grewStartupCap = knee.observeFirstToken(
            inflightAtDispatch: record.inflightAtDispatch, ttftMs: ttftMs, toleranceMs: waited.toleranceMs)
        knee.observeServing(
            inflight.serving, waited: waited, baselineMsPerOutputToken: model.baselineMsPerOutputToken, now: now)
        live[slot] = record
    }

    /// Content chunks between two `progress` reports of one streamed answer.
    public static let chunksPerProgressReport = 32

    /// A streamed answer's progress: `chunks` content chunks have arrived. Until the provider is seen saturated, the
    /// decoding speed since the last count (the first count only starts the clock: whether the first chunk carries
    /// a token differs between servers), against the uncongested one, with the requests in flight meanwhile, is one
    /// delivery-rate sample for the knee estimator, as each acknowledgement is one for TCP BBR. A provider driven
    /// past its knee during start-up is then seen slowing down while the answers still stream, not a whole long
    /// answer later, and the start-up cap stops before the overshoot collapses the provider. Once the cap is engaged
    /// the completions measure alone: a sample every 32 chunks of every answer would fill the estimator's window
    /// with the last few seconds and the cap would follow the moment's load past the knee (the simulator's
    /// collapsing provider met fewer deadlines). A provider that queues keeps its per-token speed and engages the
    /// cap through its first tokens.
    public mutating func progress(_ id: String, chunks: Int, now: Double) {
        guard let slot = live.slot(of: id), var record = live[slot], record.state == .dispatched,
            chunks > record.streamMark?.chunks ?? 0, now > record.streamMark?.atMs ?? -.infinity
        else { return }
        inflight.advance(now: now)
        let mark = record.streamMark
        record.streamMark = JobRecord.StreamMark(chunks: chunks, atMs: now, inflightArea: inflight.area)
        live[slot] = record
        guard let mark, model.baselineReady, !knee.engaged, let tokensPerChunk else { return }
        let elapsed = now - mark.atMs
        let perToken = elapsed / (Double(chunks - mark.chunks) * tokensPerChunk)
        knee.observe(
            averageInflight: (inflight.area - mark.inflightArea) / elapsed, msPerOutputToken: perToken,
            baselineMsPerOutputToken: model.baselineMsPerOutputToken, startupJudged: true, now: now)
        congestion.kneeEngaged = knee.engaged
    }

    /// How `record` waited at the provider, from its time to first token (none: no wait measured), against the
    /// current baselines; a delay within the tolerance (noise, a longer prompt's prefill) is no wait at all.
    private func queueing(of record: JobRecord, ttftMs: Double?) -> KneeEstimator.Queueing {
        KneeEstimator.Queueing(
            inflightAtDispatch: record.inflightAtDispatch, delayMs: ttftMs.map { model.queueDelayMs(ttftMs: $0) } ?? 0,
            meanServiceMs: model.meanServiceMs, toleranceMs: max(50, 0.25 * model.baselineTtftMs))
    }

    /// Records how a dispatched request ended: releases its budget, teaches the service-time model and the congestion
    /// controller, and re-queues a rate-limited request while attempts and its deadline allow.
    @discardableResult
    public mutating func complete(_ id: String, outcome: DispatchOutcome, now: Double) -> CompletionEffect {
        guard let slot = live.slot(of: id), let record = live[slot], record.state == .dispatched else {
            return .unknown
        }
        inflight.advance(now: now)
        let utilization = budgetBound ? 1 : Double(inflight.totalTokens) / Double(max(totalBudgetTokens, 1))
        inflight.remove(record)
        let effect: CompletionEffect
        switch outcome.status {
        case .succeeded:
            learn(from: record, outcome: outcome, utilization: utilization, now: now)
            counters.completed += 1
            log.append(.complete, now: now, record: record)
            live.finish(slot)
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
                live.backOff(slot, untilMs: now + wait, reason: reason, graceFactor: policy.expiryGraceFactor)
                counters.requeued += 1
                log.append(.requeue, now: now, record: live[slot], reason: reason)
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

    /// Teaches the prediction trust, the service-time model, the knee estimator and the congestion controller from a
    /// successful answer.
    private mutating func learn(from record: JobRecord, outcome: DispatchOutcome, utilization: Double, now: Double) {
        let trustBefore = trust.trust
        // What the prediction is worth, judged on answers that were not cut by max_tokens.
        if let tokens = outcome.outputTokens, tokens < record.job.maxTokens {
            trust.observe(
                predictedTokens: record.job.boundedP50, predictedP90Tokens: record.job.boundedP90,
                outputTokens: tokens)
        }
        if let tokens = outcome.outputTokens, let chunks = outcome.streamedChunks, tokens >= 32, chunks >= 32 {
            let ratio = Double(tokens) / Double(chunks)
            tokensPerChunk = tokensPerChunk.map { $0 + policy.estimateAlpha * (ratio - $0) } ?? ratio
        }
        if let tokens = outcome.outputTokens, let latency = outcome.latencyMs {
            // Measured against the baselines before this answer teaches them.
            let queueing = queueing(of: record, ttftMs: outcome.ttftMs.map { min($0, latency) })
            if outcome.ttftMs != nil { queueDelayMs += policy.estimateAlpha * (queueing.delayMs - queueDelayMs) }
            let queued = queueing.isQueued(fraction: policy.kneeQueueFraction)
            model.observe(outputTokens: tokens, latencyMs: latency, ttftMs: outcome.ttftMs, queued: queued)
            observeKnee(
                record, outputTokens: tokens, latencyMs: latency, ttftMs: outcome.ttftMs, queueing: queueing, now: now)
            congestion.kneeEngaged = knee.engaged
        }
        congestion.recordCompletion(
            rateLimited: false, slowdownRatio: model.slowdownRatio, budgetUtilization: utilization)
        if trust.trust != trustBefore || abs(model.baselineMsPerOutputToken / rankedAtMsPerOutputToken - 1) > 0.05 {
            rerankWaiting()
        }
    }

    /// Ranks every waiting request again at the current trust and uncongested speed. Ranks are fixed when a request
    /// is queued and move with both: kept as they were, a request queued while the predictions weighed more, or
    /// while the speed was still the prior's (before the first answers taught it), would be passed by equal ones
    /// queued after, by up to the expected-work weight × the change × its expected work: tens of seconds when the
    /// first answers come back.
    private mutating func rerankWaiting() {
        ranking = JobRanking(policy, trust: trust.trust)
        rankedAtMsPerOutputToken = model.baselineMsPerOutputToken
        live.rerank(
            ranking, rankMsPerOutputToken: model.baselineMsPerOutputToken, rankTtftMs: model.baselineTtftMs)
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
        let averageInflight = (inflight.area - record.inflightAreaAtDispatch) / (now - dispatchedAt)
        knee.observe(
            averageInflight: averageInflight, msPerOutputToken: perToken,
            baselineMsPerOutputToken: model.baselineMsPerOutputToken, queueing: queueing,
            startupJudged: record.grewStartupCap, now: now)
    }

    private mutating func fail(_ slot: Int, reason: DecisionReason, now: Double) {
        counters.failed += 1
        log.append(.fail, now: now, record: live[slot], reason: reason)
        live.finish(slot)
    }

    // MARK: - Expiry and cancellation

    /// Gives up on requests still waiting `expiry_grace_factor` deadline budgets past their deadline.
    public mutating func expire(now: Double) -> [Expiry] {
        var expired: [Expiry] = []
        while let slot = live.nextExpired(now: now), let record = live[slot] {
            let reason = ReasonCode.deadlineExpired.reason(
                "Still waiting \(Int(now - record.deadlineAtMs)) ms after its deadline; given up.")
            endWaiting(slot, record: record, reason: reason, now: now)
            expired.append(Expiry(requestId: record.job.id, reason: reason))
        }
        return expired
    }

    /// Gives up on one waiting request now (a front-door request whose deadline passed). False when it is not waiting.
    @discardableResult
    public mutating func expire(_ id: String, reason: DecisionReason, now: Double) -> Bool {
        guard let slot = live.slot(of: id), let record = live[slot], record.state.isWaiting else { return false }
        endWaiting(slot, record: record, reason: reason, now: now)
        return true
    }

    private mutating func endWaiting(_ slot: Int, record: JobRecord, reason: DecisionReason, now: Double) {
        live.removeWaiting(slot)
        counters.expired += 1
        log.append(.expire, now: now, record: record, reason: reason)
        live.finish(slot)
    }

    /// Withdraws a request whose client left: taken out of the queue if waiting, its capacity freed if dispatched (the
    /// caller stops the upstream call; nothing is learned from it). False when the engine no longer holds it.
    @discardableResult
    public mutating func cancel(_ id: String, reason: DecisionReason, now: Double) -> Bool {
        guard let slot = live.slot(of: id), let record = live[slot] else { return false }
        if record.state.isWaiting {
            live.removeWaiting(slot)
        } else {
            inflight.advance(now: now)
            inflight.remove(record)
        }
        counters.cancelled += 1
        log.append(.cancel, now: now, record: record, reason: reason)
        live.finish(slot)
        return true
    }

    /// Forgets a dispatched request whose outcome will never come (e.g. marked failed after a restart).
    @discardableResult
    public mutating func abandon(_ id: String, reason: DecisionReason, now: Double) -> Bool {
        guard let slot = live.slot(of: id), let record = live[slot], record.state == .dispatched else { return false }
        inflight.advance(now: now)
        inflight.remove(record)
        fail(slot, reason: reason, now: now)
        return true
    }

    // MARK: - Configuration and mode

    /// Adopts a new (validated) policy: rebuilds admission, allocator, fairness and ordering, re-ranks every waiting
    /// request, keeps what the service-time model and the congestion controller learned.
    public mutating func reconfigure(_ newPolicy: SchedulerPolicy, now: Double) {
        policy = newPolicy
        admission = Admission(policy: newPolicy)
        allocator = makeAllocationPolicy(newPolicy)
        ranking = JobRanking(newPolicy, trust: trust.trust)
        model.reconfigure(newPolicy)
        rankedAtMsPerOutputToken = model.baselineMsPerOutputToken
        congestion.reconfigure(newPolicy)
        knee.reconfigure(newPolicy)
        for slot in live.takeQueued(fairness: makeTenantFairnessPolicy(newPolicy)) {
            live[slot]!.item = orderingItem(live[slot]!.job, deadline: live[slot]!.deadlineAtMs)
            live[slot]!.generation += 1
            live.enqueue(slot, ranking: ranking)
        }
        log.append(.configChange, now: now)
        reconsiderDeferred(now: now)
    }

    /// Re-evaluates the congestion mode at `now`; on a change, logs why and lets deferred work the overload policy
    /// now admits back into its queue.
    mutating func updateMode(now: Double) {
        guard let mode = congestion.update(slowdownRatio: model.slowdownRatio, now: now) else { return }
        let reason = ReasonCode.modeChange.reason(
            "Provider now \(mode.rawValue): answers take \((model.slowdownRatio * 100).rounded() / 100)× their uncongested time, "
                + "\(Int((congestion.rateLimitedShare * 100).rounded()))% of recent answers rate-limited.")
        log.append(.modeChange, now: now, reason: reason)
        lastModeChange = SchedulerEvent(
            sequence: log.nextSequence - 1, timeUnixMs: now, kind: .modeChange, reason: reason)
        reconsiderDeferred(now: now)
    }

    /// Moves deferred requests the overload policy now admits back into their queues (after a mode or policy change).
    private mutating func reconsiderDeferred(now: Double) {
        for requestClass in RequestClass.allCases.sorted(by: { $0.index < $1.index }) {
            for slot in live.takeDeferred(requestClass) {
                let (action, _) = admission.decide(cost: live[slot]!.job.predictedCost, mode: congestion.mode)
                if action == .defer {
                    live.park(slot, ranking: ranking)
                } else {
                    live[slot]!.state = .queued
                    live[slot]!.reason = nil
                    live.enqueue(slot, ranking: ranking)
                    log.append(.admit, now: now, record: live[slot])
                }
            }
        }
    }
}
