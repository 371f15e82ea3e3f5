import Contracts
import Testing

@testable import SchedulerCore

/// A provider that queues instead of slowing down (a fixed number of slots, a hidden FIFO line behind them): the
/// estimator finds its slots from late first tokens, the baselines are not learned from queued answers, and the engine
/// holds such a provider near its slots so that its own queue, not the provider's, decides the order.
@Suite struct QueueingProviderTests {
    /// Completions 100 ms apart, each sent with `inflight` requests in flight, flat per-token time (20 ms), a mean
    /// service time of 5 s, and this wait for the first token.
    static func observe(_ estimator: inout KneeEstimator, inflight: Int, delayMs: Double, steps: Range<Int>) {
        for step in steps {
            estimator.observe(
                averageInflight: Double(inflight), msPerOutputToken: 20, baselineMsPerOutputToken: 20,
                queueing: .init(inflightAtDispatch: inflight, delayMs: delayMs, meanServiceMs: 5_000),
                now: Double(step) * 100)
        }
    }

    @Test func lateFirstTokensEngageTheCapAtTheProvidersSlots() {
        var estimator = KneeEstimator(policy: SchedulerPolicy())
        // Sent with 8 in flight, waited three service times: 8 · S / (3S + S) = 2 slots. Per-token time is flat.
        Self.observe(&estimator, inflight: 8, delayMs: 15_000, steps: 0..<20)
        #expect(estimator.engaged)
        #expect(estimator.queueing)
        let caps = estimator.caps(baselineMsPerOutputToken: 20, now: 2_000)
        // 1.2 × 2 → 3 in flight; heavy work keeps to the two slots; no floor of 4, which would only deepen the line.
        #expect(caps?.total == 3)
        #expect(caps?.heavy == 2)
    }

    @Test func firstTokensThatWaitedCountTheSlotsInServiceOverTheFormula() {
        var estimator = KneeEstimator(policy: SchedulerPolicy())
        // Long answers hold the slots and the line clears slowly: the formula reads 16 · S / (3S + S) = 4 slots.
        Self.observe(&estimator, inflight: 16, delayMs: 15_000, steps: 0..<10)
        #expect(abs(estimator.knee(baselineMsPerOutputToken: 20, now: 1_000)! - 4) < 1e-9)
        // Yet each first token that waited found 12 requests streaming (one found 11, its neighbour still in prefill).
        let waited = KneeEstimator.Queueing(inflightAtDispatch: 16, delayMs: 15_000, meanServiceMs: 5_000)
        for (step, serving) in [12, 11, 12, 12, 12, 12, 12, 12, 12, 12].enumerated() {
            estimator.observeServing(
                serving, waited: waited, baselineMsPerOutputToken: 20, now: 1_000 + Double(step) * 100)
        }
        #expect(abs(estimator.knee(baselineMsPerOutputToken: 20, now: 2_000)! - 12) < 1e-9)
        #expect(estimator.caps(baselineMsPerOutputToken: 20, now: 2_000)?.total == 13)
        // A first token that came without waiting counts nothing: the streaming count is then below the slots.
        estimator.observeServing(
            3, waited: .init(inflightAtDispatch: 3, delayMs: 0, meanServiceMs: 5_000), baselineMsPerOutputToken: 20,
            now: 2_100)
        #expect(abs(estimator.knee(baselineMsPerOutputToken: 20, now: 2_100)! - 12) < 1e-9)
        // Counts age out with the window, and the formula's samples (also aged out) leave the grown last estimate.
        let later = 2_000 + SchedulerPolicy().kneeWindowMs + 1
        #expect(estimator.knee(baselineMsPerOutputToken: 20, now: later)! >= 12)
    }

    @Test func aFirstTokenThatWaitedEngagesTheCapBeforeAnyCompletion() {
        var estimator = KneeEstimator(policy: SchedulerPolicy())
        #expect(!estimator.engaged)
        estimator.observeServing(
            2, waited: .init(inflightAtDispatch: 6, delayMs: 4_000, meanServiceMs: 5_000), baselineMsPerOutputToken: 20,
            now: 0)
        #expect(estimator.engaged)
        #expect(estimator.queueing)
        #expect(estimator.caps(baselineMsPerOutputToken: 20, now: 0)?.total == 3)
    }

    @Test func aRequestThatDidNotQueueRaisesTheSlotsButNeverLowersThem() {
        var estimator = KneeEstimator(policy: SchedulerPolicy())
        Self.observe(&estimator, inflight: 12, delayMs: 5_000, steps: 0..<20)
        let knee = estimator.knee(baselineMsPerOutputToken: 20, now: 2_000)!
        #expect(abs(knee - 6) < 1e-9)
        // Held below its slots, nothing queues and every sample reads low: the estimate stays.
        Self.observe(&estimator, inflight: 3, delayMs: 0, steps: 20..<60)
        #expect(estimator.knee(baselineMsPerOutputToken: 20, now: 6_000)! >= knee)
        // Sent with 9 in flight without queueing: at least 9 slots.
        estimator.observe(
            averageInflight: 9, msPerOutputToken: 20, baselineMsPerOutputToken: 20,
            queueing: .init(inflightAtDispatch: 9, delayMs: 0, meanServiceMs: 5_000), now: 6_100)
        #expect(estimator.knee(baselineMsPerOutputToken: 20, now: 6_100)! >= 9)
    }

