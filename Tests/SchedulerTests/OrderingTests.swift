import Contracts
import Testing

@testable import SchedulerCore

@Suite struct OrderingTests {
    /// An engine that sends one request at a time, with a fixed service-time model (20 ms/token, 300 ms TTFT).
    private func serialEngine(_ ordering: OrderingPolicyName, sizeWeight: Double = 1) -> SchedulerEngine {
        var policy = SchedulerPolicy()
        policy.ordering = ordering
        policy.feasibleSizeWeight = sizeWeight
        policy.maxInflightRequests = 1
        return SchedulerEngine(policy: policy)
    }

    /// Dispatches and completes everything, returning the dispatch order.
    private func drain(_ engine: inout SchedulerEngine, from start: Double) -> [String] {
        var order: [String] = []
        var now = start
        while engine.queuedCount > 0 {
            let batch = engine.nextDispatches(now: now)
            if batch.isEmpty { break }
            for dispatch in batch {
                order.append(dispatch.requestId)
                now += 10
                engine.complete(
                    dispatch.requestId, outcome: .succeeded(outputTokens: 5, latencyMs: 400, ttftMs: 300), now: now)
            }
        }
        return order
    }

    @Test func feasibleSetServesRequestsThatCanStillMeetTheirDeadlineFirst() {
        // Size weight 2: at equal deadlines the shorter request goes first.
        var engine = serialEngine(.feasibleSet, sizeWeight: 2)
        let now = 10_000.0
        // Predicted durations: 300 + tokens × 20 ms. "late-a" and "late-b" can no longer make it.
        let jobs: [(String, Int, Double)] = [
            ("late-a", 100, now + 1000),  // needs 2300 ms, 1300 ms late
            ("roomy", 100, now + 60_000),
            ("tight", 100, now + 2500),
            ("late-b", 100, now + 2000),  // 300 ms late: less late than late-a
            ("short-roomy", 10, now + 60_000),
        ]
        for (id, tokens, deadline) in jobs {
            _ = engine.submit(
                Job(
                    id: id, requestedClass: .interactive, submittedAtMs: now, deadlineAtMs: deadline,
                    predictedOutputTokensP50: tokens),
                now: now)
        }
        let order = drain(&engine, from: now)
        #expect(order == ["tight", "short-roomy", "roomy", "late-b", "late-a"])
    }

    @Test func shortestExpectedWorkServesSmallerExpectedWorkFirstAtEqualDeadlines() {
        var engine = serialEngine(.shortestExpectedWork)
        // Same arrival and deadline budget (an unlabelled client); "wide" has the p50 of "narrow" but a far larger
        // p90, so its expected work is larger and it goes after it.
        let jobs: [(String, Int, Int)] = [
            ("long", 900, 1200), ("wide", 100, 1500), ("short", 40, 60), ("narrow", 100, 130),
        ]
        for (id, p50, p90) in jobs {
            _ = engine.submit(
                Job(
                    id: id, requestedClass: .heavy, submittedAtMs: 0, deadlineAtMs: 600_000,
                    predictedOutputTokensP50: p50,
                    predictedOutputTokensP90: p90),
                now: 0)
        }
        #expect(drain(&engine, from: 0) == ["short", "narrow", "wide", "long"])
    }

