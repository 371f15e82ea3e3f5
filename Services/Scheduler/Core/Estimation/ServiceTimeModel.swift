/// Learns how long the upstream takes per request from completions: time to first token and time per output token,
/// each an EWMA, plus low-quantile baselines of both that stand for the uncongested provider.
///
/// The congestion signal (`slowdownRatio`) compares each whole answer with what the uncongested provider would have
/// taken for it (baseline TTFT + tokens × baseline per-token time). The time to first token is part of it on
/// purpose: work that waits downstream of the scheduler (a proxy's queue, the provider's own queue) shows up as a
/// longer wait for the first token while the per-token time stays flat, and a signal blind to it would keep
/// dispatching into a queue the scheduler cannot order.
public struct ServiceTimeModel: Sendable, Equatable {
    /// Smoothed time per output token (ms), as the provider behaves now.
    public private(set) var msPerOutputToken: Double
    /// Smoothed time to first token (ms).
    public private(set) var ttftMs: Double
    /// Per-token time of the uncongested provider: follows lower samples fast and higher ones slowly.
    public private(set) var baselineMsPerOutputToken: Double
    /// Time to first token of the uncongested provider (same low-quantile tracking).
    public private(set) var baselineTtftMs: Double
    /// Smoothed ratio of whole-answer latency to the baseline latency of the same answer.
    public private(set) var latencyRatio: Double = 1
    public private(set) var samples = 0

    var alpha: Double
    var baselineDownAlpha: Double
    var baselineUpAlpha: Double

    public init(policy: SchedulerPolicy) {
        msPerOutputToken = policy.priorMsPerOutputToken
        ttftMs = policy.priorTtftMs
        baselineMsPerOutputToken = policy.priorMsPerOutputToken
        baselineTtftMs = policy.priorTtftMs
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

    /// How much slower answers arrive than from the uncongested provider: the larger of the smoothed whole-answer
    /// ratio and the smoothed per-token ratio. 1 means as fast as it gets.
    public var slowdownRatio: Double {
        max(latencyRatio, perTokenRatio)
    }

    /// Smoothed per-token time over its baseline.
    public var perTokenRatio: Double {
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
            if observedTTFT != nil {
                ttftMs = ttft
                baselineTtftMs = ttft
            }
        } else {
            msPerOutputToken += alpha * (perToken - msPerOutputToken)
            let gain = perToken < baselineMsPerOutputToken ? baselineDownAlpha : baselineUpAlpha
            baselineMsPerOutputToken += gain * (perToken - baselineMsPerOutputToken)
            if observedTTFT != nil {
                ttftMs += alpha * (ttft - ttftMs)
                let ttftGain = ttft < baselineTtftMs ? baselineDownAlpha : baselineUpAlpha
                baselineTtftMs += ttftGain * (ttft - baselineTtftMs)
            }
        }
        let expected = baselineTtftMs + Double(max(outputTokens - 1, 0)) * baselineMsPerOutputToken
        if expected > 0 {
            let ratio = max(latencyMs / expected, 1)
            latencyRatio = samples == 0 ? ratio : latencyRatio + alpha * (ratio - latencyRatio)
        }
        samples += 1
    }
}