    @Test func theStartUpCapHoldsAnUnknownProviderAndGrowsByOnePerCleanCompletion() {
        var estimator = KneeEstimator(policy: SchedulerPolicy())
        #expect(estimator.caps(baselineMsPerOutputToken: 20, now: 0)?.total == 4)
        for step in 0..<4 {
            estimator.observe(
                averageInflight: 4, msPerOutputToken: 20, baselineMsPerOutputToken: 20,
                queueing: .init(inflightAtDispatch: 4, delayMs: 0, meanServiceMs: 5_000), now: Double(step))
        }
        #expect(estimator.caps(baselineMsPerOutputToken: 20, now: 4)?.total == 8)
        // A client using less than half of it learns nothing about the provider: no growth.
        estimator.observe(
            averageInflight: 2, msPerOutputToken: 20, baselineMsPerOutputToken: 20,
            queueing: .init(inflightAtDispatch: 2, delayMs: 0, meanServiceMs: 5_000), now: 5)
        #expect(estimator.caps(baselineMsPerOutputToken: 20, now: 5)?.total == 8)
        #expect(!estimator.engaged)
    }

    @Test func quickFirstTokensGrowTheStartUpCapUpToTwiceWhatCleanCompletionsShowed() {
        var estimator = KneeEstimator(policy: SchedulerPolicy())
        // Sent into a cap it did not fill: says nothing about room for more.
        let intoRoom = estimator.observeFirstToken(inflightAtDispatch: 2, ttftMs: 300, toleranceMs: 75)
        #expect(!intoRoom)
        // Sent into a full cap, its first token came as quickly as any: one more.
        let intoFullCap = estimator.observeFirstToken(inflightAtDispatch: 4, ttftMs: 320, toleranceMs: 75)
        #expect(intoFullCap)
        #expect(estimator.startupCap == 5)
        // A first token that waited a service time in the provider's line: no growth.
        let waited = estimator.observeFirstToken(inflightAtDispatch: 5, ttftMs: 5_300, toleranceMs: 75)
        #expect(!waited)
        for _ in 0..<10 {
            estimator.observeFirstToken(inflightAtDispatch: estimator.startupCap, ttftMs: 300, toleranceMs: 75)
        }
        // A provider that slows down instead of queueing sends first tokens on time: first tokens alone never take the
        // cap past twice what a clean completion was sent with (the initial cap until then).
        #expect(estimator.startupCap == 8)
        estimator.observe(
            averageInflight: 8, msPerOutputToken: 20, baselineMsPerOutputToken: 20,
            queueing: .init(inflightAtDispatch: 8, delayMs: 0, meanServiceMs: 5_000), now: 1)
        for _ in 0..<20 {
            estimator.observeFirstToken(inflightAtDispatch: estimator.startupCap, ttftMs: 300, toleranceMs: 75)
        }
        #expect(estimator.startupCap == 16)
        #expect(!estimator.engaged)
    }

    @Test func theEngineSendsMoreOnlyWhenFirstTokensComeBackWithoutWaiting() {
        func run(ttftMs: Double) -> Int {
            var engine = SchedulerEngine(policy: SchedulerPolicy())
            for index in 0..<12 {
                _ = engine.submit(
                    Job(
                        id: "r\(index)", submittedAtMs: 0, deadlineAtMs: 3_600_000, predictedOutputTokensP50: 100,
                        predictedOutputTokensP90: 200, maxTokens: 2048),
                    now: 0)
            }
            var sent = engine.nextDispatches(now: 0).map(\.requestId)
            #expect(sent.count == 4)
            // The first answer sets the yardstick for a first token that did not wait.
            engine.firstToken(sent[0], now: 300)
            for id in sent.dropFirst() { engine.firstToken(id, now: ttftMs) }
            sent += engine.nextDispatches(now: ttftMs).map(\.requestId)
            return sent.count
        }
        // A provider with free slots: the request that filled the cap lets one more go (the others were sent into a cap
        // with room left, which shows nothing).
        #expect(run(ttftMs: 310) == 5)
        // One slot: the others' first tokens came after a whole answer; the cap stays.
        #expect(run(ttftMs: 5_300) == 4)
    }

    @Test func baselinesStartFromTheLowestOfTheFirstAnswersNotFromTheFirst() {
        var model = ServiceTimeModel(policy: SchedulerPolicy())
        // The first answer waited in the provider's queue for 4 s.
        model.observe(outputTokens: 101, latencyMs: 6_500, ttftMs: 4_500)
        #expect(!model.baselineReady)
        #expect(model.baselineTtftMs == SchedulerPolicy().priorTtftMs)
        model.observe(outputTokens: 101, latencyMs: 2_500, ttftMs: 500)
        model.observe(outputTokens: 101, latencyMs: 2_600, ttftMs: 600)
        #expect(model.baselineReady)
        #expect(model.baselineTtftMs == 500)
        #expect(model.queueDelayMs(ttftMs: 4_500) == 4_000)
        // A queued answer teaches the current estimates but not the baseline.
        model.observe(outputTokens: 101, latencyMs: 20_000, ttftMs: 18_000, queued: true)
        #expect(model.baselineTtftMs == 500)
        #expect(model.ttftMs > 500)
    }

