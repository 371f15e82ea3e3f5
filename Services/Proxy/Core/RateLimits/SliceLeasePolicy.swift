/// How a replica leases slices of its accounts' per-minute limits from the shared store: each slice is
/// `sliceSeconds` of the limit, usable for `validitySeconds` after it was asked for, refilled ahead of need while the
/// account was asked for within `demandMemory` seconds. The store counts a grant in the account's window for
/// `windowSeconds` (a minute plus the validity), so requests sent from it fall inside the minute it was counted in.
public struct SliceLeasePolicy: Sendable, Equatable {
    public var sliceSeconds: Double
    public var validitySeconds: Double
    public var demandMemory: Double

    public init(sliceSeconds: Double = 1, validitySeconds: Double = 2, demandMemory: Double = 5) {
        self.sliceSeconds = max(0.01, sliceSeconds)
        self.validitySeconds = max(0.01, validitySeconds)
        self.demandMemory = demandMemory
    }

    /// How long the store counts a grant against the account's limits.
    public var windowSeconds: Double { 60 + validitySeconds }

    /// A slice's share of a per-minute `limit`, at least 1.
    public func slice(of limit: Int) -> Int { max(1, Int((Double(limit) * sliceSeconds / 60).rounded(.up))) }
}

/// A slice a replica should lease for one account now.
public struct SliceRequest: Sendable, Equatable {
    public var account: Int
    /// Requests wanted (0 when the account limits no requests).
    public var requests: Int
    /// Tokens wanted (0 when the account limits no tokens).
    public var tokens: Int
    /// Tokens already used beyond reservations, to be recorded with the grant.
    public var debt: Int

    public init(account: Int, requests: Int, tokens: Int, debt: Int) {
        self.account = account
        self.requests = requests
        self.tokens = tokens
        self.debt = debt
    }
}

/// Slices past their validity with something left, to give back to the store.
public struct ExpiredSlices: Sendable, Equatable {
    public var account: Int
    public var slices: [RateSlice]

    public init(account: Int, slices: [RateSlice]) {
        self.account = account
        self.slices = slices
    }
}

extension AccountPool {
    /// Accounts with per-minute limits.
    public var limitedAccounts: [Int] { accounts.indices.filter { accounts[$0].rate.isLimited } }

    /// Switches every limited account to `source`; returns the slices held until then, to be given back.
    public mutating func setRateSource(_ source: RateBudgetSource) -> [ExpiredSlices] {
        var returned: [ExpiredSlices] = []
        for index in limitedAccounts {
            if case .shared(var budget) = accounts[index].rate.source {
                if case .shared = source { continue }
                let slices = budget.drain()
                if !slices.isEmpty { returned.append(ExpiredSlices(account: index, slices: slices)) }
            }
            accounts[index].rate.source = source
        }
        return returned
    }

    /// Divides every account's `max_concurrency` by the proxy replicas sharing the accounts (1: the whole of it), at
    /// least one request each.
    public mutating func shareConcurrency(replicas: Int) {
        for index in accounts.indices {
            accounts[index].concurrencyShare = max(1, accounts[index].deployment.maxConcurrency / max(1, replicas))
        }
    }

    /// Adds a leased slice to an account (ignored unless it uses shared limits then).
    public mutating func addSlice(_ slice: RateSlice, account: Int, settledDebt: Int) -> Bool {
        guard case .shared(var budget) = accounts[account].rate.source else { return false }
        budget.add(slice, settledDebt: settledDebt)
        accounts[account].rate.source = .shared(budget)
        return true
    }

    /// What to lease and give back now: slices past their validity come out, and an account asked for recently whose
    /// slices in hand are below one slice (or below a call's need) gets a request for one more. `leasing` are the
    /// accounts with a lease already under way.
    public mutating func planLeases(policy: SliceLeasePolicy, leasing: Set<Int>, now: Double) -> (
        requests: [SliceRequest], expired: [ExpiredSlices]
    ) {
        var requests: [SliceRequest] = []
        var expired: [ExpiredSlices] = []
        for index in limitedAccounts {
            guard case .shared(var budget) = accounts[index].rate.source else { continue }
            let old = budget.expire(now: now)
            if !old.isEmpty { expired.append(ExpiredSlices(account: index, slices: old)) }
            accounts[index].rate.source = .shared(budget)
            guard !leasing.contains(index), now - budget.lastDemand <= policy.demandMemory else { continue }
            let rate = accounts[index].rate
            let inHand = budget.available(now: now)
            let requestSlice = rate.requestsPerMinute.map { policy.slice(of: $0) } ?? 0
            let tokenSlice = rate.tokensPerMinute.map { max(policy.slice(of: $0), budget.unmetTokens) } ?? 0
            let short =
                (rate.requestsPerMinute != nil && inHand.requests < requestSlice)
                || (rate.tokensPerMinute != nil && (inHand.tokens < tokenSlice || budget.unmetTokens > 0))
            guard short else { continue }
            requests.append(
                SliceRequest(
                    account: index, requests: requestSlice, tokens: min(tokenSlice, rate.tokensPerMinute ?? 0),
                    debt: budget.tokenDebt))
        }
        return (requests, expired)
    }
}
