import ProxyCore
import Testing

@Suite struct AccountPoolTests {
    func deployments(_ weights: [Double], maxConcurrency: Int = 64, rpm: Int? = nil) -> [Deployment] {
        weights.enumerated().map { index, weight in
            Deployment(
                name: "a\(index)", modelName: "m", upstreamModel: "m", apiBase: "http://u\(index)/v1", weight: weight,
                rpm: rpm, maxConcurrency: maxConcurrency)
        }
    }

    func lease(_ acquisition: Acquisition) -> Lease? {
        if case .granted(let lease) = acquisition { return lease }
        return nil
    }

    @Test func idleTrafficSpreadsExactlyByWeight() {
        var pool = AccountPool(deployments: deployments([1, 2, 3]))
        var counts = [0, 0, 0]
        for step in 0..<600 {
            guard let granted = lease(pool.acquire(model: "m", tokens: 10, now: Double(step) * 0.01)) else {
                Issue.record("no slot")
                return
            }
            counts[granted.account] += 1
            pool.release(
                granted, outcome: .success(latencyMs: 10, kind: .complete, totalTokens: 10), now: Double(step) * 0.01)
        }
        #expect(counts == [100, 200, 300])
    }

    @Test func aStreamsFirstByteGrowsTheWindowBeforeTheAnswerEndsAndIsNotCountedTwice() {
        var pool = AccountPool(
            deployments: deployments([1], maxConcurrency: 64),
            settings: PoolSettings(aimd: AIMDSettings(initialWindow: 2)))
        let first = lease(pool.acquire(model: "m", tokens: 1, now: 0))!
        let second = lease(pool.acquire(model: "m", tokens: 1, now: 0))!
        #expect(pool.acquire(model: "m", tokens: 1, now: 0) == .wait(retryAt: nil))
        // Both streams are still running; their first bytes open room (slow start: one per fast success).
        #expect(pool.observeFirstByte(first, latencyMs: 80) == .increased)
        #expect(pool.observeFirstByte(second, latencyMs: 80) == .increased)
        #expect(pool.accounts[0].window.limit == 4)
        #expect(lease(pool.acquire(model: "m", tokens: 1, now: 0.1)) != nil)
        // The end of the answer reconciles the rate window only: no second sample.
        pool.release(first, outcome: .success(latencyMs: nil, kind: .firstByte, totalTokens: 10), now: 1)
        #expect(pool.accounts[0].window.limit == 4)
        #expect(pool.accounts[0].successes == 1)
    }

    @Test func concurrentLoadFollowsWeightAndSkipsFullWindows() {
        var pool = AccountPool(
            deployments: deployments([1, 1], maxConcurrency: 4),
            settings: PoolSettings(aimd: AIMDSettings(initialWindow: 2)))
        var leases: [Lease] = []
        for _ in 0..<4 {
            if let granted = lease(pool.acquire(model: "m", tokens: 1, now: 0)) { leases.append(granted) }
        }
        #expect(leases.count == 4)
        #expect(pool.accounts.map(\.inFlight) == [2, 2])
        #expect(pool.acquire(model: "m", tokens: 1, now: 0) == .wait(retryAt: nil))
    }

    @Test func replicasSharingAnAccountEachKeepTheirShareOfItsConcurrency() {
        var pool = AccountPool(
            deployments: deployments([1], maxConcurrency: 7),
            settings: PoolSettings(aimd: AIMDSettings(initialWindow: 7)))
        pool.shareConcurrency(replicas: 3)
        var leases: [Lease] = []
        while let granted = lease(pool.acquire(model: "m", tokens: 1, now: 0)) { leases.append(granted) }
        // 7 / 3 → 2 each: three proxies together never pass the account's 7, whatever their windows say.
        #expect(leases.count == 2)
        #expect(pool.accounts[0].window.limit == 7)
        // One replica left: this proxy may use the whole account again.
        pool.shareConcurrency(replicas: 1)
        while let granted = lease(pool.acquire(model: "m", tokens: 1, now: 0)) { leases.append(granted) }
        #expect(leases.count == 7)
        // More replicas than the account's concurrency: one each, never none.
        pool.shareConcurrency(replicas: 10)
        #expect(pool.accounts[0].inFlightLimit == 1)
    }

    @Test func rateLimitedAccountIsCutAndCooledAndTrafficMoves() {
        var pool = AccountPool(
            deployments: deployments([1, 1]), settings: PoolSettings(aimd: AIMDSettings(initialWindow: 8)))
        let first = lease(pool.acquire(model: "m", tokens: 1, now: 0))!
        pool.release(first, outcome: .rateLimited(retryAfter: 2), now: 0)
        #expect(pool.accounts[first.account].window.size == 4)
        #expect(pool.accounts[first.account].cooldownUntil == 2)
        for step in 0..<10 {
            let next = lease(pool.acquire(model: "m", tokens: 1, now: 0.1 * Double(step)))!
            #expect(next.account != first.account)
            pool.release(
                next, outcome: .success(latencyMs: 5, kind: .complete, totalTokens: nil), now: 0.1 * Double(step))
        }
        #expect(pool.accounts[first.account].rateLimited == 1)
        // After the Retry-After the account takes traffic again.
        var served: Set<Int> = []
        for _ in 0..<4 {
            let next = lease(pool.acquire(model: "m", tokens: 1, now: 2.5))!
            served.insert(next.account)
            pool.release(next, outcome: .success(latencyMs: 5, kind: .complete, totalTokens: nil), now: 2.5)
        }
        #expect(served.contains(first.account))
    }

