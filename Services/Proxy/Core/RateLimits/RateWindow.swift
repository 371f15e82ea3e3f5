/// Requests and tokens reserved against an account's per-minute limits, to be reconciled later.
public struct RateReservation: Sendable, Hashable {
    /// The one-second slot the reservation was booked in.
    public var second: Int64
    public var tokens: Int

    public init(second: Int64, tokens: Int) {
        self.second = second
        self.tokens = tokens
    }
}

/// A sliding one-minute window of requests and tokens for one account, kept in sixty one-second slots so
/// it costs the same at 5 or 5,000 requests a second. Calls reserve their expected tokens before they are
/// sent and are reconciled with the real usage afterwards.
public struct RateWindow: Sendable, Equatable {
    public let requestsPerMinute: Int?
    public let tokensPerMinute: Int?
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

    /// Whether one more request of `tokens` fits. A request larger than the whole token limit is let through
    /// when the window is empty, so it is slow rather than stuck forever.
    public func admits(tokens needed: Int, now: Double) -> Bool {
        guard requestsPerMinute != nil || tokensPerMinute != nil else { return true }
        let used = usage(now: now)
        if let rpm = requestsPerMinute, used.requests + 1 > rpm { return false }
        if let tpm = tokensPerMinute, used.tokens + needed > tpm, used.tokens > 0 { return false }
        return true
    }

    /// The earliest time at which `admits` may turn true: when the oldest booked second leaves the window.
    public func nextAdmission(now: Double) -> Double {
        let current = Self.second(now)
        var oldest = current
        for index in 0..<Self.slotCount where seconds[index] > current - 60 && seconds[index] <= current {
            if requests[index] > 0 || tokens[index] > 0 { oldest = min(oldest, seconds[index]) }
        }
        return Double(oldest + 60)
    }

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
        return RateReservation(second: current, tokens: max(0, reserved))
    }

    /// Replaces a reservation's tokens with what the call really used (nil: keep the estimate). A request
    /// that never reached the upstream gives its request back too. Slots already out of the window are left.
    public mutating func reconcile(_ reservation: RateReservation, actualTokens: Int?, reachedUpstream: Bool = true) {
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
