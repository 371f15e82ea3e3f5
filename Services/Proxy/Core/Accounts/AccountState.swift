/// The live state of one deployment inside an `AccountPool`.
public struct AccountState: Sendable {
    public let deployment: Deployment
    public internal(set) var window: AIMDWindow
    public internal(set) var rate: RateWindow
    public internal(set) var inFlight: Int = 0
    /// Calls in flight whose stream has sent its first byte.
    public internal(set) var streaming: Int = 0
    /// Until when the account takes no new requests (monotonic seconds).
    public internal(set) var cooldownUntil: Double = 0
    public internal(set) var consecutiveFailures: Int = 0
    public internal(set) var requests: Int = 0
    public internal(set) var successes: Int = 0
    public internal(set) var errors: Int = 0
    public internal(set) var rateLimited: Int = 0
    public internal(set) var cooldowns: Int = 0
    /// Smooth weighted round-robin credit, used to break ties between equally loaded accounts.
    var credit: Double = 0
    /// The most requests this proxy may have in flight on the account: its `max_concurrency` divided by the proxy
    /// replicas sharing it (at least 1), so that the replicas together stay within it.
    public internal(set) var concurrencyShare: Int

    init(deployment: Deployment, aimd: AIMDSettings) {
        self.deployment = deployment
        var settings = aimd
        settings.maxWindow = Double(deployment.maxConcurrency)
        settings.initialWindow = min(aimd.initialWindow, settings.maxWindow)
        if let target = deployment.latencyTargetMs { settings.latencyTargetMs = target }
        self.window = AIMDWindow(settings: settings)
        self.rate = RateWindow(requestsPerMinute: deployment.rpm, tokensPerMinute: deployment.tpm)
        self.concurrencyShare = deployment.maxConcurrency
    }

    /// Requests that may be in flight now: the AIMD window, within this proxy's share of `max_concurrency`.
    public var inFlightLimit: Int { min(window.limit, concurrencyShare) }

    func isCooling(now: Double) -> Bool { cooldownUntil > now }

    /// In flight per unit of weight: the load the pool balances.
    var load: Double { Double(inFlight) / deployment.weight }
}
