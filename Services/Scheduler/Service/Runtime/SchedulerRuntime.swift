import Contracts
import Foundation
import Logging
import SchedulerCore
import ServiceRuntime

/// What a front-door request waiting in the queue gets: its dispatch, a refusal with a reason, or the end of the
/// wait because its caller was cancelled (the caller then withdraws it with `cancel`).
enum DispatchWait: Sendable {
    case dispatched(Dispatch)
    case refused(DecisionReason, retryAfterMs: Double)
    case cancelled
}

/// Runs a dispatched queued request upstream and returns how it ended, telling the `StreamObserver` it is given how
/// the streamed answer arrives.
typealias UpstreamExecutor =
    @Sendable (Dispatch, ChatCompletionRequest, Double, StreamObserver) async -> ProxyCallResult

/// The live scheduler: the pure engine, wrapped with the clock, durability, the upstream calls and the waiting
/// front-door requests. Every state change is written through the `StoreWriter` in call order.
actor SchedulerRuntime {
    private var engine: SchedulerEngine
    private let writer: StoreWriter
    private let store: any RequestStore
    private let execute: UpstreamExecutor
    private let clock: @Sendable () -> Double
    private let logger: Logger
    private let eventCapacity: Int

    private var rows: [String: RequestRow] = [:]
    private var bodies: [String: ChatCompletionRequest] = [:]
    private var finishedOrder: [String] = []
    /// Finished requests kept in memory for `/status` (older ones are read from SQLite).
    let finishedInMemory: Int
    private var frontDoorWaiters: [String: CheckedContinuation<DispatchWait, Never>] = [:]
    private var frontDoorReady: [String: DispatchWait] = [:]
    private var histograms = LatencyHistograms()
    private var latencyTimeline = LatencyTimeline()
    private var fallbackLevels = FallbackLevelWindow()
    private var ticks = 0

    init(
        policy: SchedulerPolicy,
        store: any RequestStore,
        eventCapacity: Int,
        finishedInMemory: Int = 5_000,
        logger: Logger,
        clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 * 1000 },
        execute: @escaping UpstreamExecutor
    ) {
        self.engine = SchedulerEngine(policy: policy, eventCapacity: eventCapacity)
        self.store = store
        self.writer = StoreWriter(store: store)
        self.execute = execute
        self.clock = clock
        self.logger = logger
        self.eventCapacity = eventCapacity
        self.finishedInMemory = max(1, finishedInMemory)
    }

    nonisolated var now: Double { clock() }

    // MARK: - Submission

    /// Decides on a new request and queues its row for writing; returns the decision and the write ticket to
    /// wait for before answering.
    func submit(
        job: Job, row: RequestRow, body: ChatCompletionRequest, fallbackLevel: FallbackLevel
    ) -> (decision: Decision, ticket: Int) {
        fallbackLevels.record(fallbackLevel)
        // A front-door caller waits for its own dispatch; claim it before the engine can dispatch it.
        if row.frontDoor { frontDoorClaimable.insert(row.id) }
        let decision = engine.submit(job, now: now)
        var row = row
        row.state = decision.state.rawValue
        row.requestClass = decision.requestClass.rawValue
        row.deadlineMs = decision.deadlineAtMs
        row.decided = true
        row.reasonCode = decision.reason?.code
        row.reasonMessage = decision.reason?.message
        if decision.state == .rejected {
            frontDoorClaimable.remove(row.id)
            row.finishedMs = now
            remember(row, finished: true)
        } else {
            remember(row, finished: false)
            bodies[row.id] = body
        }
        let ticket = writer.enqueue(.insert(row))
        if decision.state != .rejected { pump() }
        return (decision, ticket)
    }

    /// Queues the write of a submission as it arrived, before the engine sees it; returns the ticket to wait for.
    nonisolated func storeIncoming(_ row: RequestRow) -> Int {
        writer.enqueue(.insert(row))
    }

    /// Whether the store is shared with other scheduler replicas (PostgreSQL).
    nonisolated var storeIsShared: Bool { store.isShared }

    nonisolated func waitDurable(_ ticket: Int) async throws {
        try await writer.waitDurable(ticket)
    }

    nonisolated func flush() async throws {
        try await writer.flush()
    }

    // MARK: - Dispatch

    /// One scheduling round (`POST /tick` and the self-tick): expiry, front-door deadlines, dispatch.
    @discardableResult
    func tick() -> TickResponse {
        let now = self.now
        var (dispatches, expired, summary) = engine.tick(now: now)
        for expiry in expired {
            finishWaiting(expiry.requestId, state: .expired, reason: expiry.reason, now: now)
        }
        for id in frontDoorWaiters.keys.sorted() where (rows[id]?.deadlineMs ?? .infinity) <= now {
            let reason = ReasonCode.deadlineExpired.reason("The request waited in the queue until its deadline.")
            if engine.expire(id, reason: reason, now: now) {
                finishWaiting(id, state: .expired, reason: reason, now: now)
                summary.expired += 1
            }
        }
        handle(dispatches, now: now)
        dispatches = engine.nextDispatches(now: now)
        summary.dispatched += dispatches.count
        handle(dispatches, now: now)
        ticks += 1
        if store.isShared { exportEvents() }
        return summary
    }

    private func pump() {
        guard !handingOff else { return }
        let now = self.now
        handle(engine.nextDispatches(now: now), now: now)
    }

    /// Set when this replica hands its work to the others at shutdown (a shared store only): nothing more is
    /// dispatched, and an in-flight request that would go back in the queue ends instead, since the upstream may
    /// have received it and another replica now takes the queue over.
    private var handingOff = false

    /// Requests this replica has upstream now.
    var inflightRequests: Int { engine.totalInflightRequests }

    /// Stops dispatching before the replica's lease is ended at shutdown.
    func beginHandOff() {
        handingOff = true
        exportEvents()
    }

    private func handle(_ dispatches: [Dispatch], now: Double) {
        for dispatch in dispatches {
            guard var row = rows[dispatch.requestId] else { continue }
            row.state = RequestState.dispatched.rawValue
            row.dispatchedMs = now
            row.attempts = dispatch.attempt
            row.reasonCode = nil
            row.reasonMessage = nil
            remember(row, finished: false)
            let ticket = writer.enqueue(.insert(row))
            guard store.isShared else {
                start(dispatch, now: now)
                continue
            }
            // Replicas share the store: the call goes out only once the dispatch is committed under this replica's
            // ownership, so a request another replica has taken over is never sent by this one too.
            let writer = self.writer
            Task { [weak self] in
                let committed: Bool
                do {
                    try await writer.waitDurable(ticket)
                    committed = !writer.isFencedOut(dispatch.requestId)
                } catch {
                    committed = false
                }
                await self?.dispatchWritten(dispatch, committed: committed, now: now)
            }
        }
    }

    /// Hands a dispatch to its waiting front-door caller, or calls the upstream for a queued request.
    private func start(_ dispatch: Dispatch, now: Double) {
        guard let row = rows[dispatch.requestId] else { return }
        if row.frontDoor, let waiter = frontDoorWaiters.removeValue(forKey: dispatch.requestId) {
            waiter.resume(returning: .dispatched(dispatch))
        } else if row.frontDoor, frontDoorClaimable.contains(dispatch.requestId) {
            // The caller has not started waiting yet; it takes the dispatch when it does.
            frontDoorReady[dispatch.requestId] = .dispatched(dispatch)
        } else if let body = bodies[dispatch.requestId] {
            let execute = self.execute
            let observer = streamObserver(dispatch.requestId)
            Task { [weak self] in
                let result = await execute(dispatch, body, now, observer)
                await self?.finish(dispatch.requestId, result: result)
            }
        }
    }

    /// A shared store's answer to a dispatch write: committed, the call goes out (unless the request was withdrawn
    /// meanwhile); refused, another replica owns the request and this one forgets it; failed, it was not sent and
    /// goes back in the queue (within its attempts).
    private func dispatchWritten(_ dispatch: Dispatch, committed: Bool, now: Double) {
        let id = dispatch.requestId
        if committed {
            guard rows[id]?.state == RequestState.dispatched.rawValue, engine.state(of: id) == .dispatched else {
                return
            }
            start(dispatch, now: now)
            return
        }
        let frontDoor = rows[id]?.frontDoor ?? false
        if writer.isFencedOut(id) {
            let reason = ReasonCode.replicaLost.reason(
                "Another scheduler replica took the request over; this one did not send it.")
            logger.notice(
                "dispatch refused by the shared store: another replica owns the request", metadata: ["id": "\(id)"])
            engine.abandon(id, reason: reason, now: self.now)
            // Another replica owns it: /status reads the shared table from now on.
            rows[id] = nil
            bodies[id] = nil
            frontDoorClaimable.remove(id)
            let refusal = DispatchWait.refused(reason, retryAfterMs: engine.policy.rejectRetryAfterMs)
            if let waiter = frontDoorWaiters.removeValue(forKey: id) {
                waiter.resume(returning: refusal)
            } else if frontDoor {
                // Its caller has not started waiting yet: it finds the refusal when it does.
                frontDoorReady[id] = refusal
            }
        } else {
            let reason = ReasonCode.storageUnavailable.reason(
                "The dispatch could not be written to the shared store; the request was not sent.")
            let outcome = DispatchOutcome(status: .retryable, retryAfterMs: 1_000, reason: reason)
            if engine.complete(id, outcome: outcome, now: self.now) == .requeued, var row = rows[id] {
                row.set(.queued, reason: reason)
                remember(row, finished: false)
                writer.enqueue(.insert(row))
            } else {
                finishWaiting(id, state: .failed, reason: reason, now: self.now)
            }
        }
        pump()
    }

    /// Front-door requests whose HTTP caller is still there to take the dispatch.
    private var frontDoorClaimable: Set<String> = []

    /// Waits until the front-door request is dispatched, or refused (deadline, reset, expiry), or the waiting task
    /// is cancelled.
    func waitForDispatch(_ id: String) async -> DispatchWait {
        if let ready = frontDoorReady.removeValue(forKey: id) { return ready }
        if let row = rows[id], let state = RequestState(rawValue: row.state), state.isTerminal {
            let reason = DecisionReason(
                code: row.reasonCode ?? "gone", message: row.reasonMessage ?? "The request is no longer waiting.")
            return .refused(reason, retryAfterMs: engine.policy.rejectRetryAfterMs)
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                frontDoorWaiters[id] = continuation
            }
        } onCancel: {
            Task { await self.stopWaiting(id) }
        }
    }

    private func stopWaiting(_ id: String) {
        frontDoorWaiters.removeValue(forKey: id)?.resume(returning: .cancelled)
    }

    /// The first token of a dispatched request's streamed answer arrived (the engine's start-up cap learns from it).
    func firstToken(_ id: String) {
        engine.firstToken(id, now: now)
    }

    /// Tells the engine how request `id`'s streamed answer arrives: its first token, then its content chunks.
    nonisolated func streamObserver(_ id: String) -> StreamObserver {
        StreamObserver(
            firstToken: { [weak self] in await self?.firstToken(id) },
            chunks: { [weak self] chunks in await self?.progress(id, chunks: chunks) })
    }

    func progress(_ id: String, chunks: Int) {
        engine.progress(id, chunks: chunks, now: now)
    }

    /// Records how an upstream call ended; returns what the engine did (a re-queued front-door request waits again).
    @discardableResult
    func finish(_ id: String, result: ProxyCallResult) -> CompletionEffect {
        let now = self.now
        // A cancelled request's call may still end afterwards; its row stays as the cancellation left it.
        if rows[id]?.state == RequestState.cancelled.rawValue { return .unknown }
        let outcome = result.outcome
        let effect = engine.complete(id, outcome: outcome, now: now)
        guard var row = rows[id] else { return effect }
        switch effect {
        case .requeued where handingOff:
            let reason = ReasonCode.shutdown.reason(
                "The scheduler replica stopped while the request was in flight; it is not sent again.")
            engine.cancel(id, reason: reason, now: now)
            row.end(.failed, reason: reason, now: now)
            row.result = Self.json(result.requestResult)
            remember(row, finished: true)
        case .requeued:
            row.set(.queued, reason: engine.reason(of: id))
            remember(row, finished: false)
        case .completed, .unknown:
            row.state = (outcome.status == .succeeded ? RequestState.completed : .failed).rawValue
            row.finishedMs = now
            if let ttft = result.ttftMs, let dispatched = row.dispatchedMs { row.firstTokenMs = dispatched + ttft }
            row.result = Self.json(result.requestResult)
            if outcome.status == .succeeded {
                let requestClass = row.requestClass
                if let dispatched = row.dispatchedMs {
                    histograms.record("queue_\(requestClass)", ms: dispatched - row.submittedMs)
                }
                histograms.record("total_\(requestClass)", ms: now - row.submittedMs)
                if let known = RequestClass(rawValue: requestClass) {
                    latencyTimeline.record(known, ms: now - row.submittedMs, now: now)
                }
                if let first = row.firstTokenMs {
                    histograms.record("ttft_\(requestClass)", ms: first - row.submittedMs)
                }
            }
            remember(row, finished: true)
        case .failed:
            let reason =
                outcome.reason
                ?? ReasonCode.rateLimitedExhausted.reason(
                    "The upstream answered \(result.statusCode == 0 ? "nothing" : String(result.statusCode)) on every attempt."
                )
            row.end(.failed, reason: reason, now: now)
            row.result = Self.json(result.requestResult)
            remember(row, finished: true)
        }
        frontDoorClaimable.remove(id)
        if effect == .requeued, row.frontDoor { frontDoorClaimable.insert(id) }
        writer.enqueue(.insert(row))
        pump()
        return effect
    }

    /// Withdraws a front-door request whose caller is gone (its client left, or the scheduler is shutting down): out
    /// of the queue if waiting (never dispatched), its capacity freed if in flight (the caller stops the upstream
    /// call). It ends `cancelled` with `reason`.
    @discardableResult
    func cancel(_ id: String, reason: DecisionReason) -> Bool {
        let now = self.now
        frontDoorReady[id] = nil
        guard engine.cancel(id, reason: reason, now: now) else { return false }
        finishWaiting(id, state: .cancelled, reason: reason, now: now)
        pump()
        return true
    }

    /// Ends a request that gets no upstream answer (expired, cancelled, reset) and refuses its waiting caller.
    private func finishWaiting(_ id: String, state: RequestState, reason: DecisionReason, now: Double) {
        if var row = rows[id] {
            row.end(state, reason: reason, now: now)
            remember(row, finished: true)
            writer.enqueue(.insert(row))
        }
        bodies[id] = nil
        frontDoorClaimable.remove(id)
        let refusal = DispatchWait.refused(reason, retryAfterMs: engine.policy.rejectRetryAfterMs)
        if let waiter = frontDoorWaiters.removeValue(forKey: id) {
            waiter.resume(returning: refusal)
        }
    }

    private func remember(_ row: RequestRow, finished: Bool) {
        rows[row.id] = row
        guard finished else { return }
        bodies[row.id] = nil
        finishedOrder.append(row.id)
        // Finished requests stay readable from memory for a while (the newest `finishedInMemory`), then from SQLite
        // only; a bound in requests, not time, so memory stays flat whatever the rate.
        if finishedOrder.count > finishedInMemory + finishedInMemory / 5 {
            let drop = finishedOrder.count - finishedInMemory
            for id in finishedOrder.prefix(drop) where RequestState(rawValue: rows[id]?.state ?? "")?.isTerminal == true
            {
                rows[id] = nil
            }
            finishedOrder.removeFirst(drop)
        }
    }

    // MARK: - Recovery

    /// Brings back what had not finished when the process stopped: waiting requests are queued again with their
    /// original deadline; in-flight ones are re-queued or marked failed as configured. Front-door requests end
    /// `cancelled` (`shutdown`): their clients left with the process. Returns (restored, failed).
    func recover(inflight action: InflightRestartAction) async throws -> (restored: Int, failed: Int) {
        try await restore(try await store.unfinished(), inflight: action)
    }

    /// Schedules requests another replica left behind (its lease ran out): the shared store has made them this
    /// replica's and kept only those still waiting. Returns (restored, failed).
    @discardableResult
    func adopt(_ adopted: [RequestRow]) async throws -> (restored: Int, failed: Int) {
        try await restore(adopted, inflight: .fail)
    }

    /// Brings stored, unfinished requests into the engine.
    private func restore(_ unfinished: [RequestRow], inflight action: InflightRestartAction) async throws -> (
        restored: Int, failed: Int
    ) {
        var restored = 0
        var failed = 0
        let now = self.now
        let decoder = JSONDecoder()
        for var row in unfinished {
            /// Ends the row instead of restoring it.
            func end(_ state: RequestState, _ reason: DecisionReason) {
                row.end(state, reason: reason, now: now)
                remember(row, finished: true)
                writer.enqueue(.insert(row))
                failed += 1
            }
            guard let prediction = try? decoder.decode(PredictResponse.self, from: Data(row.prediction.utf8)),
                let body = try? decoder.decode(ChatCompletionRequest.self, from: Data(row.body.utf8))
            else {
                end(
                    .failed,
                    ReasonCode.restartFailed.reason("The stored request could not be read back after a restart."))
                continue
            }
            if row.frontDoor {
                // Its client's connection ended with the process that held it: nobody could read the answer.
                end(
                    .cancelled,
                    ReasonCode.shutdown.reason(
                        "The scheduler stopped before the answer; the client's connection ended with it, so the request is not sent."
                    ))
                continue
            }
            let wasInflight = row.state == RequestState.dispatched.rawValue
            if wasInflight && action == .fail {
                end(
                    .failed,
                    ReasonCode.restartFailed.reason(
                        "The scheduler restarted while the request was in flight (INFLIGHT_ON_RESTART=fail)."))
                continue
            }
            let job = Self.job(row: row, prediction: prediction, body: body)
            let decision = engine.restore(job, now: now)
            row.state = decision.state.rawValue
            row.requestClass = decision.requestClass.rawValue
            row.deadlineMs = decision.deadlineAtMs
            row.decided = true
            if wasInflight {
                row.reasonCode = ReasonCode.restartRequeue.rawValue
                row.reasonMessage = "The scheduler restarted while the request was in flight; it is sent again."
            }
            remember(row, finished: false)
            bodies[row.id] = body
            writer.enqueue(.insert(row))
            restored += 1
        }
        try await writer.flush()
        pump()
        return (restored, failed)
    }

    static func job(row: RequestRow, prediction: PredictResponse, body: ChatCompletionRequest) -> Job {
        // The class is the client's when it gave one; a row stored on arrival but never decided (the process stopped
        // between the write and the engine's decision) has only a provisional class, so without the client's the
        // engine classifies it again. The deadline is the decided or client-given one, or none yet (an undecided row
        // without a client deadline stores its submit time): the engine assigns it from the original submit time.
        Job(
            id: row.id,
            tenantId: row.tenantId,
            requestedClass: (row.requestedClass ?? (row.decided ? row.requestClass : nil)).flatMap(
                RequestClass.init(rawValue:)),
            priority: row.priority,
            submittedAtMs: row.submittedMs,
            deadlineAtMs: row.deadlineMs > row.submittedMs ? row.deadlineMs : nil,
            predictedOutputTokensP50: prediction.expectedOutputTokensP50,
            predictedOutputTokensP90: prediction.expectedOutputTokensP90,
            predictedShortProbability: prediction.pShort,
            promptTokens: prediction.promptTokens,
            maxTokens: body.outputTokenLimit ?? Int.max
        )
    }

    // MARK: - Reading and administration

    func status(_ id: String) async throws -> StatusResponse? {
        if let row = rows[id] { return Self.status(row) }
        return try await store.row(id: id).flatMap(Self.status)
    }

    /// The decisions after `since`: every replica's from the shared log when there is one, else this engine's.
    func events(since: Int, limit: Int) async throws -> EventsResponse {
        if let shared = try await store.events(since: since, limit: limit) { return shared }
        return engine.events(since: since, limit: limit)
    }

    /// The engine's last decision already queued for the shared log.
    private var exportedEventSequence = 0

    /// Queues the engine's new decisions for the shared log, once a tick: `/events` answers from any replica.
    private func exportEvents() {
        let fresh = engine.events(since: exportedEventSequence, limit: max(1, eventCapacity))
        guard !fresh.events.isEmpty else { return }
        exportedEventSequence = fresh.nextSince
        writer.enqueue(.events(fresh.events))
    }

    func metricsSnapshot() -> SchedulerMetricsSnapshot {
        var snapshot = engine.snapshot()
        snapshot.latencyHistogramsMs = histograms.snapshot
        return snapshot
    }

    var policy: SchedulerPolicy { engine.policy }

    /// What the operator page shows: at most `decisionLimit` decisions (of `tenant` when given) and `tenantLimit`
    /// tenants, so its size does not grow with the queue.
    func operatorState(tenant: String?, decisionLimit: Int, tenantLimit: Int) -> OperatorState {
        let now = self.now
        let snapshot = engine.snapshot()
        let waiting = engine.waiting(now: now, tenantLimit: tenantLimit)
        let trust = engine.trust
        return OperatorState(
            generatedUnixMs: now,
            mode: snapshot.mode,
            modeChange: engine.lastModeChange,
            slowdownRatio: snapshot.slowdownRatio,
            rateLimitedShare: snapshot.rateLimitedShare,
            inflightRequests: engine.totalInflightRequests,
            inflightRequestCap: snapshot.inflightRequestCap,
            maxInflightRequests: engine.policy.maxInflightRequests,
            inflightTokensByClass: snapshot.inflightTokensByClass,
            inflightBudgetByClass: snapshot.inflightBudgetByClass,
            queuedTotal: engine.queuedCount,
            waitingByClass: waiting.byClass,
            waitingByTenant: waiting.byTenant,
            tenantsWaiting: waiting.tenants,
            dispatchedTotal: snapshot.dispatchedTotal,
            completedTotal: snapshot.completedTotal,
            failedTotal: snapshot.failedTotal,
            expiredTotal: snapshot.expiredTotal,
            rejectedByReason: snapshot.rejectedByReason,
            deferredByReason: snapshot.deferredByReason ?? [:],
            decisions: engine.latestEvents(limit: decisionLimit, tenant: tenant),
            prediction: PredictionQuality(
                samples: trust.samples, p90Coverage: trust.p90Coverage, rankCorrelation: trust.correlation,
                trust: trust.trust, fallbackLevels: fallbackLevels.counts),
            latency: latencyTimeline.points(now: now)
        )
    }

    /// Validates and applies a configuration document; the running configuration is untouched on error.
    func reconfigure(_ document: SchedulerConfigDocument) throws -> SchedulerConfigDocument {
        let next = try engine.policy.applying(document)
        engine.reconfigure(next, now: now)
        pump()
        return next.document
    }

    /// Starts afresh with the current policy: waiting requests end as failed (`reset`), counters and learned
    /// estimates are cleared. Requests already upstream finish normally.
    func reset() -> Int {
        let now = self.now
        let reason = DecisionReason(code: "reset", message: "The scheduler was reset by an administrator.")
        var dropped = 0
        for (id, row) in rows.sorted(by: { $0.key < $1.key })
        where RequestState(rawValue: row.state)?.isWaitingState == true {
            finishWaiting(id, state: .failed, reason: reason, now: now)
            dropped += 1
        }
        if store.isShared { exportEvents() }
        engine = SchedulerEngine(policy: engine.policy, eventCapacity: eventCapacity)
        exportedEventSequence = 0
        histograms = LatencyHistograms()
        latencyTimeline = LatencyTimeline()
        fallbackLevels = FallbackLevelWindow()
        frontDoorReady = [:]
        return dropped
    }

    static func status(_ row: RequestRow) -> StatusResponse? {
        let decoder = JSONDecoder()
        guard let state = RequestState(rawValue: row.state),
            let requestClass = RequestClass(rawValue: row.requestClass),
            let prediction = try? decoder.decode(PredictResponse.self, from: Data(row.prediction.utf8))
        else { return nil }
        let reason = row.reasonCode.map { DecisionReason(code: $0, message: row.reasonMessage ?? "") }
        let result = row.result.flatMap { try? decoder.decode(RequestResult.self, from: Data($0.utf8)) }
        return StatusResponse(
            requestId: row.id,
            state: state,
            requestClass: requestClass,
            tenantId: row.tenantId,
            model: row.model,
            deadlineUnixMs: row.deadlineMs,
            prediction: prediction,
            reason: reason,
            timings: RequestTimings(
                submittedUnixMs: row.submittedMs,
                dispatchedUnixMs: row.dispatchedMs,
                firstTokenUnixMs: row.firstTokenMs,
                finishedUnixMs: row.finishedMs
            ),
            result: result
        )
    }

    /// A stored JSON column (the prediction, the chat body, the upstream's answer).
    static func json(_ value: some Encodable) -> String {
        (try? StreamingJSONEncoder().encodeToString(value)) ?? "null"
    }
}

extension RequestState {
    /// Waiting in the scheduler, not yet with the upstream.
    var isWaitingState: Bool { self == .queued || self == .deferred }
}
