import Contracts
import Testing

@testable import SchedulerCore

/// The knee estimator alone, and the engine driving a fluid model of a provider whose time per token grows past a
/// knee of 16 requests: tpot(n) = 20 ms · (1 + max(0, n − 16) / 16).
@Suite struct KneeTests {
    static let knee = 16.0
    static func tpot(_ inflight: Double) -> Double { 20 * (1 + max(0, inflight - knee) / knee) }

    @Test func theCapStaysOffUntilTheProviderIsSeenSaturated() {
        var policy = SchedulerPolicy()
        policy.kneeStartupInflight = 0
        var estimator = KneeEstimator(policy: policy)
        for step in 0..<50 {
            estimator.observe(
                averageInflight: 8, msPerOutputToken: 20.5, baselineMsPerOutputToken: 20, now: Double(step) * 100)
        }
        #expect(estimator.inflightCap(baselineMsPerOutputToken: 20, now: 5000) == nil)
        #expect(!estimator.engaged)
    }

    @Test func pastTheKneeTheCapCruisesAtTheKneeAndProbesAboveItByTheGain() {
        for inflight in [24.0, 40.0, 64.0] {
            var estimator = KneeEstimator(policy: SchedulerPolicy())
            for step in 0..<40 {
                estimator.observe(
                    averageInflight: inflight, msPerOutputToken: Self.tpot(inflight), baselineMsPerOutputToken: 20,
                    now: Double(step) * 100)
            }
            // Cruising: the knee, 16 requests, for heavy work too.
            #expect(!estimator.probing(now: 4000))
            #expect(estimator.inflightCap(baselineMsPerOutputToken: 20, now: 4000) == 16, "at \(inflight) in flight")
            #expect(estimator.heavyCap(baselineMsPerOutputToken: 20, now: 4000) == 16, "at \(inflight) in flight")
            // An eighth of each 30 s window since the cap engaged, from a quarter of the way in (7.5–11.25 s),
            // probes: 1.05 × 16 = 16.8 → 17 requests, and heavy work stops at the knee.
            #expect(!estimator.probing(now: 7_000))
            #expect(estimator.probing(now: 9_000))
            #expect(estimator.inflightCap(baselineMsPerOutputToken: 20, now: 9_000) == 17, "at \(inflight) in flight")
            #expect(estimator.heavyCap(baselineMsPerOutputToken: 20, now: 9_000) == 16, "at \(inflight) in flight")
            #expect(!estimator.probing(now: 12_000))
            #expect(estimator.probing(now: 39_000))
        }
    }

    @Test func aCapBelowTheKneeClimbsBackWhileItProbes() {
        var estimator = KneeEstimator(policy: SchedulerPolicy())
        // Saturated once (engages); then the window only holds samples taken with 8 in flight.
        estimator.observe(averageInflight: 32, msPerOutputToken: Self.tpot(32), baselineMsPerOutputToken: 20, now: 0)
        var now = 30_000.0
        for _ in 0..<300 {
            now += 100
            estimator.observe(
                averageInflight: 8, msPerOutputToken: Self.tpot(8), baselineMsPerOutputToken: 20, now: now)
        }
        #expect(estimator.inflightCap(baselineMsPerOutputToken: 20, now: now) == 8)
        // From here each sample is taken at the cap of its moment: cruising holds it, each probe raises it.
        var caps: [Int] = []
        for _ in 0..<3600 {
            now += 100
            let cap = estimator.inflightCap(baselineMsPerOutputToken: 20, now: now)!
            caps.append(cap)
            estimator.observe(
                averageInflight: Double(cap), msPerOutputToken: Self.tpot(Double(cap)), baselineMsPerOutputToken: 20,
                now: now)
        }
        // The window's cycle counts from engagement (at 0): at 60 s a new one starts, and its probe comes 7.5 s in.
        #expect(caps.prefix(74).allSatisfy { $0 == 8 }, "\(caps.prefix(74))")
        #expect(caps[74...80].contains { $0 > 8 }, "\(caps[74...80])")
        #expect(caps.suffix(300).allSatisfy { $0 >= 16 && $0 <= 17 }, "\(caps.suffix(300))")
    }

