import MockLLMCore

/// How a simulated provider answers: time to first token from the prompt, then a time per output token that grows
/// with the number of requests it is serving past its knee. Both the virtual-time simulator and (once it lands)
/// the mock upstream's congestion model describe the same provider.
public protocol UpstreamLatencyModel: Sendable {
    /// Requests the provider serves at once; more wait in its own FIFO queue.
    var concurrencyCap: Int { get }
    /// Dispatch (start of service) to first token.
    func timeToFirstTokenMs(promptTokens: Int) -> Double
    /// Time per output token while `inflight` requests are being served.
    func timePerOutputTokenMs(inflight: Int) -> Double
}

/// ttft = base + prefill·prompt_tokens; tpot(n) = tpot0·(1 + alpha·max(0, n − knee)/knee).
///
/// With alpha = 1 the provider's token throughput is flat past the knee (n / tpot(n) = knee / tpot0): flooding it
/// buys no throughput, only longer latency for everyone — the behaviour of a congested shared provider.
public struct KneeLatencyModel: UpstreamLatencyModel, Codable, Equatable {
    public var baseTTFTMs: Double
    public var prefillMsPerToken: Double
    public var tpotMs: Double
    public var knee: Int
    public var alpha: Double
    public var concurrencyCap: Int

    public init(
        baseTTFTMs: Double = 300, prefillMsPerToken: Double = 0.2, tpotMs: Double = 20, knee: Int = 16,
        alpha: Double = 1, concurrencyCap: Int = 64
    ) {
        self.baseTTFTMs = baseTTFTMs
        self.prefillMsPerToken = prefillMsPerToken
        self.tpotMs = tpotMs
        self.knee = max(knee, 1)
        self.alpha = alpha
        self.concurrencyCap = max(concurrencyCap, 1)
    }

    /// The mock upstream's own latency model with these parameters (seconds): the simulator evaluates the same
    /// formulas the `maitre-mock-llm` serves with.
    public var profile: LatencyProfile {
        LatencyProfile(
            baseSeconds: baseTTFTMs / 1000, prefillSecondsPerToken: prefillMsPerToken / 1000,
            tpotSeconds: tpotMs / 1000,
            alpha: alpha, knee: Double(knee))
    }

    public func timeToFirstTokenMs(promptTokens: Int) -> Double {
        profile.timeToFirstToken(promptTokens: promptTokens) * 1000
    }

    public func timePerOutputTokenMs(inflight: Int) -> Double {
        profile.timePerOutputToken(inFlight: inflight) * 1000
    }

    /// Output tokens per second once the provider is at or past its knee (alpha = 1: its maximum).
    public var saturatedTokensPerSecond: Double { Double(knee) / tpotMs * 1000 }

    /// Uncongested duration of a request: what a client reading the provider's nominal speed would expect.
    public func nominalDurationMs(promptTokens: Int, outputTokens: Int) -> Double {
        timeToFirstTokenMs(promptTokens: promptTokens) + Double(max(outputTokens - 1, 0)) * tpotMs
    }

    enum CodingKeys: String, CodingKey {
        case baseTTFTMs = "base_ttft_ms"
        case prefillMsPerToken = "prefill_ms_per_token"
        case tpotMs = "tpot_ms"
        case knee, alpha
        case concurrencyCap = "concurrency_cap"
    }
}
