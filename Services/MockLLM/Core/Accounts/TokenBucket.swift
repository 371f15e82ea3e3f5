/// One rate limit as OpenAI applies it: a bucket of `capacity` units (requests or tokens) that refills
/// evenly over `windowSeconds`. A request takes its units at admission, or is refused with the wait
/// until the bucket holds enough again.
public struct TokenBucket: Sendable, Equatable {
    public let capacity: Double
    public let windowSeconds: Double
    public private(set) var level: Double
    public private(set) var updatedAt: Double

    public init(capacity: Int, windowSeconds: Double, now: Double) {
        self.capacity = Double(max(1, capacity))
        self.windowSeconds = max(1e-9, windowSeconds)
        self.level = self.capacity
        self.updatedAt = now
    }

    /// Units refilled per second.
    public var refillPerSecond: Double { capacity / windowSeconds }

    /// Brings the level up to `now`.
    public mutating func refill(now: Double) {
        guard now > updatedAt else { return }
        level = min(capacity, level + (now - updatedAt) * refillPerSecond)
        updatedAt = now
    }

    /// Seconds until `units` are available (0 when they are now). A request larger than the whole bucket
    /// waits for a full window, after which it is still refused: OpenAI's "request too large".
    public func wait(for units: Double) -> Double {
        if units <= level { return 0 }
        if units > capacity { return windowSeconds }
        return (units - level) / refillPerSecond
    }

    /// Takes `units`; call only after `wait(for:)` returned 0.
    public mutating func take(_ units: Double) {
        level -= units
    }

    /// Gives back `units` (a reservation that turned out larger than the use), never above capacity.
    public mutating func refund(_ units: Double) {
        level = min(capacity, level + max(0, units))
    }

    /// Whole units left now.
    public var remaining: Int { max(0, Int(level.rounded(.down))) }

    /// Seconds until the bucket is full again (OpenAI's `x-ratelimit-reset-*`).
    public var secondsUntilFull: Double { max(0, (capacity - level) / refillPerSecond) }
}
