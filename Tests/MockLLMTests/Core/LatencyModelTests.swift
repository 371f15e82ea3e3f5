import MockLLMCore
import Testing

@Suite struct LatencyModelTests {
    let profile = LatencyProfile(baseSeconds: 0.3, prefillSecondsPerToken: 0.001, tpotSeconds: 0.02, alpha: 1, knee: 16)

    @Test func timeToFirstTokenIsBasePlusPrefillPerPromptToken() {
        #expect(profile.timeToFirstToken(promptTokens: 0) == 0.3)
        #expect(abs(profile.timeToFirstToken(promptTokens: 500) - 0.8) < 1e-12)
    }

    @Test func timePerTokenIsFlatUpToTheKneeThenGrowsLinearly() {
        #expect(profile.timePerOutputToken(inFlight: 1) == 0.02)
        #expect(profile.timePerOutputToken(inFlight: 16) == 0.02)
        // tpot(n) = tpot0 · (1 + alpha · (n − knee) / knee)
        #expect(abs(profile.timePerOutputToken(inFlight: 24) - 0.03) < 1e-12)
        #expect(abs(profile.timePerOutputToken(inFlight: 32) - 0.04) < 1e-12)
        #expect(abs(profile.timePerOutputToken(inFlight: 64) - 0.08) < 1e-12)
    }

    @Test func timeScaleMultipliesEveryDurationButNotTheShape() {
        let fast = profile.scaled(by: 0.01)
        #expect(abs(fast.timeToFirstToken(promptTokens: 500) - 0.008) < 1e-12)
        #expect(abs(fast.timePerOutputToken(inFlight: 32) - 0.0004) < 1e-12)
        #expect(LatencyProfile.instant.isInstant)
        #expect(!profile.isInstant)
    }

    @Test func decodeStepsStayWithinTheStepBoundAndCountTheFirstTokenAsFree() {
        let first = profile.decodeStep(remaining: 100, inFlight: 1, maxStepSeconds: 0.11, isFirst: true)
        #expect(first.tokens == 6)
        #expect(abs(first.seconds - 0.1) < 1e-12)
        let later = profile.decodeStep(remaining: 100, inFlight: 32, maxStepSeconds: 0.11)
        #expect(later.tokens == 2)
        #expect(abs(later.seconds - 0.08) < 1e-12)
        let chunked = profile.decodeStep(remaining: 100, inFlight: 1, maxStepSeconds: .infinity, chunkTokens: 3)
        #expect(chunked.tokens == 3)
        let tail = profile.decodeStep(remaining: 1, inFlight: 1, maxStepSeconds: 10)
        #expect(tail.tokens == 1)
        #expect(
            LatencyProfile.instant.decodeStep(remaining: 500, inFlight: 9, maxStepSeconds: 0.05)
                == DecodeStep(tokens: 500, seconds: 0))
    }

    @Test func aLoneRequestTakesTtftPlusTheRestOfItsTokensAtTpot0() {
        let simulation = ProviderSimulation(profile: profile, maxConcurrency: 64)
        let timeline = simulation.run([.init(time: 1, promptTokens: 200, outputTokens: 101)])[0]
        #expect(abs(timeline.firstToken - 1.5) < 1e-9)
        #expect(abs(timeline.finished - (1.5 + 100 * 0.02)) < 1e-9)
    }

    @Test func latencyGrowsWithConcurrencyAsTheFormulaSays() {
        let simulation = ProviderSimulation(profile: profile, maxConcurrency: 1000)
        var previous = 0.0
        for concurrent in [1, 8, 16, 24, 32, 64] {
            let arrivals = (0..<concurrent).map { _ in
                ProviderSimulation.Arrival(time: 0, promptTokens: 0, outputTokens: 51)
            }
            let finished = simulation.run(arrivals).map(\.finished)
            let expected = profile.totalSeconds(promptTokens: 0, outputTokens: 51, inFlight: concurrent)
            for time in finished { #expect(abs(time - expected) < 1e-6) }
            #expect(finished[0] >= previous)
            previous = finished[0]
        }
        // Past the knee the slowdown is strict: 64 in flight decode four times slower than 16.
        let sixteen = profile.totalSeconds(promptTokens: 0, outputTokens: 51, inFlight: 16) - 0.3
        #expect(abs(previous - 0.3 - 4 * sixteen) < 1e-6)
    }

    @Test func paceFollowsTheInFlightCountAsItChanges() {
        // Two requests: the short one leaves at 0.3 + 16·tpot(32)... here with knee 1 so two in flight
        // run at double tpot until the first leaves, then the survivor speeds up.
        let steep = LatencyProfile(baseSeconds: 0, prefillSecondsPerToken: 0, tpotSeconds: 0.01, alpha: 1, knee: 1)
        let timelines = ProviderSimulation(profile: steep, maxConcurrency: 10).run([
            .init(time: 0, promptTokens: 0, outputTokens: 11),
            .init(time: 0, promptTokens: 0, outputTokens: 21),
        ])
        // Both decode 10 tokens at 0.02 s (n = 2): the first ends at 0.2; the second's last 10 go at 0.01 s.
        #expect(abs(timelines[0].finished - 0.2) < 1e-9)
        #expect(abs(timelines[1].finished - 0.3) < 1e-9)
    }

    @Test func theCapQueuesArrivalsFirstComeFirstServedAndTheWaitCountsInTtft() {
        let simple = LatencyProfile(baseSeconds: 0.1, prefillSecondsPerToken: 0, tpotSeconds: 0.01, alpha: 0, knee: 1)
        let timelines = ProviderSimulation(profile: simple, maxConcurrency: 2).run([
            .init(time: 0, promptTokens: 0, outputTokens: 11),
            .init(time: 0, promptTokens: 0, outputTokens: 11),
            .init(time: 0.05, promptTokens: 0, outputTokens: 11),
        ])
        #expect(abs(timelines[0].finished - 0.2) < 1e-9)
        #expect(abs(timelines[2].admitted - 0.2) < 1e-9)
        #expect(abs(timelines[2].timeToFirstToken(arrival: 0.05) - 0.25) < 1e-9)
        #expect(abs(timelines[2].finished - 0.4) < 1e-9)
    }
}
