/// Requests and tokens reserved against an account's per-minute limits, to be reconciled later.
public struct RateReservation: Sendable, Hashable {
    /// The one-second slot the reservation was booked in.
    public var second: Int64
    public var tokens: Int
    /// The leased slice it was charged to, with shared limits.
    public var slice: Int64?

    public init(second: Int64, tokens: Int, slice: Int64? = nil) {
        self.second = second
        self.tokens = tokens
        self.slice = slice
    }
}

/// A sliding one-minute window of requests and tokens for one account, kept in sixty one-second slots so
/// it costs the same at 5 or 5,000 requests a second. Calls reserve their expected tokens before they are
/// sent and are reconciled with the real usage afterwards. The window always counts this process's calls; its
/// `source` says what bounds them: the configured limits, slices of the limits leased from the shared store, or a
/// share of the limits while that store is unreachable.
public struct RateWindow: Sendable, Equatable {
    public let requestsPerMinute: Int?
    public let tokensPerMinute: Int?
    public var source: RateBudgetSource = .local
    private var seconds: [Int64]
    private var requests: [Int]
    private var tokens: [Int]
    static let slotCount = 60

    public init(requestsPerMinute: Int?, tokensPerMinute: Int?) {
        self.requestsPerMinute = requestsPerMinute.flatMap { $0 > 0 ? $0 : nil }
        self.tokensPerMinute = tokensPerMinute.flatMap { $0 > 0 ? $0 : nil }
        self.seconds = Array(repeating: Int64.min, count: Self.slotCount)
        self.requests = Array(repeating: 0, count: Self.slotCount)
        self.tokens = Array(repeating: 0, count: Self.slotCount)
    }

    static func second(_ now: Double) -> Int64 { Int64(now.rounded(.down)) }

    static func slot(_ second: Int64) -> Int { Int(((second % 60) + 60) % 60) }

    /// Requests and tokens booked in the last minute.
    public func usage(now: Double) -> (requests: Int, tokens: Int) {
        let current = Self.second(now)
        var requestCount = 0
        var tokenCount = 0
        for index in 0..<Self.slotCount where seconds[index] > current - 60 && seconds[index] <= current {
            requestCount += requests[index]
            tokenCount += tokens[index]
        }
        return (requestCount, tokenCount)
    }

    /// Whether the account has per-minute limits at all.
    public var isLimited: Bool { requestsPerMinute != nil || tokensPerMinute != nil }

    /// Whether one more request of `tokens` fits. A request larger than the whole token limit is let through
    /// when the window is empty, so it is slow rather than stuck forever. With shared limits it must also fit in the
    /// slices in hand.
    public func admits(tokens needed: Int, now: Double) -> Bool {
        guard isLimited else { return true }
        var divisor = 1
        switch source {
        case .local: break
        case .localShare(let replicas): divisor = max(1, replicas)
        case .shared(let budget):
            let fits = budget.fits(
                tokens: needed, limitsRequests: requestsPerMinute != nil, tokenLimit: tokensPerMinute, now: now)
            if !fits { return false }
        }
        let used = usage(now: now)
        if let rpm = requestsPerMinute, used.requests + 1 > max(1, rpm / divisor) { return false }
        if let tpm = tokensPerMinute, used.tokens + needed > max(1, tpm / divisor), used.tokens > 0 { return false }
        return true
    }

    /// With shared limits, tells the budget a call of `tokens` asked for room now (the refill follows demand).
    public mutating func noteDemand(tokens needed: Int, now: Double) {
        guard case .shared(var budget) = source else { return }
        source = .local  // the budget's slices stay uniquely referenced: changed in place, not copied
        budget.noteDemand(tokens: needed, tokenLimit: tokensPerMinute, now: now)
        source = .shared(budget)
    }

    /// The earliest time at which `admits` may turn true: when the oldest booked second leaves the window, or, with
    /// shared limits, soon (a leased slice arrives in the background and wakes the waiting calls itself).
    public func nextAdmission(now: Double) -> Double {
        if case .shared = source { return now + Self.sharedRecheck }
        let current = Self.second(now)
        var oldest = current
        for index in 0..<Self.slotCount where seconds[index] > current - 60 && seconds[index] <= current {
            if requests[index] > 0 || tokens[index] > 0 { oldest = min(oldest, seconds[index]) }
        }
        return Double(oldest + 60)
    }

    /// How soon a call waiting for a leased slice looks again, should no refill wake it first.
    static let sharedRecheck = 0.25

    /// Books one request of `tokens` now.
    public mutating func reserve(tokens reserved: Int, now: Double) -> RateReservation {
        let current = Self.second(now)
        let index = Self.slot(current)
        if seconds[index] != current {
            seconds[index] = current
            requests[index] = 0
            tokens[index] = 0
        }
        requests[index] += 1
        tokens[index] += max(0, reserved)
        var slice: Int64?
        if case .shared(var budget) = source {
            source = .local
            slice = budget.spend(
                tokens: reserved, limitsRequests: requestsPerMinute != nil, limitsTokens: tokensPerMinute != nil,
                now: now)
            source = .shared(budget)
        }
        return RateReservation(second: current, tokens: max(0, reserved), slice: slice)
    }

    /// Replaces a reservation's tokens with what the call really used (nil: keep the estimate). A request
    /// that never reached the upstream gives its request back too. Slots already out of the window are left.
    public mutating func reconcile(
        _ reservation: RateReservation, actualTokens: Int?, reachedUpstream: Bool = true, now: Double
    ) {
        if case .shared(var budget) = source {
            source = .local
            let used = actualTokens.map { max(0, $0) } ?? (reachedUpstream ? reservation.tokens : 0)
            budget.reconcile(
                slice: reservation.slice, tokenDelta: tokensPerMinute == nil ? 0 : used - reservation.tokens,
                returnRequest: !reachedUpstream && requestsPerMinute != nil, now: now)
            source = .shared(budget)
        }
        let index = Self.slot(reservation.second)
        guard seconds[index] == reservation.second else { return }
        if let actualTokens {
            tokens[index] = max(0, tokens[index] - reservation.tokens + max(0, actualTokens))
        } else if !reachedUpstream {
            tokens[index] = max(0, tokens[index] - reservation.tokens)
        }
        if !reachedUpstream { requests[index] = max(0, requests[index] - 1) }
    }
}
