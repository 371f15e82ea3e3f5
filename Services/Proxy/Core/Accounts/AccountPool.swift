/// Cooldown and failure policy of an `AccountPool`.
public struct PoolSettings: Sendable, Equatable {
    public var aimd: AIMDSettings
    /// Cooldown after a 429 that names no `Retry-After`, in seconds.
    public var rateLimitCooldown: Double
    /// Longest cooldown an upstream's `Retry-After` can impose, in seconds.
    public var maxCooldown: Double
    /// Consecutive failures (5xx, timeouts, connect errors) that put an account into cooldown.
    public var failuresBeforeCooldown: Int
    /// Cooldown after that many failures, in seconds.
    public var failureCooldown: Double

    public init(
        aimd: AIMDSettings = AIMDSettings(), rateLimitCooldown: Double = 1, maxCooldown: Double = 300,
        failuresBeforeCooldown: Int = 3, failureCooldown: Double = 5
    ) {
        self.aimd = aimd
        self.rateLimitCooldown = rateLimitCooldown
        self.maxCooldown = maxCooldown
        self.failuresBeforeCooldown = max(1, failuresBeforeCooldown)
        self.failureCooldown = failureCooldown
    }
}

/// A granted slot on one account: the caller must `release` it exactly once with the call's outcome.
public struct Lease: Sendable, Hashable {
    public var account: Int
    public var epoch: Int
    public var reservation: RateReservation
    public var startedAt: Double
    /// Whether the call's stream has sent its first byte (`observeFirstByte`): it counts among the account's calls
    /// streaming until released.
    public var streaming = false
}

/// The proxy's view of one upstream attempt: how a call on one account ended, as far as the account's health is
/// concerned (the AIMD window, cooldowns, retries). One forwarded request may make several attempts.
public enum UpstreamAttemptOutcome: Sendable, Equatable {
    /// The upstream answered; latency is to the first byte for streams, to the end otherwise.
    /// `elapsedMs` is the unnormalised time (to the first byte for streams), checked against a fixed target.
    /// A nil latency means the window already took its sample (`observeFirstByte`) and only the rate window
    /// is reconciled.
    case success(latencyMs: Double?, kind: LatencyKind, totalTokens: Int?, elapsedMs: Double? = nil)
    /// 429, with the upstream's `Retry-After` in seconds when it gave one.
    case rateLimited(retryAfter: Double?)
    /// A 5xx answer.
    case serverError(retryAfter: Double?)
    /// No first byte, or a gap inside a stream, within the time limit.
    case timeout
    /// The connection could not be made.
    case connectFailure
    /// A 4xx other than 429: the request's fault, not the account's.
    case clientError
    /// The client went away first; says nothing about the account.
    case cancelled
}

/// The result of asking the pool for a slot.
public enum Acquisition: Sendable, Equatable {
    case granted(Lease)
    /// Nothing is free: wait for a release, or until `retryAt` (monotonic seconds) when a cooldown or a
    /// rate window ends first.
    case wait(retryAt: Double?)
    case unknownModel
}

/// All upstream accounts of one proxy instance with their AIMD windows, rate windows and cooldowns.
/// Picks, among the accounts of a model that have room in their window, the least loaded per unit of weight
/// (ties by smooth weighted round-robin, so idle traffic spreads exactly by weight). Pure: time is passed in.
public struct AccountPool: Sendable {
    public let settings: PoolSettings
    public internal(set) var accounts: [AccountState]
    private let groups: [String: [Int]]
    private let wildcard: [Int]

    public init(deployments: [Deployment], settings: PoolSettings = PoolSettings()) {
        self.settings = settings
        self.accounts = deployments.map { AccountState(deployment: $0, aimd: settings.aimd) }
        var groups: [String: [Int]] = [:]
        for (index, deployment) in deployments.enumerated() {
            groups[deployment.modelName, default: []].append(index)
        }
        self.wildcard = groups.removeValue(forKey: "*") ?? []
        self.groups = groups
    }

    /// Model names clients may ask for (the wildcard excluded), sorted.
    public var modelNames: [String] { groups.keys.sorted() }

    /// Whether some deployment serves any model name.
    public var hasWildcard: Bool { !wildcard.isEmpty }

    /// The accounts serving `model`: its own deployments, else the wildcard ones; nil when none.
    public func accountIndices(for model: String) -> [Int]? {
        if let group = groups[model] { return group }
        return wildcard.isEmpty ? nil : wildcard
    }

