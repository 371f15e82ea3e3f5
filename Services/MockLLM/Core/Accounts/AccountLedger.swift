/// Per-key request and token windows and concurrency counts: decides whether a request of a key may
/// start now, and what the `x-ratelimit-*` headers say. Time comes in as `now` (seconds on any clock).
public struct AccountLedger: Sendable {
    /// Length of a rate window: 60 s at real speed, scaled with the time-scale flag.
    public let windowSeconds: Double
    private var accounts: [String: AccountBuckets]

    public init(accounts: [AccountLimits], windowSeconds: Double = 60, now: Double) {
        self.windowSeconds = windowSeconds
        self.accounts = [:]
        for limits in accounts {
            self.accounts[limits.key] = AccountBuckets(limits: limits, windowSeconds: windowSeconds, now: now)
        }
    }

    /// True when no keys are configured: every caller is let in, unlimited.
    public var isOpen: Bool { accounts.isEmpty }

    /// Whether `key` is configured.
    public func knows(_ key: String) -> Bool { accounts[key] != nil }

    /// Admits a request of `key` costing `tokens` against the TPM window, or says which limit refused it.
    public mutating func admit(key: String, tokens: Int, now: Double) -> AccountDecision {
        guard var state = accounts[key] else { return .unknownKey }
        state.requests?.refill(now: now)
        state.tokens?.refill(now: now)
        defer { accounts[key] = state }
        if let cap = state.limits.maxConcurrency, state.inFlight >= cap {
            // A slot frees when some request of the key ends, which the ledger cannot foresee: one (scaled) second.
            return .limited(.concurrency, retryAfterSeconds: windowSeconds / 60, status: state.status)
        }
        let requestWait = state.requests?.wait(for: 1) ?? 0
        if requestWait > 0 {
            return .limited(.requests, retryAfterSeconds: requestWait, status: state.status)
        }
        let tokenWait = state.tokens?.wait(for: Double(tokens)) ?? 0
        if tokenWait > 0 {
            return .limited(.tokens, retryAfterSeconds: tokenWait, status: state.status)
        }
        state.requests?.take(1)
        state.tokens?.take(Double(tokens))
        state.inFlight += 1
        return .admitted(state.status)
    }

    /// Ends a request of `key`; `refundTokens` gives back the part of its token reservation it did not use.
    public mutating func release(key: String, refundTokens: Int = 0, now: Double) {
        guard var state = accounts[key] else { return }
        state.inFlight = max(0, state.inFlight - 1)
        if refundTokens > 0 {
            state.tokens?.refill(now: now)
            state.tokens?.refund(Double(refundTokens))
        }
        accounts[key] = state
    }

    /// Requests of `key` being served now.
    public func inFlight(key: String) -> Int { accounts[key]?.inFlight ?? 0 }

    /// Current status of every key, sorted by key, for `/metrics`.
    public mutating func statuses(now: Double) -> [(key: String, inFlight: Int, status: RateLimitStatus)] {
        accounts.keys.sorted().compactMap { key in
            guard var state = accounts[key] else { return nil }
            state.requests?.refill(now: now)
            state.tokens?.refill(now: now)
            accounts[key] = state
            return (key, state.inFlight, state.status)
        }
    }
}

/// The answer to "may this request start?".
public enum AccountDecision: Sendable, Equatable {
    case admitted(RateLimitStatus)
    case limited(LimitKind, retryAfterSeconds: Double, status: RateLimitStatus)
    case unknownKey
}

/// Which limit refused a request.
public enum LimitKind: String, Sendable, Equatable {
    case requests, tokens, concurrency
}

/// What the `x-ratelimit-*` headers report; nil fields belong to limits the key does not have.
public struct RateLimitStatus: Sendable, Equatable {
    public var limitRequests: Int?
    public var remainingRequests: Int?
    public var resetRequestsSeconds: Double?
    public var limitTokens: Int?
    public var remainingTokens: Int?
    public var resetTokensSeconds: Double?

    public init(
        limitRequests: Int? = nil, remainingRequests: Int? = nil, resetRequestsSeconds: Double? = nil,
        limitTokens: Int? = nil, remainingTokens: Int? = nil, resetTokensSeconds: Double? = nil
    ) {
        self.limitRequests = limitRequests
        self.remainingRequests = remainingRequests
        self.resetRequestsSeconds = resetRequestsSeconds
        self.limitTokens = limitTokens
        self.remainingTokens = remainingTokens
        self.resetTokensSeconds = resetTokensSeconds
    }

    /// The headers OpenAI sends, in its duration format (`6m0s`, `1.2s`, `20ms`).
    public var headers: [(String, String)] {
        var result: [(String, String)] = []
        if let limitRequests, let remainingRequests, let resetRequestsSeconds {
            result.append(("x-ratelimit-limit-requests", String(limitRequests)))
            result.append(("x-ratelimit-remaining-requests", String(remainingRequests)))
            result.append(("x-ratelimit-reset-requests", Self.format(resetRequestsSeconds)))
        }
        if let limitTokens, let remainingTokens, let resetTokensSeconds {
            result.append(("x-ratelimit-limit-tokens", String(limitTokens)))
            result.append(("x-ratelimit-remaining-tokens", String(remainingTokens)))
            result.append(("x-ratelimit-reset-tokens", Self.format(resetTokensSeconds)))
        }
        return result
    }

    /// OpenAI's reset duration format: `20ms` under a second, else `[Hh][Mm]S.SSs` with trailing zeros cut.
    public static func format(_ seconds: Double) -> String {
        if seconds < 1 { return "\(Int((seconds * 1000).rounded(.up)))ms" }
        var rest = seconds
        var text = ""
        let hours = Int(rest / 3600)
        if hours > 0 {
            text += "\(hours)h"
            rest -= Double(hours) * 3600
        }
        let minutes = Int(rest / 60)
        if minutes > 0 || hours > 0 {
            text += "\(minutes)m"
            rest -= Double(minutes) * 60
        }
        let hundredths = Int((rest * 100).rounded(.up))
        let whole = hundredths / 100
        let fraction = hundredths % 100
        if fraction == 0 { return text + "\(whole)s" }
        let digits = fraction % 10 == 0 ? "\(fraction / 10)" : (fraction < 10 ? "0\(fraction)" : "\(fraction)")
        return text + "\(whole).\(digits)s"
    }
}

struct AccountBuckets: Sendable {
    let limits: AccountLimits
    var requests: TokenBucket?
    var tokens: TokenBucket?
    var inFlight = 0

    init(limits: AccountLimits, windowSeconds: Double, now: Double) {
        self.limits = limits
        self.requests = limits.requestsPerMinute.map {
            TokenBucket(capacity: $0, windowSeconds: windowSeconds, now: now)
        }
        self.tokens = limits.tokensPerMinute.map { TokenBucket(capacity: $0, windowSeconds: windowSeconds, now: now) }
    }

    var status: RateLimitStatus {
        RateLimitStatus(
            limitRequests: limits.requestsPerMinute,
            remainingRequests: requests?.remaining,
            resetRequestsSeconds: requests?.secondsUntilFull,
            limitTokens: limits.tokensPerMinute,
            remainingTokens: tokens?.remaining,
            resetTokensSeconds: tokens?.secondsUntilFull
        )
    }
}