    @Test func shortestExpectedWorkServesARequestWhoseSlackRanOutBeforeShorterWork() {
        var engine = serialEngine(.shortestExpectedWork)
        // "aged" arrived long ago: at 100 s its latest start at p90 (deadline 115 s − 6.3 s) less a tenth of its
        // 115 s budget (97.2 s) has passed, so it is urgent and goes before the shorter requests that arrived since.
        _ = engine.submit(
            Job(
                id: "aged", requestedClass: .heavy, submittedAtMs: 0, deadlineAtMs: 115_000,
                predictedOutputTokensP50: 300),
            now: 0)
        for id in ["s1", "s2"] {
            _ = engine.submit(
                Job(
                    id: id, requestedClass: .heavy, submittedAtMs: 100_000, deadlineAtMs: 215_000,
                    predictedOutputTokensP50: 20),
                now: 100_000)
        }
        #expect(drain(&engine, from: 100_000) == ["aged", "s1", "s2"])
        // The same requests early on: shorter work first.
        var fresh = serialEngine(.shortestExpectedWork)
        _ = fresh.submit(
            Job(
                id: "aged", requestedClass: .heavy, submittedAtMs: 0, deadlineAtMs: 115_000,
                predictedOutputTokensP50: 300),
            now: 0)
        for id in ["s1", "s2"] {
            _ = fresh.submit(
                Job(
                    id: id, requestedClass: .heavy, submittedAtMs: 1000, deadlineAtMs: 116_000,
                    predictedOutputTokensP50: 20),
                now: 1000)
        }
        #expect(drain(&fresh, from: 1000) == ["s1", "s2", "aged"])
    }

    @Test func aRequestQueuedWhileTheProviderSlowsDownDoesNotPassAnEqualOneQueuedBefore() {
        // The same size and deadline budget, one second apart; the provider is three times slower by the second.
        func item(submittedAt: Double, msPerToken: Double) -> OrderingItem {
            OrderingItem(
                submittedAtMs: submittedAt, deadlineAtMs: submittedAt + 60_000,
                predictedDurationMs: 300 + 250 * msPerToken, predictedOutputTokensP50: 250,
                predictedOutputTokensP90: 750, msPerOutputToken: msPerToken, ttftMs: 300, rankMsPerOutputToken: 20,
                rankTtftMs: 300)
        }
        let earlier = item(submittedAt: 0, msPerToken: 20)
        let later = item(submittedAt: 1_000, msPerToken: 60)
        let ordering = ShortestExpectedWorkOrdering(weight: 0, urgentShare: 0.1)
        #expect(ordering.rank(earlier) < ordering.rank(later))
        #expect(ordering.urgentRank(earlier) < ordering.urgentRank(later))
        // What must hold now still uses the speed when queued: the later request is urgent sooner.
        #expect(ordering.urgentFromMs(later)! < ordering.urgentFromMs(earlier)! + 1_000)
        // At the speed when queued, the later one would have ranked first.
        #expect(later.latestStartMs < earlier.latestStartMs)
    }

    @Test func untrustedSizesDoNotPutTheRequestsPredictedLongestFirst() {
        // One deadline budget for both (clients that send none); the short one came first. Least laxity at face
        // value would serve the long one first; with sizes that rank answers no better than chance, arrival decides.
        func item(submittedAt: Double, tokens: Int) -> OrderingItem {
            OrderingItem(
                submittedAtMs: submittedAt, deadlineAtMs: submittedAt + 120_000,
                predictedDurationMs: 300 + Double(tokens) * 20, predictedOutputTokensP50: tokens,
                predictedOutputTokensP90: tokens * 3, msPerOutputToken: 20, ttftMs: 300)
        }
        let short = item(submittedAt: 0, tokens: 50)
        let long = item(submittedAt: 100, tokens: 800)
        let untrusted = ShortestExpectedWorkOrdering(weight: 0, urgentShare: 0.1, trust: 0)
        #expect(untrusted.rank(short) < untrusted.rank(long))
        let trusted = ShortestExpectedWorkOrdering(weight: 0, urgentShare: 0.1, trust: 1)
        #expect(trusted.rank(long) < trusted.rank(short))
        // Urgency still reads the predicted p90 whatever the trust: a long answer must start while it fits.
        #expect(untrusted.urgentFromMs(long)! < untrusted.urgentFromMs(short)!)
    }

    @Test func edfOrdersByDeadline() {
        var engine = serialEngine(.edf)
        for (id, deadline) in [("c", 30_000.0), ("a", 10_000), ("b", 20_000)] {
            _ = engine.submit(
                Job(
                    id: id, requestedClass: .heavy, submittedAtMs: 0, deadlineAtMs: deadline,
                    predictedOutputTokensP50: 10), now: 0)
        }
        #expect(drain(&engine, from: 0) == ["a", "b", "c"])
    }

