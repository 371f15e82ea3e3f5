import ProxyCore
import Testing

@Suite struct RateWindowTests {
    @Test func refusesTheRequestPastTheRPMLimitUntilTheMinuteRollsOver() {
        var window = RateWindow(requestsPerMinute: 3, tokensPerMinute: nil)
        for second in 0..<3 {
            #expect(window.admits(tokens: 10, now: Double(second)))
            _ = window.reserve(tokens: 10, now: Double(second))
        }
        #expect(!window.admits(tokens: 10, now: 30))
        #expect(window.nextAdmission(now: 30) == 60)
        #expect(window.admits(tokens: 10, now: 60.5))
    }

    @Test func reservesTokensAndReconcilesWithRealUsage() {
        var window = RateWindow(requestsPerMinute: nil, tokensPerMinute: 1000)
        let reservation = window.reserve(tokens: 800, now: 5)
        #expect(!window.admits(tokens: 300, now: 6))
        window.reconcile(reservation, actualTokens: 200, now: 6)
        #expect(window.usage(now: 6).tokens == 200)
        #expect(window.admits(tokens: 300, now: 6))
    }

    @Test func aCallThatNeverReachedTheUpstreamGivesEverythingBack() {
        var window = RateWindow(requestsPerMinute: 1, tokensPerMinute: 100)
        let reservation = window.reserve(tokens: 50, now: 1)
        #expect(!window.admits(tokens: 1, now: 1))
        window.reconcile(reservation, actualTokens: nil, reachedUpstream: false, now: 1)
        let usage = window.usage(now: 1)
        #expect(usage.requests == 0 && usage.tokens == 0)
        #expect(window.admits(tokens: 1, now: 1))
    }

    @Test func aRequestLargerThanTheWholeLimitPassesAnEmptyWindow() {
        let window = RateWindow(requestsPerMinute: nil, tokensPerMinute: 100)
        #expect(window.admits(tokens: 5000, now: 0))
    }

    @Test func oldSlotsLeaveTheWindow() {
        var window = RateWindow(requestsPerMinute: nil, tokensPerMinute: 1000)
        _ = window.reserve(tokens: 600, now: 10)
        _ = window.reserve(tokens: 300, now: 40)
        #expect(window.usage(now: 69).tokens == 900)
        #expect(window.usage(now: 70).tokens == 300)
        #expect(window.usage(now: 100).tokens == 0)
    }
}