    @Test func aRampAtStartUpDoesNotLeaveTheCapBelowTheKneeItServedAtFullSpeed() {
        var estimator = KneeEstimator(policy: SchedulerPolicy())
        // Start-up: samples from 4 to 16 in flight at full speed, then a few past the knee, slowed down (engages).
        var now = 0.0
        for inflight in 4...16 {
            for _ in 0..<10 {
                now += 100
                estimator.observe(
                    averageInflight: Double(inflight), msPerOutputToken: 20, baselineMsPerOutputToken: 20, now: now)
            }
        }
        for _ in 0..<5 {
            now += 100
            estimator.observe(
                averageInflight: 22, msPerOutputToken: Self.tpot(22) * 1.5, baselineMsPerOutputToken: 20, now: now)
        }
        #expect(estimator.engaged)
        // Most samples read below the knee (a ramp), yet 16 ran at full speed: the cap cruises at 16.
        #expect(estimator.inflightCap(baselineMsPerOutputToken: 20, now: now) == 16)
        // The provider slows down with fewer in flight: the floor goes, and the cap follows the new samples.
        for _ in 0..<300 {
            now += 100
            estimator.observe(
                averageInflight: 12, msPerOutputToken: 40, baselineMsPerOutputToken: 20, now: now)
        }
        #expect(estimator.inflightCap(baselineMsPerOutputToken: 20, now: now)! <= 8)
    }

    @Test func aStaleEstimateGrowsSoAFasterProviderIsFoundAgain() {
        var estimator = KneeEstimator(policy: SchedulerPolicy())
        estimator.observe(averageInflight: 32, msPerOutputToken: Self.tpot(32), baselineMsPerOutputToken: 20, now: 0)
        let fresh = estimator.bottleneckTokensPerMs(now: 1000)!
        #expect(estimator.bottleneckTokensPerMs(now: 30_000) == fresh)
        // Two windows after the window ran out: +25% per window.
        let stale = estimator.bottleneckTokensPerMs(now: 90_000)!
        #expect(abs(stale / fresh - 1.5) < 1e-9)
    }

    /// Runs the engine against the fluid provider: `heavy` long requests queued at time 0, then short interactive
    /// requests arriving every `interactiveEveryMs`. Returns the time-averaged in-flight count after warm-up, the
    /// longest wait of an interactive request in the queue after warm-up, and when the last heavy request finished.
    private func run(policy: SchedulerPolicy, heavy: Int, interactive: Int, interactiveEveryMs: Double) -> (
        averageInflight: Double, worstInteractiveWaitMs: Double, makespanMs: Double
    ) {
        var engine = SchedulerEngine(policy: policy, eventCapacity: 0)
        struct Running {
            var remaining: Double
            var tokens: Int
            var dispatchedAt: Double
            var ttftAt: Double
        }
        var running: [String: Running] = [:]
        var submittedAt: [String: Double] = [:]
        var worstWait = 0.0
        var area = 0.0
        var lastHeavyDone = 0.0
        for index in 0..<heavy {
            _ = engine.submit(
                Job(
                    id: "h\(index)", tenantId: "t", requestedClass: .heavy, submittedAtMs: 0,
                    predictedOutputTokensP50: 600), now: 0)
        }
        var nextInteractive = 0
        let step = 10.0
        var now = 0.0
        while now < 600_000 {
            while nextInteractive < interactive, Double(nextInteractive + 1) * interactiveEveryMs <= now {
                let id = "i\(nextInteractive)"
                _ = engine.submit(
                    Job(
                        id: id, tenantId: "t", requestedClass: .interactive, submittedAtMs: now,
                        predictedOutputTokensP50: 100), now: now)
                submittedAt[id] = now
                nextInteractive += 1
            }
            for dispatch in engine.nextDispatches(now: now) {
                let tokens = dispatch.requestClass == .heavy ? 600 : 100
                running[dispatch.requestId] = Running(
                    remaining: Double(tokens), tokens: tokens, dispatchedAt: now, ttftAt: now + 300)
                if let submitted = submittedAt[dispatch.requestId], now > 60_000 {
                    worstWait = max(worstWait, now - submitted)
                }
            }
            let perToken = Self.tpot(Double(running.count))
            if now > 60_000 { area += Double(running.count) * step }
            for (id, request) in running.sorted(by: { $0.key < $1.key }) {
                guard now >= request.ttftAt else { continue }
                let left = request.remaining - step / perToken
                if left <= 0 {
                    running[id] = nil
                    if id.hasPrefix("h") { lastHeavyDone = now }
                    engine.complete(
                        id,
                        outcome: .succeeded(
                            outputTokens: request.tokens, latencyMs: now - request.dispatchedAt, ttftMs: 300), now: now)
                } else {
                    running[id]!.remaining = left
                }
            }
            if nextInteractive == interactive, running.isEmpty, engine.queuedCount == 0 { break }
            now += step
        }
        return (area / max(1, min(now, lastHeavyDone) - 60_000), worstWait, lastHeavyDone)
    }