    @Test func shortestFirstOrdersByPredictedSize() {
        var engine = serialEngine(.shortestFirst)
        for (id, tokens) in [("big", 900), ("small", 10), ("mid", 200)] {
            _ = engine.submit(
                Job(id: id, requestedClass: .heavy, submittedAtMs: 0, predictedOutputTokensP50: tokens), now: 0)
        }
        #expect(drain(&engine, from: 0) == ["small", "mid", "big"])
    }

    @Test func priorityMovesARequestAhead() {
        var engine = serialEngine(.fifo)
        _ = engine.submit(
            Job(id: "first", requestedClass: .heavy, submittedAtMs: 0, predictedOutputTokensP50: 10), now: 0)
        _ = engine.submit(
            Job(id: "urgent", requestedClass: .heavy, priority: 9, submittedAtMs: 100, predictedOutputTokensP50: 10),
            now: 100)
        #expect(drain(&engine, from: 100) == ["urgent", "first"])
    }

    @Test func gittinsPrefersATightPredictionOverARiskyOneWithTheSameMedian() {
        let tight = GittinsOrdering.expectedTokensPerCompletion(p50: 100, p90: 120)
        let risky = GittinsOrdering.expectedTokensPerCompletion(p50: 100, p90: 1000)
        let smaller = GittinsOrdering.expectedTokensPerCompletion(p50: 50, p90: 60)
        #expect(tight < risky)
        #expect(smaller < tight)
        // For a nearly certain size the index is about the size itself.
        #expect(abs(GittinsOrdering.expectedTokensPerCompletion(p50: 100, p90: 100) - 100) < 15)
    }

    @Test func tenantsShareAClassFairly() {
        var engine = serialEngine(.fifo)
        for index in 0..<100 {
            _ = engine.submit(
                Job(
                    id: "noisy-\(index)", tenantId: "noisy", requestedClass: .interactive, submittedAtMs: Double(index),
                    predictedOutputTokensP50: 50),
                now: Double(index))
        }
        for index in 0..<10 {
            _ = engine.submit(
                Job(
                    id: "quiet-\(index)", tenantId: "quiet", requestedClass: .interactive, submittedAtMs: 200,
                    predictedOutputTokensP50: 50),
                now: 200)
        }
        let order = drain(&engine, from: 200)
        let lastQuiet = order.lastIndex { $0.hasPrefix("quiet") }!
        // Equal token shares: the quiet tenant's ten requests are done within the first ~20 dispatches, not after 100.
        #expect(lastQuiet < 25)
        #expect(order.count == 110)
    }
}

@Suite struct PredictionTrustTests {
    @Test func trustFollowsHowWellPredictionsRankedTheAnswers() {
        let policy = SchedulerPolicy()
        var good = PredictionTrust(policy: policy)
        var useless = PredictionTrust(policy: policy)
        #expect(good.trust == policy.initialPredictionTrust)
        var random = SplitMix64ForTests(seed: 3)
        for index in 0..<200 {
            let truth = 20 + (index * 37) % 900
            good.observe(predictedTokens: truth + Int(random.next() % 20), outputTokens: truth)
            useless.observe(predictedTokens: 250, outputTokens: truth)
        }
        #expect((good.correlation ?? 0) > 0.9)
        #expect(good.trust == 1)
        #expect(useless.correlation == 0)
        #expect(useless.trust == 0)
    }

