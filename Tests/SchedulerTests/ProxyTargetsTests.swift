import AsyncHTTPClient
import SchedulerCore
import Testing

@testable import Scheduler

@Suite struct ProxyTargetsTests {
    @Test func roundRobinSkipsAnUnreachableProxyUntilItsCooldownEnds() {
        let targets = ProxyTargets(urls: ["http://a", "http://b/", "http://c"], unreachableCooldown: .seconds(2))
        let start = ContinuousClock.now
        #expect(
            (0..<6).map { _ in targets.next(now: start) } == [
                "http://a", "http://b", "http://c", "http://a", "http://b", "http://c",
            ])
        targets.markUnreachable("http://b", now: start)
        #expect(targets.hasReachable(now: start))
        #expect((0..<4).map { _ in targets.next(now: start) } == ["http://a", "http://c", "http://a", "http://c"])
        // After the cooldown b gets its turn again.
        let later = start + .seconds(3)
        #expect((0..<3).map { _ in targets.next(now: later) }.sorted() == ["http://a", "http://b", "http://c"])
    }

    @Test func cooldownDoublesWhileAProxyStaysDownAndResetsWhenItAnswers() {
        let targets = ProxyTargets(
            urls: ["http://a", "http://b"], unreachableCooldown: .seconds(2), maxUnreachableCooldown: .seconds(5))
        let start = ContinuousClock.now
        targets.markUnreachable("http://b", now: start)
        #expect(!Set((0..<2).map { _ in targets.next(now: start + .milliseconds(1900)) }).contains("http://b"))
        targets.markUnreachable("http://b", now: start + .seconds(2))
        // Second failure: 4 s; third: capped at 5 s.
        #expect(!Set((0..<2).map { _ in targets.next(now: start + .milliseconds(5900)) }).contains("http://b"))
        #expect(Set((0..<2).map { _ in targets.next(now: start + .milliseconds(6100)) }).contains("http://b"))
        targets.markUnreachable("http://b", now: start + .seconds(7))
        #expect(
            !targets.next(now: start + .milliseconds(11_900)).contains("b")
                && !targets.next(now: start + .milliseconds(11_900)).contains("b"))
        targets.markReachable("http://b")
        targets.markUnreachable("http://b", now: start + .seconds(12))
        #expect(Set((0..<2).map { _ in targets.next(now: start + .milliseconds(14_100)) }).contains("http://b"))
    }

    @Test func whenEveryProxyIsUnreachableAllAreTriedInTurn() {
        let targets = ProxyTargets(urls: ["http://a", "http://b"], unreachableCooldown: .seconds(2))
        let now = ContinuousClock.now
        targets.markUnreachable("http://a", now: now)
        targets.markUnreachable("http://b", now: now)
        #expect(!targets.hasReachable(now: now))
        #expect(Set((0..<2).map { _ in targets.next(now: now) }) == ["http://a", "http://b"])
    }

    @Test func unreachableCallIsRetriedAtOnceOnlyWhileAnotherProxyIsAvailable() {
        struct Refused: Error {}
        let caller = ProxyCaller(
            client: .shared, targets: ProxyTargets(urls: ["http://a", "http://b"]), timeoutMs: 1000)
        let first = caller.unreachable("http://a", error: Refused(), latencyMs: 1)
        #expect(first.retryAfterMs == 0)
        #expect(first.outcome.status == .retryable)
        let second = caller.unreachable("http://b", error: Refused(), latencyMs: 1)
        #expect(second.retryAfterMs == nil)
    }
}