    @Test func theEngineHoldsTheProviderNearItsKneeAndKeepsTheMarginForInteractiveWork() {
        let result = run(policy: SchedulerPolicy(), heavy: 200, interactive: 100, interactiveEveryMs: 1500)
        // Far fewer than the budgets alone would send (7000 + 3000 tokens ≈ 15–100 requests): the knee itself, where
        // answers run at full speed, but for an eighth of the time, when the cap probes one above it, and the moments
        // between an answer's end and the next dispatch.
        #expect(
            result.averageInflight >= 15 && result.averageInflight <= 17, "average in flight \(result.averageInflight)")
        // Heavy work stops at the knee, and with no interactive request in flight one more may start, so a short
        // request finds a slot within about one short answer, never behind a long one (600 tokens: 12 s and more).
        #expect(result.worstInteractiveWaitMs <= 3000, "worst interactive wait \(result.worstInteractiveWaitMs) ms")
    }

    @Test func withTheKneeCapOffTheBudgetsAloneOvershootTheKnee() {
        // The knee cap alone: the start-up cap, which holds any provider for its first round trips, is off in both.
        var knee = SchedulerPolicy()
        knee.kneeStartupInflight = 0
        var policy = knee
        policy.kneeGain = 0
        let capped = run(policy: knee, heavy: 200, interactive: 100, interactiveEveryMs: 1500)
        let uncapped = run(policy: policy, heavy: 200, interactive: 100, interactiveEveryMs: 1500)
        #expect(
            uncapped.averageInflight > capped.averageInflight + 2,
            "\(uncapped.averageInflight) vs \(capped.averageInflight)")
        // Throughput is flat past this provider's knee, so holding it at the knee costs (almost) no time.
        #expect(capped.makespanMs <= uncapped.makespanMs * 1.05, "\(capped.makespanMs) vs \(uncapped.makespanMs)")
    }

    /// A burst into an unknown provider whose time per token grows four times as fast past its knee of 16 (the
    /// benchmark's congested provider), every answer streamed: 90 requests at once, every third one short. The
    /// start-up cap grows with each first token that came on time; returns the most requests ever in flight, how long
    /// more than 18 were, and when the last answer ended. `progress`: the scheduler hears every 32 tokens of each
    /// answer, not only its end.
    private func burst(progress: Bool) -> (maxInflight: Int, pastKneeMs: Double, makespanMs: Double) {
        func tpot(_ inflight: Int) -> Double { 20 * (1 + 4 * max(0, Double(inflight) - 16) / 16) }
        var engine = SchedulerEngine(policy: SchedulerPolicy(), eventCapacity: 0)
        struct Running {
            var produced = 0.0
            var tokens: Int
            var dispatchedAt: Double
            var reported = 0
        }
        var running: [String: Running] = [:]
        func tokens(_ id: String) -> Int { Int(id)! % 3 == 0 ? 100 : 600 }
        for index in 0..<90 {
            let tokens = tokens(String(index))
            _ = engine.submit(
                Job(
                    id: String(index), submittedAtMs: Double(index), deadlineAtMs: 3_600_000,
                    predictedOutputTokensP50: tokens, maxTokens: 2048), now: Double(index))
        }
        var maxInflight = 0
        var pastKneeMs = 0.0
        var now = 0.0
        let step = 10.0
        while now < 900_000 {
            for dispatch in engine.nextDispatches(now: now) {
                running[dispatch.requestId] = Running(tokens: tokens(dispatch.requestId), dispatchedAt: now)
            }
            maxInflight = max(maxInflight, running.count)
            if running.count > 18 { pastKneeMs += step }
            if running.isEmpty, engine.queuedCount == 0 { break }
            let perToken = tpot(running.count)
            now += step
            for (id, request) in running.sorted(by: { $0.key < $1.key }) {
                let elapsed = now - request.dispatchedAt
                guard elapsed >= 300 else { continue }
                if request.produced == 0 { engine.firstToken(id, now: now) }
                running[id]!.produced += step / perToken
                let produced = Int(running[id]!.produced)
                if progress, produced >= request.reported + 32, produced < request.tokens {
                    running[id]!.reported = produced
                    engine.progress(id, chunks: produced, now: now)
                }
                if running[id]!.produced >= Double(request.tokens) {
                    running[id] = nil
                    engine.complete(
                        id,
                        outcome: .succeeded(
                            outputTokens: request.tokens, latencyMs: elapsed, ttftMs: 300,
                            streamedChunks: request.tokens),
                        now: now)
                }
            }
        }
        return (maxInflight, pastKneeMs, now)
    }

    @Test func answersStillStreamingShowTheProviderSlowingSoTheStartUpDoesNotOvershootItsKnee() {
        let heard = burst(progress: true)
        let ended = burst(progress: false)
        // Heard only when answers end, the start-up cap grows on for a whole answer past the knee; heard every 32
        // tokens, the slowdown is seen within a few hundred milliseconds of it.
        #expect(heard.maxInflight < ended.maxInflight, "\(heard) \(ended)")
        #expect(heard.pastKneeMs * 3 < ended.pastKneeMs, "\(heard) \(ended)")
        #expect(heard.makespanMs < ended.makespanMs, "\(heard) \(ended)")
    }

    @Test func chunksCarryingSeveralTokensAreNotTakenForASlowProvider() {
        // A provider that streams three tokens a chunk at its uncongested speed, 20 ms a token.
        var engine = SchedulerEngine(policy: SchedulerPolicy())
        for index in 0..<5 {
            _ = engine.submit(
                Job(
                    id: "r\(index)", requestedClass: .interactive, submittedAtMs: 0, deadlineAtMs: 3_600_000,
                    predictedOutputTokensP50: 300), now: 0)
        }
        let sent = engine.nextDispatches(now: 0).map(\.requestId)
        #expect(sent.count == 4)
        // Three answers of 300 tokens (100 chunks) teach the baselines and the tokens a chunk carries.
        for (index, id) in sent.prefix(3).enumerated() {
            engine.firstToken(id, now: 300)
            engine.complete(
                id, outcome: .succeeded(outputTokens: 300, latencyMs: 6_280, ttftMs: 300, streamedChunks: 100),
                now: 6_280 + Double(index))
        }
        #expect(engine.model.baselineReady)
        // The fourth streams on at the same speed: its first count starts the clock, and the next 32 chunks in
        // 1,920 ms are 96 tokens, not 32 slow ones.
        engine.firstToken(sent[3], now: 300)
        engine.progress(sent[3], chunks: 32, now: 2_220)
        engine.progress(sent[3], chunks: 64, now: 4_140)
        #expect(!engine.knee.engaged)
        // Three times slower per token: seen before the answer ends.
        engine.progress(sent[3], chunks: 96, now: 4_140 + 3 * 1_920)
        #expect(engine.knee.engaged)
    }
}