    /// `warm` requests in flight (p50 `predicted(i)`), then "early" queued behind them, then the warm answers
    /// (`answer(i)`: tokens, latency, time to first token), then "late", the same request a second after: which of the
    /// two goes first. `learned` checks what the answers taught the engine.
    private func earlyOrLate(
        warm: Int, predicted: (Int) -> Int, answer: (Int) -> (Int, Double, Double),
        learned: (SchedulerEngine) -> Bool
    ) -> [String] {
        var policy = SchedulerPolicy()
        policy.maxInflightRequests = warm
        policy.heavyInflightTokens = 1_000_000
        policy.kneeGain = 0
        var engine = SchedulerEngine(policy: policy)
        for index in 0..<warm {
            _ = engine.submit(
                Job(
                    id: "warm-\(index)", requestedClass: .heavy, submittedAtMs: 0,
                    predictedOutputTokensP50: predicted(index)),
                now: 0)
        }
        #expect(engine.nextDispatches(now: 0).count == warm)
        _ = engine.submit(
            Job(id: "early", requestedClass: .heavy, submittedAtMs: 1_000, predictedOutputTokensP50: 400), now: 1_000)
        for index in 0..<warm {
            let (tokens, latency, ttft) = answer(index)
            engine.complete(
                "warm-\(index)", outcome: .succeeded(outputTokens: tokens, latencyMs: latency, ttftMs: ttft), now: 2_000
            )
        }
        #expect(learned(engine))
        _ = engine.submit(
            Job(id: "late", requestedClass: .heavy, submittedAtMs: 3_000, predictedOutputTokensP50: 400), now: 3_000)
        return engine.nextDispatches(now: 3_000, limit: 1).map(\.requestId)
    }

    @Test func aRequestQueuedBeforeTheTrustFellIsNotPassedByAnEqualOneQueuedAfter() {
        // "early" is ranked at the initial trust; 60 answers (at the speed the engine assumes, 300 ms + 20 ms a
        // token) then show the predicted sizes rank nothing, and the trust falls to about 0.
        let first = earlyOrLate(
            warm: 60, predicted: { 100 + ($0 * 53) % 700 },
            answer: { index in
                let tokens = 100 + (index * 29) % 500
                return (tokens, 300 + 20 * Double(tokens), 300)
            },
            learned: { $0.trust.trust < 0.05 })
        #expect(first == ["early"])
    }

    @Test func aRequestQueuedBeforeTheSpeedWasLearnedIsNotPassedByAnEqualOneQueuedAfter() {
        // "early" is ranked at the prior speed (20 ms a token); 30 answers, fewer than the trust needs, show the
        // provider twice as fast.
        let first = earlyOrLate(
            warm: 30, predicted: { _ in 200 }, answer: { _ in (200, 150 + 10 * 200, 150) },
            learned: { $0.model.baselineMsPerOutputToken < 15 })
        #expect(first == ["early"])
    }

    @Test func anEngineWhosePredictionsRankNothingOrdersLikeDeadlines() {
        var policy = SchedulerPolicy()
        policy.maxInflightRequests = 1
        var engine = SchedulerEngine(policy: policy)
        // 60 answers whose predicted size says nothing about their length.
        for index in 0..<60 {
            let id = "warm-\(index)"
            _ = engine.submit(
                Job(
                    id: id, requestedClass: .heavy, submittedAtMs: 0, predictedOutputTokensP50: 100 + (index * 53) % 700
                ),
                now: 0)
            for dispatch in engine.nextDispatches(now: 0) {
                engine.complete(
                    dispatch.requestId, outcome: .succeeded(outputTokens: 100 + (index * 29) % 500, latencyMs: 400),
                    now: 0)
            }
        }
        #expect(engine.trust.trust < 0.05)
        // Now a long request with the earlier deadline goes before a short one: size no longer weighs.
        _ = engine.submit(
            Job(
                id: "long", requestedClass: .heavy, submittedAtMs: 0, deadlineAtMs: 100_000,
                predictedOutputTokensP50: 800),
            now: 0)
        _ = engine.submit(
            Job(
                id: "short", requestedClass: .heavy, submittedAtMs: 0, deadlineAtMs: 130_000,
                predictedOutputTokensP50: 20),
            now: 0)
        #expect(engine.nextDispatches(now: 0).map(\.requestId) == ["long"])
    }
}

/// SplitMix64, for test data.
struct SplitMix64ForTests {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
