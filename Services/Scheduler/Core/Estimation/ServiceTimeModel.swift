/// Learns how long the upstream takes per request from completions: time to first token and time per output token,
/// each an EWMA, plus a low-quantile baseline of the per-token time that stands for the uncongested provider.
public struct ServiceTimeModel: Sendable, Equatable {
    /// Smoothed time per output token (ms), as the provider behaves now.
    public private(set) var msPerOutputToken: Double
    /// Smoothed time to first token (ms).
    public private(set) var ttftMs: Double
    /// Per-token time of the uncongested provider: follows lower samples fast and higher ones slowly.
    public private(set) var baselineMsPerOutputToken: Double
    public private(set) var samples = 0

    var alpha: Double
    var baselineDownAlpha: Double
    var baselineUpAlpha: Double

    public init(policy: SchedulerPolicy) {
        msPerOutputToken = policy.priorMsPerOutputToken
        ttftMs = policy.priorTtftMs
        baselineMsPerOutputToken = policy.priorMsPerOutputToken
        alpha = policy.estimateAlpha
        baselineDownAlpha = policy.baselineDownAlpha
        baselineUpAlpha = policy.baselineUpAlpha
    }

    /// Adopts new smoothing constants without forgetting what was learned.
    mutating func reconfigure(_ policy: SchedulerPolicy) {
        alpha = policy.estimateAlpha
        baselineDownAlpha = policy.baselineDownAlpha
        baselineUpAlpha = policy.baselineUpAlpha
    }

    /// Predicted duration from dispatch to last token for this many output tokens.
    public func predictedDurationMs(outputTokens: Int) -> Double {
        ttftMs + Double(max(outputTokens, 1)) * msPerOutputToken
    }

    /// Smoothed per-token time over its baseline: 1 means the provider is as fast as it gets.
    public var slowdownRatio: Double {
        baselineMsPerOutputToken > 0 ? msPerOutputToken / baselineMsPerOutputToken : 1
    }

    /// Learns from one successful completion. Without a TTFT the whole latency is spread over the tokens after
    /// subtracting the current TTFT estimate.
    mutating func observe(outputTokens: Int, latencyMs: Double, ttftMs observedTTFT: Double?) {
        guard outputTokens > 0, latencyMs.isFinite, latencyMs > 0 else { return }
        let ttft = min(observedTTFT ?? ttftMs, latencyMs)
        let perToken = max(latencyMs - ttft, 0) / Double(max(outputTokens - (observedTTFT == nil ? 0 : 1), 1))
        if samples == 0 {
            msPerOutputToken = perToken
            baselineMsPerOutputToken = perToken
            if observedTTFT != nil { ttftMs = ttft }
        } else {
            msPerOutputToken += alpha * (perToken - msPerOutputToken)
            if observedTTFT != nil { ttftMs += alpha * (ttft - ttftMs) }
            let gain = perToken < baselineMsPerOutputToken ? baselineDownAlpha : baselineUpAlpha
            baselineMsPerOutputToken += gain * (perToken - baselineMsPerOutputToken)
        }
        samples += 1
    }
}
