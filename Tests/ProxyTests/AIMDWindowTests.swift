import ProxyCore
import Testing

@Suite struct AIMDWindowTests {
    func window(initial: Double = 2, max: Double = 16, target: Double? = nil, slowStart: Bool = false) -> AIMDWindow {
        AIMDWindow(
            settings: AIMDSettings(
                initialWindow: initial, maxWindow: max, latencyTargetMs: target, minimumSamples: 4, slowStart: slowStart
            ))
    }

    @Test func slowStartGrowsByOnePerSuccessUntilTheFirstCongestionThenByOnePerWindow() {
        var window = window(initial: 2, max: 64, slowStart: true)
        #expect(window.inSlowStart)
        // One round trip of 2 successes → 4, then 4 → 8: doubling per round.
        for _ in 0..<2 { #expect(window.recordSuccess(latencyMs: 100, kind: .complete, sentEpoch: 0) == .increased) }
        #expect(window.limit == 4)
        for _ in 0..<4 { window.recordSuccess(latencyMs: 100, kind: .complete, sentEpoch: 0) }
        #expect(window.limit == 8)
        #expect(window.recordCongestion(sentEpoch: 0) == .decreased)
        #expect(window.limit == 4)
        #expect(!window.inSlowStart)
        #expect(window.slowStartThreshold == 4)
        // Congestion avoidance: one more per window's worth of successes.
        for _ in 0..<3 { #expect(window.recordSuccess(latencyMs: 100, kind: .complete, sentEpoch: 1) == .unchanged) }
        #expect(window.recordSuccess(latencyMs: 100, kind: .complete, sentEpoch: 1) == .increased)
        #expect(window.limit == 5)
    }

    @Test func slowStartStopsAtTheCeiling() {
        var window = window(initial: 1, max: 5, slowStart: true)
        for _ in 0..<20 { window.recordSuccess(latencyMs: 10, kind: .complete, sentEpoch: 0) }
        #expect(window.size == 5)
    }

    @Test func growsByOneAfterEachWindowOfFastSuccesses() {
        var window = window()
        #expect(window.limit == 2)
        #expect(window.recordSuccess(latencyMs: 100, kind: .complete, sentEpoch: 0) == .unchanged)
        #expect(window.recordSuccess(latencyMs: 100, kind: .complete, sentEpoch: 0) == .increased)
        #expect(window.limit == 3)
        for _ in 0..<2 { window.recordSuccess(latencyMs: 100, kind: .complete, sentEpoch: 0) }
        #expect(window.limit == 3)
        window.recordSuccess(latencyMs: 100, kind: .complete, sentEpoch: 0)
        #expect(window.limit == 4)
    }

    @Test func neverExceedsTheCeiling() {
        var window = window(max: 3)
        for _ in 0..<50 { window.recordSuccess(latencyMs: 10, kind: .complete, sentEpoch: 0) }
        #expect(window.size == 3)
    }

    @Test func halvesOnCongestionButNotBelowOne() {
        var window = window(initial: 8)
        #expect(window.recordCongestion(sentEpoch: 0) == .decreased)
        #expect(window.size == 4)
        #expect(window.recordCongestion(sentEpoch: 1) == .decreased)
        #expect(window.recordCongestion(sentEpoch: 2) == .decreased)
        #expect(window.size == 1)
        #expect(window.recordCongestion(sentEpoch: 3) == .unchanged)
        #expect(window.limit == 1)
    }

    @Test func oneBurstOfErrorsFromTheSameEpochCutsOnce() {
        var window = window(initial: 8)
        #expect(window.recordCongestion(sentEpoch: 0) == .decreased)
        #expect(window.recordCongestion(sentEpoch: 0) == .unchanged)
        #expect(window.recordCongestion(sentEpoch: 0) == .unchanged)
        #expect(window.size == 4)
        #expect(window.epoch == 1)
    }

    @Test func latencySpikeOverTheEWMABaselineCountsAsCongestion() {
        var window = window(initial: 8)
        for _ in 0..<8 { window.recordSuccess(latencyMs: 100, kind: .complete, sentEpoch: 0) }
        let before = window.size
        #expect(window.targetMs(.complete) == 300)
        #expect(window.recordSuccess(latencyMs: 1000, kind: .complete, sentEpoch: window.epoch) == .decreased)
        #expect(window.size == before / 2)
        // The spike barely moves the baseline.
        #expect((window.baselineMs(.complete) ?? 0) < 130)
    }

    @Test func aLateFirstByteWhileOthersStreamFallsToTheirShareNotToHalf() {
        // A provider with 16 slots and a line behind them: the window had grown to 20; a first byte waited while 16
        // calls streamed. Halving would leave 10; the window keeps 90% of the 16.
        var queueing = window(initial: 20, max: 64)
        for _ in 0..<4 { queueing.recordSuccess(latencyMs: 100, kind: .firstByte, sentEpoch: 0) }
        #expect(queueing.recordSuccess(latencyMs: 2_000, kind: .firstByte, sentEpoch: 0, streaming: 16) == .decreased)
        #expect(queueing.limit == 14)
        // Without streams to count (or with few) the decrease is the usual half.
        var alone = window(initial: 20, max: 64)
        for _ in 0..<4 { alone.recordSuccess(latencyMs: 100, kind: .firstByte, sentEpoch: 0) }
        #expect(alone.recordSuccess(latencyMs: 2_000, kind: .firstByte, sentEpoch: 0, streaming: 3) == .decreased)
        #expect(alone.limit == 10)
        // Every call streaming (a provider that slows down rather than queues): the window still shrinks.
        var slowing = window(initial: 20, max: 64)
        for _ in 0..<4 { slowing.recordSuccess(latencyMs: 100, kind: .firstByte, sentEpoch: 0) }
        #expect(slowing.recordSuccess(latencyMs: 2_000, kind: .firstByte, sentEpoch: 0, streaming: 20) == .decreased)
        #expect(slowing.size == 18)
    }

    @Test func aPacedCallsLateFirstByteIsTheSchedulersLineNotCongestion() {
        // The scheduler holds a queueing provider at its slots and says so (`X-Maitre-Paced`): the first byte that
        // waited in the provider's short line neither cuts the window nor teaches the baseline, and counts as a
        // success; the same sample from an unpaced call cuts.
        var paced = window(initial: 18, max: 64)
        for _ in 0..<4 { paced.recordSuccess(latencyMs: 100, kind: .firstByte, sentEpoch: 0) }
        // Four fast successes and thirteen paced ones: a window's worth (18) less one.
        for _ in 0..<13 {
            #expect(
                paced.recordSuccess(latencyMs: 2_000, kind: .firstByte, sentEpoch: 0, streaming: 16, paced: true)
                    == .unchanged)
        }
        #expect(
            paced.recordSuccess(latencyMs: 2_000, kind: .firstByte, sentEpoch: 0, streaming: 16, paced: true)
                == .increased)
        #expect(paced.limit == 19)
        #expect(paced.baselineMs(.firstByte) == 100)
        var unpaced = window(initial: 18, max: 64)
        for _ in 0..<4 { unpaced.recordSuccess(latencyMs: 100, kind: .firstByte, sentEpoch: 0) }
        #expect(unpaced.recordSuccess(latencyMs: 2_000, kind: .firstByte, sentEpoch: 0, streaming: 16) == .decreased)
    }

