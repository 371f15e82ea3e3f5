import ProxyCore
import Testing

@Suite struct SharedRateLimitTests {
    static let policy = SliceLeasePolicy(sliceSeconds: 1, validitySeconds: 2)

    static func pool(rpm: Int? = 600, tpm: Int? = nil) -> AccountPool {
        var pool = AccountPool(
            deployments: [
                Deployment(name: "a", modelName: "m", upstreamModel: "m", apiBase: "http://x/v1", rpm: rpm, tpm: tpm)
            ])
        _ = pool.setRateSource(.shared(LeasedRateBudget()))
        return pool
    }

    @Test func withSharedLimitsACallWaitsUntilASliceIsInHandAndAsksForOne() {
        var pool = Self.pool()
        guard case .wait = pool.acquire(model: "m", tokens: 10, now: 0) else {
            Issue.record("granted without a slice")
            return
        }
        let plan = pool.planLeases(policy: Self.policy, leasing: [], now: 0)
        #expect(plan.requests == [SliceRequest(account: 0, requests: 10, tokens: 0, debt: 0)])
        let added = pool.addSlice(RateSlice(id: 1, requests: 2, tokens: 0, usableUntil: 2), account: 0, settledDebt: 0)
        #expect(added)
        for _ in 0..<2 {
            guard case .granted(let lease) = pool.acquire(model: "m", tokens: 10, now: 0.5) else {
                Issue.record("refused with a slice in hand")
                return
            }
            pool.release(lease, outcome: .success(latencyMs: 1, kind: .complete, totalTokens: 10), now: 0.6)
        }
        guard case .wait = pool.acquire(model: "m", tokens: 10, now: 0.7) else {
            Issue.record("granted past the slice")
            return
        }
    }

    @Test func aSliceIsNotSpentPastItsValidityAndWhatIsLeftGoesBack() {
        var pool = Self.pool()
        _ = pool.addSlice(RateSlice(id: 7, requests: 5, tokens: 0, usableUntil: 2), account: 0, settledDebt: 0)
        guard case .wait = pool.acquire(model: "m", tokens: 1, now: 2.5) else {
            Issue.record("spent an expired slice")
            return
        }
        let plan = pool.planLeases(policy: Self.policy, leasing: [], now: 2.5)
        #expect(
            plan.expired == [
                ExpiredSlices(account: 0, slices: [RateSlice(id: 7, requests: 5, tokens: 0, usableUntil: 2)])
            ])
    }

    @Test func noDemandNoLeaseAndALeaseUnderWayIsNotAskedTwice() {
        var pool = Self.pool()
        #expect(pool.planLeases(policy: Self.policy, leasing: [], now: 0).requests.isEmpty)
        _ = pool.acquire(model: "m", tokens: 1, now: 10)
        #expect(pool.planLeases(policy: Self.policy, leasing: [0], now: 10).requests.isEmpty)
        #expect(pool.planLeases(policy: Self.policy, leasing: [], now: 16).requests.isEmpty)
    }

    @Test func tokensUsedBeyondTheReservationBecomeDebtForTheNextLease() {
        var pool = Self.pool(rpm: nil, tpm: 6000)
        _ = pool.acquire(model: "m", tokens: 150, now: 0)
        #expect(pool.planLeases(policy: Self.policy, leasing: [], now: 0).requests.first?.tokens == 150)
        _ = pool.addSlice(RateSlice(id: 1, requests: 0, tokens: 150, usableUntil: 2), account: 0, settledDebt: 0)
        guard case .granted(let lease) = pool.acquire(model: "m", tokens: 150, now: 0.1) else {
            Issue.record("refused with tokens in hand")
            return
        }
        pool.release(lease, outcome: .success(latencyMs: 1, kind: .complete, totalTokens: 190), now: 0.2)
        #expect(pool.planLeases(policy: Self.policy, leasing: [], now: 0.3).requests.first?.debt == 40)
    }

    @Test func unusedReservedTokensReturnToTheSliceTheyCameFrom() {
        var pool = Self.pool(rpm: nil, tpm: 6000)
        _ = pool.addSlice(RateSlice(id: 1, requests: 0, tokens: 100, usableUntil: 2), account: 0, settledDebt: 0)
        guard case .granted(let lease) = pool.acquire(model: "m", tokens: 100, now: 0) else {
            Issue.record("refused with tokens in hand")
            return
        }
        pool.release(lease, outcome: .success(latencyMs: 1, kind: .complete, totalTokens: 30), now: 0.1)
        guard case .shared(let budget) = pool.accounts[0].rate.source else { return }
        #expect(budget.available(now: 0.2).tokens == 70)
    }

    @Test func theLocalShareDividesTheLimitByTheReplicas() {
        var pool = Self.pool(rpm: 600)
        let returned = pool.setRateSource(.localShare(replicas: 3))
        #expect(returned.isEmpty)
        var granted = 0
        while case .granted(let lease) = pool.acquire(model: "m", tokens: 1, now: 1) {
            granted += 1
            pool.release(lease, outcome: .success(latencyMs: 1, kind: .complete, totalTokens: 1), now: 1)
        }
        #expect(granted == 200)
    }
}

@Suite struct ReplicaCountTests {
    /// Feeds heartbeats (time, replicas alive) and returns the count after each.
    static func counts(_ beats: [(Double, Int)]) -> [Int] {
        var count = ReplicaCount(shrinkAfter: 5)
        return beats.map { beat in
            count.observe(alive: beat.1, now: beat.0)
            return count.replicas
        }
    }

    @Test func moreReplicasCountAtOnceFewerOnlyOnceTheFallHasLasted() {
        // Three replicas; one heartbeat is late (1-4 s), comes back (5 s); the replica goes for good (7 s on) and is
        // counted out once the fall has lasted 5 s; a newcomer counts at once.
        let beats: [(Double, Int)] = [(0, 3), (1, 2), (4, 2), (5, 3), (7, 2), (11, 2), (12, 2), (12.5, 4)]
        #expect(Self.counts(beats) == [3, 3, 3, 3, 3, 3, 2, 4])
    }

    @Test func aFallCountsTheMostSeenWhileItLasted() {
        #expect(Self.counts([(0, 4), (1, 2), (3, 3), (6, 2)]) == [4, 4, 4, 3])
    }
}
