import Contracts
import Testing

@testable import SchedulerCore

@Suite struct EngineTests {
    private func job(
        _ id: String, _ tokens: Int, at now: Double = 0, tenant: String = "t", requestClass: RequestClass? = nil
    ) -> Job {
        Job(
            id: id, tenantId: tenant, requestedClass: requestClass, submittedAtMs: now, predictedOutputTokensP50: tokens
        )
    }

    @Test func classifiesByPredictedSizeUnlessTheClientSays() {
        let engine = SchedulerEngine()
        #expect(engine.classify(job("a", 100)) == .interactive)
        #expect(engine.classify(job("b", 2000)) == .heavy)
        #expect(engine.classify(job("c", 2000, requestClass: .interactive)) == .interactive)
    }

    @Test func unlabelledWorkIsClassifiedByItsProbabilityOfAShortReply() {
        let engine = SchedulerEngine()
        let threshold = SchedulerPolicy().interactiveMinShortProbability
        func unlabelled(_ pShort: Double?, p50: Int) -> Job {
            Job(id: "x", submittedAtMs: 0, predictedOutputTokensP50: p50, predictedShortProbability: pShort)
        }
        // p_short decides over the p50 when it is given.
        #expect(engine.classify(unlabelled(threshold + 0.05, p50: 900)) == .interactive)
        #expect(engine.classify(unlabelled(threshold - 0.05, p50: 100)) == .heavy)
        #expect(engine.classify(unlabelled(nil, p50: 100)) == .interactive)
        // A client's class still wins.
        var labelled = unlabelled(0.99, p50: 50)
        labelled.requestedClass = .heavy
        #expect(engine.classify(labelled) == .heavy)
    }

    @Test func heavyLabelledWorkConfidentlyPredictedShortIsServedAsInteractiveWithItsHeavyDeadline() {
        var on = SchedulerPolicy()
        on.promoteHeavyMaxP90Tokens = 256
        var engine = SchedulerEngine(policy: on)
        let confident = Job(
            id: "p", requestedClass: .heavy, submittedAtMs: 0, predictedOutputTokensP50: 80,
            predictedOutputTokensP90: 200)
        let unsure = Job(
            id: "u", requestedClass: .heavy, submittedAtMs: 0, predictedOutputTokensP50: 80,
            predictedOutputTokensP90: 600)
        #expect(engine.classify(confident) == .interactive)
        #expect(engine.classify(unsure) == .heavy)
        // An interactive label is never demoted, whatever the prediction.
        #expect(engine.classify(job("i", 5000, requestClass: .interactive)) == .interactive)
        let decision = engine.submit(confident, now: 0)
        #expect(decision.requestClass == .interactive)
        #expect(decision.deadlineAtMs == SchedulerPolicy().deadlineBudgetMs(.heavy))
        #expect(decision.deadlineAtMs != SchedulerPolicy().deadlineBudgetMs(.interactive))
        // Off by default.
        #expect(SchedulerEngine().classify(confident) == .heavy)
    }

    /// The token budgets alone, without the start-up request cap that holds a provider not yet measured.
    static var budgetsOnly: SchedulerPolicy {
        var policy = SchedulerPolicy()
        policy.kneeStartupInflight = 0
        return policy
    }

    @Test func dispatchStaysWithinTheInflightBudgets() {
        var engine = SchedulerEngine(policy: Self.budgetsOnly)
        for index in 0..<100 { _ = engine.submit(job("h\(index)", 1000, requestClass: .heavy), now: 0) }
        let first = engine.nextDispatches(now: 0)
        // Heavy: its own 7000 plus half of the idle interactive 3000.
        #expect(first.count == 8)
        #expect(engine.totalInflightTokens <= 7000 + 1500)
        #expect(engine.nextDispatches(now: 1).isEmpty)
        engine.complete(
            first[0].requestId, outcome: .succeeded(outputTokens: 1000, latencyMs: 20_300, ttftMs: 300), now: 20_000)
        #expect(engine.nextDispatches(now: 20_000).count >= 1)
        #expect(engine.totalInflightTokens <= engine.totalBudgetTokens)
    }

    @Test func shortRequestsGoAtOnceWhileHeavyWorkWaits() {
        var engine = SchedulerEngine(policy: Self.budgetsOnly)
        for index in 0..<50 { _ = engine.submit(job("h\(index)", 1000), now: 0) }
        _ = engine.nextDispatches(now: 0)
        for index in 0..<20 { _ = engine.submit(job("s\(index)", 50, at: 10), now: 10) }
        let next = engine.nextDispatches(now: 10)
        #expect(next.count >= 20)
        #expect(next.prefix(20).allSatisfy { $0.requestClass == .interactive })
        #expect(engine.snapshot().queueLengthByClass["interactive"] == 0)
    }