    @Test func theBaselineStartsFromTheLowestFirstSampleSoAQueuedFirstAnswerDoesNotHideTheQueue() {
        var window = window(initial: 8)
        // A burst into a provider with one slot: the answers' first bytes come one service time apart.
        for index in 0..<4 {
            window.recordSuccess(latencyMs: 300 + 2000 * Double(3 - index), kind: .firstByte, sentEpoch: 0)
        }
        #expect(window.baselineMs(.firstByte) == 300)
        #expect(window.targetMs(.firstByte) == 900)
        #expect(window.recordSuccess(latencyMs: 4300, kind: .firstByte, sentEpoch: window.epoch) == .decreased)
    }

    @Test func firstByteAndCompleteLatenciesHaveSeparateBaselines() {
        var window = window()
        for _ in 0..<6 { window.recordSuccess(latencyMs: 20, kind: .firstByte, sentEpoch: 0) }
        for _ in 0..<6 { window.recordSuccess(latencyMs: 2000, kind: .complete, sentEpoch: 0) }
        #expect(window.baselineMs(.firstByte) == 20)
        #expect(window.baselineMs(.complete) == 2000)
    }

    @Test func fixedLatencyTargetReplacesTheBaseline() {
        var window = window(initial: 4, target: 50)
        #expect(window.targetMs(.complete) == 50)
        #expect(window.recordSuccess(latencyMs: 60, kind: .complete, sentEpoch: 0) == .decreased)
        #expect(window.size == 2)
    }

    @Test func noSpikeIsCalledBeforeEnoughSamples() {
        var window = window()
        window.recordSuccess(latencyMs: 10, kind: .complete, sentEpoch: 0)
        #expect(window.targetMs(.complete) == nil)
        #expect(window.recordSuccess(latencyMs: 10_000, kind: .complete, sentEpoch: 0) != .decreased)
    }
}
