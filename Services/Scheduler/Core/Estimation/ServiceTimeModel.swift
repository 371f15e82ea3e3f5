/// Learns how long the upstream takes per request from completions: time to first token and time per output token,
/// each an EWMA, plus low-quantile baselines of both that stand for the uncongested provider.
///
/// The congestion signal (`slowdownRatio`) compares each whole answer with what the uncongested provider would have
/// taken for it (baseline TTFT + tokens × baseline per-token time). The time to first token is part of it on
/// purpose: work that waits downstream of the scheduler (a proxy's queue, the provider's own queue) shows up as a
/// longer wait for the first token while the per-token time stays flat, and a signal blind to it would keep
/// dispatching into a queue the scheduler cannot order.
///
/// The baselines start from the lowest of the first `baselineWarmupSamples` completions (never from one, which may
/// have waited in the provider's queue) and afterwards learn only from completions that did not queue there.
public struct ServiceTimeModel: Sendable, Equatable {
    /// Smoothed time per output token (ms), as the provider behaves now.
    public private(set) var msPerOutputToken: Double
    /// Smoothed time to first token (ms).
    public private(set) var ttftMs: Double
    /// Per-token time of the uncongested provider: follows lower samples fast and higher ones slowly.
    public private(set) var baselineMsPerOutputToken: Double
    /// Time to first token of the uncongested provider (same low-quantile tracking).
    public private(set) var baselineTtftMs: Double
    /// Smoothed time a request holds the provider once it is served (its latency less its queueing delay).
    public private(set) var meanServiceMs: Double
    /// Smoothed ratio of whole-answer latency to the baseline latency of the same answer.
    public private(set) var latencyRatio: Double = 1
    public private(set) var samples = 0

    var alpha: Double
    var baselineDownAlpha: Double
    var baselineUpAlpha: Double
    var warmupSamples: Int
    private var warmupPerToken: [Double] = []
    private var warmupTtft: [Double] = []

    public init(policy: SchedulerPolicy) {
        msPerOutputToken = policy.priorMsPerOutputToken
        ttftMs = policy.priorTtftMs
        baselineMsPerOutputToken = policy.priorMsPerOutputToken
        baselineTtftMs = policy.priorTtftMs
        meanServiceMs = policy.priorTtftMs + 250 * policy.priorMsPerOutputToken
        alpha = policy.estimateAlpha
        baselineDownAlpha = policy.baselineDownAlpha
        baselineUpAlpha = policy.baselineUpAlpha
        warmupSamples = max(1, policy.baselineWarmupSamples)
    }

    /// Adopts new smoothing constants without forgetting what was learned.
    mutating func reconfigure(_ policy: SchedulerPolicy) {
        alpha = policy.estimateAlpha
        baselineDownAlpha = policy.baselineDownAlpha
        baselineUpAlpha = policy.baselineUpAlpha
        warmupSamples = max(1, policy.baselineWarmupSamples)
    }

    /// Whether the baselines were learned (the warm-up is over): before that no slowdown or queueing is measured.
    public var baselineReady: Bool { samples >= warmupSamples }

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
        baselineReady && baselineMsPerOutputToken > 0 ? msPerOutputToken / baselineMsPerOutputToken : 1
    }

    /// How long a request whose first token took `ttftMs` waited in the provider's queue: what exceeds the
    /// uncongested first token (0 during the warm-up).
    public func queueDelayMs(ttftMs: Double) -> Double {
        baselineReady ? max(0, ttftMs - baselineTtftMs) : 0
    }

    /// Learns from one successful completion. Without a TTFT the whole latency is spread over the tokens after
    /// subtracting the current TTFT estimate. A `queued` completion (it waited in the provider's queue) teaches the
    /// current estimates but not the uncongested baselines.
    mutating func observe(outputTokens: Int, latencyMs: Double, ttftMs observedTTFT: Double?, queued: Bool = false) {
        guard outputTokens > 0, latencyMs.isFinite, latencyMs > 0 else { return }
        let ttft = min(observedTTFT ?? ttftMs, latencyMs)
        let perToken = max(latencyMs - ttft, 0) / Double(max(outputTokens - (observedTTFT == nil ? 0 : 1), 1))
        let service = latencyMs - (observedTTFT.map(queueDelayMs) ?? 0)
        if samples == 0 {
            msPerOutputToken = perToken
            meanServiceMs = service
            if observedTTFT != nil { ttftMs = ttft }
        } else {
            msPerOutputToken += alpha * (perToken - msPerOutputToken)
            meanServiceMs += alpha * (service - meanServiceMs)
            if observedTTFT != nil { ttftMs += alpha * (ttft - ttftMs) }
        }
        if !baselineReady {
            warmupPerToken.append(perToken)
            if observedTTFT != nil { warmupTtft.append(ttft) }
            if warmupPerToken.count >= warmupSamples {
                baselineMsPerOutputToken = warmupPerToken.min() ?? baselineMsPerOutputToken
                baselineTtftMs = warmupTtft.min() ?? baselineTtftMs
                warmupPerToken = []
                warmupTtft = []
            }
        } else if !queued {
            let gain = perToken < baselineMsPerOutputToken ? baselineDownAlpha : baselineUpAlpha
            baselineMsPerOutputToken += gain * (perToken - baselineMsPerOutputToken)
            if observedTTFT != nil {
                let ttftGain = ttft < baselineTtftMs ? baselineDownAlpha : baselineUpAlpha
                baselineTtftMs += ttftGain * (ttft - baselineTtftMs)
            }
        }
        samples += 1
        guard baselineReady else { return }
        let expected = baselineTtftMs + Double(max(outputTokens - 1, 0)) * baselineMsPerOutputToken
        if expected > 0 {
            let ratio = max(latencyMs / expected, 1)
            latencyRatio += alpha * (ratio - latencyRatio)
        }
    }
}