    @Test func whenEveryAccountCoolsTheWaitEndsWithTheEarliestCooldown() {
        var pool = AccountPool(deployments: deployments([1, 1]))
        let a = lease(pool.acquire(model: "m", tokens: 1, now: 0))!
        let b = lease(pool.acquire(model: "m", tokens: 1, now: 0))!
        pool.release(a, outcome: .rateLimited(retryAfter: 3), now: 0)
        pool.release(b, outcome: .rateLimited(retryAfter: 1.5), now: 0)
        #expect(pool.acquire(model: "m", tokens: 1, now: 1) == .wait(retryAt: 1.5))
    }

    @Test func consecutiveServerErrorsCoolAnAccountDown() {
        var pool = AccountPool(
            deployments: deployments([1]), settings: PoolSettings(failuresBeforeCooldown: 2, failureCooldown: 5))
        for _ in 0..<2 {
            let next = lease(pool.acquire(model: "m", tokens: 1, now: 0))!
            pool.release(next, outcome: .serverError(retryAfter: nil), now: 0)
        }
        #expect(pool.accounts[0].cooldownUntil == 5)
        #expect(pool.accounts[0].cooldowns == 1)
    }

    @Test func retriesAvoidAccountsAlreadyTriedUnlessNoneIsLeft() {
        var pool = AccountPool(deployments: deployments([1, 1]))
        let first = lease(pool.acquire(model: "m", tokens: 1, now: 0))!
        pool.release(first, outcome: .connectFailure, now: 0)
        let second = lease(pool.acquire(model: "m", tokens: 1, excluding: [first.account], now: 0))!
        #expect(second.account != first.account)
        pool.release(second, outcome: .connectFailure, now: 0)
        let third = lease(pool.acquire(model: "m", tokens: 1, excluding: [0, 1], now: 0))
        #expect(third != nil)
    }

    @Test func rpmLimitHoldsRequestsUntilTheMinuteMoves() {
        var pool = AccountPool(deployments: deployments([1], rpm: 2))
        for _ in 0..<2 {
            let next = lease(pool.acquire(model: "m", tokens: 1, now: 10))!
            pool.release(next, outcome: .success(latencyMs: 1, kind: .complete, totalTokens: 1), now: 10)
        }
        #expect(pool.acquire(model: "m", tokens: 1, now: 11) == .wait(retryAt: 70))
    }

    @Test func unknownModelsAreReportedAndTheWildcardServesAnyName() {
        var pool = AccountPool(deployments: deployments([1]))
        #expect(pool.acquire(model: "other", tokens: 1, now: 0) == .unknownModel)
        var wild = AccountPool(deployments: [
            Deployment(name: "w", modelName: "*", upstreamModel: "*", apiBase: "http://x/v1")
        ])
        #expect(lease(wild.acquire(model: "anything", tokens: 1, now: 0)) != nil)
        #expect(wild.modelNames.isEmpty)
        #expect(wild.hasWildcard)
    }

    @Test func aCancelledCallLeavesTheWindowAlone() {
        var pool = AccountPool(deployments: deployments([1]))
        let next = lease(pool.acquire(model: "m", tokens: 1, now: 0))!
        pool.release(next, outcome: .cancelled, now: 0)
        #expect(pool.accounts[0].window.size == 2)
        #expect(pool.accounts[0].inFlight == 0)
        #expect(pool.accounts[0].errors == 0)
    }
}

@Suite struct StreamingCountTests {
    @Test func callsCountAsStreamingFromTheirFirstByteUntilReleased() {
        var pool = AccountPool(
            deployments: [Deployment(name: "a", modelName: "m", upstreamModel: "m", apiBase: "http://x/v1")])
        // The window starts at two calls.
        var leases: [Lease] = []
        for _ in 0..<2 {
            guard case .granted(let lease) = pool.acquire(model: "m", tokens: 1, now: 0) else {
                Issue.record("no slot")
                return
            }
            leases.append(lease)
        }
        pool.observeFirstByte(leases[0], latencyMs: 10)
        #expect(pool.accounts[0].streaming == 1)
        // A call released before its first byte was never counted.
        pool.release(leases[1], outcome: .cancelled, now: 1)
        #expect(pool.accounts[0].streaming == 1)
        var streamed = leases[0]
        streamed.streaming = true
        pool.release(streamed, outcome: .cancelled, now: 1)
        #expect(pool.accounts[0].streaming == 0)
        #expect(pool.accounts[0].inFlight == 0)
    }
}