    /// Grants a slot for a call of about `tokens` tokens to `model`, avoiding `excluded` accounts (those a
    /// retry already tried) unless nothing else serves the model.
    public mutating func acquire(model: String, tokens: Int, excluding excluded: Set<Int> = [], now: Double)
        -> Acquisition
    {
        guard let group = accountIndices(for: model) else { return .unknownModel }
        var candidates = group
        if !excluded.isEmpty {
            let remaining = group.filter { !excluded.contains($0) }
            if !remaining.isEmpty { candidates = remaining }
        }
        var best: Int?
        var totalWeight = 0.0
        var retryAt: Double?
        for index in candidates {
            accounts[index].rate.noteDemand(tokens: tokens, now: now)
            let account = accounts[index]
            if account.isCooling(now: now) {
                retryAt = min(retryAt ?? .infinity, account.cooldownUntil)
                continue
            }
            if account.inFlight >= account.inFlightLimit { continue }
            if !accounts[index].rate.admits(tokens: tokens, now: now) {
                retryAt = min(retryAt ?? .infinity, account.rate.nextAdmission(now: now))
                continue
            }
            totalWeight += account.deployment.weight
            accounts[index].credit += account.deployment.weight
            if let current = best {
                let incumbent = accounts[current]
                let candidate = accounts[index]
                if candidate.load < incumbent.load
                    || (candidate.load == incumbent.load && candidate.credit > incumbent.credit)
                {
                    best = index
                }
            } else {
                best = index
            }
        }
        guard let chosen = best else { return .wait(retryAt: retryAt) }
        accounts[chosen].credit -= totalWeight
        accounts[chosen].inFlight += 1
        accounts[chosen].requests += 1
        let reservation = accounts[chosen].rate.reserve(tokens: tokens, now: now)
        return .granted(
            Lease(account: chosen, epoch: accounts[chosen].window.epoch, reservation: reservation, startedAt: now))
    }

    /// Feeds a stream's time to first byte to the account's window as soon as it is known, instead of at the end
    /// of the answer: a window that waits for whole answers grows one long answer at a time, so a fresh account
    /// would hold work back for a minute; the first byte says as much about the account's congestion.
    /// The call counts among the account's calls streaming from now until it is released with `streaming` set.
    @discardableResult
    public mutating func observeFirstByte(_ lease: Lease, latencyMs: Double, paced: Bool = false) -> WindowChange {
        accounts[lease.account].streaming += 1
        // `paced`: a caller that holds the provider at its slots sends no more than it serves plus a short line, so
        // the wait in that line is no sign the account is overdriven (`AIMDWindow.recordSuccess`).
        return accounts[lease.account].window.recordSuccess(
            latencyMs: latencyMs, kind: .firstByte, sentEpoch: lease.epoch, elapsedMs: latencyMs,
            streaming: accounts[lease.account].streaming, paced: paced)
    }

    /// Returns a slot with the call's outcome: adapts the window, reconciles the rate window, sets cooldowns.
    /// Returns what happened to the window and whether a cooldown started.
    @discardableResult
    public mutating func release(_ lease: Lease, outcome: UpstreamAttemptOutcome, now: Double) -> (
        change: WindowChange, cooledDown: Bool
    ) {
        var account = accounts[lease.account]
        account.inFlight = max(0, account.inFlight - 1)
        if lease.streaming { account.streaming = max(0, account.streaming - 1) }
        var change = WindowChange.unchanged
        var cooldown: Double?
        switch outcome {
        case .success(let latencyMs, let kind, let totalTokens, let elapsedMs):
            account.successes += 1
            account.consecutiveFailures = 0
            account.rate.reconcile(lease.reservation, actualTokens: totalTokens, now: now)
            if let latencyMs {
                change = account.window.recordSuccess(
                    latencyMs: latencyMs, kind: kind, sentEpoch: lease.epoch, elapsedMs: elapsedMs)
            }
        case .rateLimited(let retryAfter):
            account.rateLimited += 1
            account.errors += 1
            change = account.window.recordCongestion(sentEpoch: lease.epoch)
            cooldown = min(settings.maxCooldown, retryAfter ?? settings.rateLimitCooldown)
        case .serverError(let retryAfter):
            account.errors += 1
            change = account.window.recordCongestion(sentEpoch: lease.epoch)
            cooldown = failureCooldown(&account, retryAfter: retryAfter)
        case .timeout:
            account.errors += 1
            change = account.window.recordCongestion(sentEpoch: lease.epoch)
            cooldown = failureCooldown(&account, retryAfter: nil)
        case .connectFailure:
            account.errors += 1
            account.rate.reconcile(lease.reservation, actualTokens: nil, reachedUpstream: false, now: now)
            cooldown = failureCooldown(&account, retryAfter: nil)
        case .clientError:
            account.consecutiveFailures = 0
        case .cancelled:
            break
        }
        var cooledDown = false
        if let cooldown, cooldown > 0, now + cooldown > account.cooldownUntil {
            if !account.isCooling(now: now) { account.cooldowns += 1 }
            account.cooldownUntil = now + cooldown
            cooledDown = true
        }
        accounts[lease.account] = account
        return (change, cooledDown)
    }

    private func failureCooldown(_ account: inout AccountState, retryAfter: Double?) -> Double? {
        account.consecutiveFailures += 1
        if let retryAfter { return min(settings.maxCooldown, retryAfter) }
        guard account.consecutiveFailures >= settings.failuresBeforeCooldown else { return nil }
        account.consecutiveFailures = 0
        return settings.failureCooldown
    }
}