    /// One slot, a FIFO line behind it, 20 ms per token, 300 ms to the first token: a burst of 20 long and 20 short
    /// requests (interleaved, one every 50 ms), predicted well, with no class from the client.
    private func burst(policy: SchedulerPolicy) -> (
        shortDone: [Double], longDone: [Double], maxCapAfterEngaged: Int, engaged: Bool, queueing: Bool,
        paced: (whileHeld: Int, otherwise: Int, unpacedWhileHeld: Int)
    ) {
        var engine = SchedulerEngine(policy: policy, eventCapacity: 0)
        var tokens: [String: Int] = [:]
        var slotFreeAt = 0.0
        var shortDone: [Double] = []
        var longDone: [Double] = []
        var maxCap = 0
        var paced = (whileHeld: 0, otherwise: 0, unpacedWhileHeld: 0)
        var completions: [(at: Double, id: String, sentAt: Double, ttftAt: Double)] = []
        var arrived = 0
        var now = 0.0
        while shortDone.count + longDone.count < 40 {
            let nextArrival = arrived < 40 ? Double(arrived) * 50 : .infinity
            let nextCompletion = completions.first?.at ?? .infinity
            guard nextArrival.isFinite || nextCompletion.isFinite else { break }
            if nextArrival <= nextCompletion {
                now = nextArrival
                let short = arrived % 2 == 1
                let id = (short ? "s" : "l") + String(arrived)
                tokens[id] = short ? 20 : 400
                _ = engine.submit(
                    Job(
                        id: id, submittedAtMs: now, deadlineAtMs: 3_600_000, predictedOutputTokensP50: short ? 25 : 350,
                        predictedOutputTokensP90: short ? 60 : 700, predictedShortProbability: short ? 0.9 : 0.05,
                        maxTokens: 2048),
                    now: now)
                arrived += 1
            } else {
                let next = completions.removeFirst()
                now = next.at
                engine.complete(
                    next.id,
                    outcome: .succeeded(
                        outputTokens: tokens[next.id]!, latencyMs: now - next.sentAt, ttftMs: next.ttftAt - next.sentAt),
                    now: now)
                if next.id.hasPrefix("s") { shortDone.append(now) } else { longDone.append(now) }
            }
            // The provider serves in the order it was sent requests; each holds the slot for 300 + 20·(tokens − 1) ms.
            let held = engine.knee.engaged && engine.knee.queueing
            for dispatch in engine.nextDispatches(now: now) {
                if dispatch.pacedAtSlots {
                    if held { paced.whileHeld += 1 } else { paced.otherwise += 1 }
                } else if held {
                    paced.unpacedWhileHeld += 1
                }
                let ttftAt = max(slotFreeAt, now) + 300
                slotFreeAt = ttftAt + 20 * Double(tokens[dispatch.requestId]! - 1)
                completions.append((slotFreeAt, dispatch.requestId, now, ttftAt))
            }
            if engine.knee.engaged { maxCap = max(maxCap, engine.requestCaps(now: now).total) }
        }
        return (shortDone, longDone, maxCap, engine.knee.engaged, engine.knee.queueing, paced)
    }

    @Test func aBurstIntoOneSlotIsHeldInTheSchedulerWhereShortWorkGoesFirst() {
        let result = burst(policy: SchedulerPolicy())
        #expect(result.shortDone.count == 20 && result.longDone.count == 20)
        #expect(result.engaged && result.queueing)
        // Once the slots are known the provider's own line holds at most two requests beside the one it serves.
        #expect(result.maxCapAfterEngaged <= 3, "cap up to \(result.maxCapAfterEngaged)")
        // Calls sent while the scheduler holds the provider at its slots tell the proxy so; no others do.
        #expect(result.paced.whileHeld > 0)
        #expect(result.paced.otherwise == 0 && result.paced.unpacedWhileHeld == 0)
        // Short answers finish ahead of most long ones; with everything sent at once they would be spread over the
        // whole burst.
        let shortMedian = result.shortDone.sorted()[10]
        let longMedian = result.longDone.sorted()[10]
        #expect(shortMedian < longMedian / 3, "short median \(shortMedian) ms, long median \(longMedian) ms")
    }

    @Test func withoutTheStartUpCapTheBurstLandsWholeInTheProvidersLine() {
        var policy = SchedulerPolicy()
        policy.kneeStartupInflight = 0
        let uncapped = burst(policy: policy)
        let capped = burst(policy: SchedulerPolicy())
        let uncappedShortMedian = uncapped.shortDone.sorted()[10]
        let cappedShortMedian = capped.shortDone.sorted()[10]
        #expect(cappedShortMedian < uncappedShortMedian, "\(cappedShortMedian) vs \(uncappedShortMedian) ms")
    }
}