    @Test func rateLimitedRequestsAreRequeuedAfterTheirBackoff() {
        var engine = SchedulerEngine()
        _ = engine.submit(job("a", 50), now: 0)
        _ = engine.nextDispatches(now: 0)
        let effect = engine.complete("a", outcome: DispatchOutcome(status: .rateLimited, retryAfterMs: 500), now: 100)
        #expect(effect == .requeued)
        #expect(engine.state(of: "a") == .queued)
        #expect(engine.reason(of: "a")?.code == "rate_limited_requeue")
        #expect(engine.nextDispatches(now: 300).isEmpty)
        let retry = engine.nextDispatches(now: 600)
        #expect(retry.map(\.requestId) == ["a"])
        #expect(retry.first?.attempt == 2)
    }

    @Test func rateLimitsBeyondTheAttemptLimitFail() {
        var policy = SchedulerPolicy()
        policy.maxAttempts = 1
        var engine = SchedulerEngine(policy: policy)
        _ = engine.submit(job("a", 50), now: 0)
        _ = engine.nextDispatches(now: 0)
        #expect(engine.complete("a", outcome: DispatchOutcome(status: .rateLimited), now: 100) == .failed)
        #expect(engine.state(of: "a") == nil)
        #expect(engine.snapshot().failedTotal == 1)
        #expect(
            engine.events(since: 0).events.contains { $0.kind == .fail && $0.reason?.code == "rate_limited_exhausted" })
    }

    @Test func waitingRequestsExpireAfterTheirGrace() {
        var policy = SchedulerPolicy()
        policy.maxInflightRequests = 1
        policy.expiryGraceFactor = 0
        var engine = SchedulerEngine(policy: policy)
        _ = engine.submit(
            Job(id: "busy", submittedAtMs: 0, deadlineAtMs: 100_000, predictedOutputTokensP50: 10), now: 0)
        _ = engine.submit(Job(id: "late", submittedAtMs: 0, deadlineAtMs: 1000, predictedOutputTokensP50: 10), now: 0)
        #expect(engine.nextDispatches(now: 0).map(\.requestId) == ["late"])
        _ = engine.submit(Job(id: "later", submittedAtMs: 0, deadlineAtMs: 2000, predictedOutputTokensP50: 10), now: 0)
        #expect(engine.expire(now: 1500).isEmpty)
        let expired = engine.expire(now: 2001)
        #expect(expired.map(\.requestId) == ["later"])
        #expect(expired.first?.reason.code == "deadline_expired")
        #expect(engine.queuedCount == 1)
    }

    @Test func cancellingAWaitingRequestTakesItOutOfTheQueueSoItIsNeverDispatched() {
        var policy = SchedulerPolicy()
        policy.maxInflightRequests = 1
        var engine = SchedulerEngine(policy: policy)
        _ = engine.submit(job("busy", 10), now: 0)
        _ = engine.submit(job("leaver", 10), now: 0)
        #expect(engine.nextDispatches(now: 0).map(\.requestId) == ["busy"])
        let cancelled = engine.cancel("leaver", reason: ReasonCode.clientDisconnected.reason("gone"), now: 10)
        #expect(cancelled)
        #expect(engine.state(of: "leaver") == nil)
        #expect(engine.queuedCount == 0)
        engine.complete("busy", outcome: .succeeded(outputTokens: 10, latencyMs: 100, ttftMs: 20), now: 100)
        #expect(engine.nextDispatches(now: 100).isEmpty)
        #expect(
            engine.events(since: 0).events.contains {
                $0.kind == .cancel && $0.requestId == "leaver" && $0.reason?.code == "client_disconnected"
            })
        let again = engine.cancel("leaver", reason: ReasonCode.clientDisconnected.reason("again"), now: 200)
        #expect(!again)
        #expect(engine.snapshot().cancelledTotal == 1)
        #expect(engine.snapshot().expiredTotal == 0 && engine.snapshot().failedTotal == 0)
    }

    @Test func cancellingAnInflightRequestFreesItsSlotAndLearnsNothing() {
        var policy = SchedulerPolicy()
        policy.maxInflightRequests = 1
        var engine = SchedulerEngine(policy: policy)
        _ = engine.submit(job("leaver", 10), now: 0)
        _ = engine.submit(job("next", 10), now: 0)
        #expect(engine.nextDispatches(now: 0).map(\.requestId) == ["leaver"])
        let learned = engine.model.msPerOutputToken
        let cancelled = engine.cancel("leaver", reason: ReasonCode.clientDisconnected.reason("gone"), now: 50)
        #expect(cancelled)
        #expect(engine.totalInflightTokens == 0)
        #expect(engine.model.msPerOutputToken == learned)
        #expect(engine.nextDispatches(now: 50).map(\.requestId) == ["next"])
        #expect(engine.snapshot().cancelledTotal == 1)
        // An answer that still arrives for it changes nothing.
        #expect(
            engine.complete("leaver", outcome: .succeeded(outputTokens: 10, latencyMs: 100, ttftMs: 20), now: 100)
                == .unknown)
    }

    @Test func ladderRejectsOutsizedWorkWhenCongestedAndDefersLargeWork() {
        var engine = SchedulerEngine()
        // Teach a 6× slowdown: first a fast baseline, then slow completions.
        _ = engine.submit(job("warm", 10), now: 0)
        _ = engine.nextDispatches(now: 0)
        engine.complete("warm", outcome: .succeeded(outputTokens: 101, latencyMs: 1100, ttftMs: 100), now: 1)
        for index in 0..<40 {
            _ = engine.submit(job("w\(index)", 10), now: Double(index))
            _ = engine.nextDispatches(now: Double(index))
            engine.complete(
                "w\(index)", outcome: .succeeded(outputTokens: 101, latencyMs: 6100, ttftMs: 100),
                now: 2000 + Double(index) * 100)
        }
        #expect(engine.mode == .congested)
        let rejected = engine.submit(Job(id: "huge", submittedAtMs: 6000, predictedOutputTokensP50: 30_000), now: 6000)
        #expect(rejected.state == .rejected)
        #expect(rejected.reason?.code == "ladder_reject")
        #expect(rejected.retryAfterMs != nil)
        let deferred = engine.submit(
            Job(id: "big", submittedAtMs: 6000, predictedOutputTokensP50: 4000, promptTokens: 6000), now: 6000)
        #expect(deferred.state == .deferred)
        #expect(engine.snapshot().rejectedByReason["ladder_reject"] == 1)
        // Deferred work still goes when nothing else waits.
        #expect(engine.nextDispatches(now: 6001).map(\.requestId) == ["big"])
    }

    @Test func identicalInputsGiveIdenticalDecisions() {
        func run() -> [String] {
            var engine = SchedulerEngine()
            var order: [String] = []
            for step in 0..<300 {
                let now = Double(step) * 50
                let tokens = [20, 80, 400, 1500, 60][step % 5]
                _ = engine.submit(job("r\(step)", tokens, at: now, tenant: "t\(step % 3)"), now: now)
                for dispatch in engine.nextDispatches(now: now) {
                    order.append(dispatch.requestId)
                }
                if step % 2 == 0, let first = order.dropLast(2).last {
                    engine.complete(
                        first, outcome: .succeeded(outputTokens: 100, latencyMs: 2000, ttftMs: 200), now: now)
                }
            }
            return order
        }
        #expect(run() == run())
    }

    @Test func policyDocumentRoundTripsAndNamesBadFields() throws {
        let policy = SchedulerPolicy()
        let same = try policy.applying(policy.document)
        #expect(same == policy)
        var bad = SchedulerConfigDocument()
        bad.allocationPolicy = "lottery"
        #expect(throws: PolicyValidationError.self) { try policy.applying(bad) }
        do {
            _ = try policy.applying(SchedulerConfigDocument(extra: ["moderate_exit_ratio": .number(5)]))
            Issue.record("accepted an exit ratio above the entry ratio")
        } catch {
            #expect((error as? PolicyValidationError)?.field == "moderate_exit_ratio")
        }
        do {
            _ = try policy.applying(
                SchedulerConfigDocument(ladder: [
                    LadderRungDocument(maxCost: nil, free: .admit, moderate: .admit, congested: .admit),
                    LadderRungDocument(maxCost: 10, free: .admit, moderate: .admit, congested: .admit),
                ]))
            Issue.record("accepted an unbounded rung before the last")
        } catch {
            #expect((error as? PolicyValidationError)?.field == "ladder[0].max_cost")
        }
        let changed = try policy.applying(
            SchedulerConfigDocument(orderingPolicy: "edf", extra: ["drr_age_gain": .number(3)]))
        #expect(changed.ordering == .edf)
        #expect(changed.drrAgeGain == 3)
    }

    @Test func reconfigureReranksWaitingWork() throws {
        var policy = SchedulerPolicy()
        policy.maxInflightRequests = 1
        policy.ordering = .fifo
        var engine = SchedulerEngine(policy: policy)
        _ = engine.submit(job("busy", 10, requestClass: .heavy), now: 0)
        _ = engine.nextDispatches(now: 0)
        _ = engine.submit(job("big", 900, at: 1, requestClass: .heavy), now: 1)
        _ = engine.submit(job("small", 10, at: 2, requestClass: .heavy), now: 2)
        engine.reconfigure(try policy.applying(SchedulerConfigDocument(orderingPolicy: "shortest_first")), now: 3)
        engine.complete("busy", outcome: .succeeded(outputTokens: 10, latencyMs: 500), now: 4)
        #expect(engine.nextDispatches(now: 4).map(\.requestId) == ["small"])
    }
}
