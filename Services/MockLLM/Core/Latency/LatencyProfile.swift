/// The simulated provider's timing: time to first token grows with the prompt, the time per output token
/// grows with the number of requests in flight past a knee. All durations are in seconds.
///
///     ttft(p)  = base + prefill · p
///     tpot(n)  = tpot0 · (1 + alpha · max(0, n − knee) / knee)
public struct LatencyProfile: Sendable, Equatable {
    /// Fixed part of the time to first token.
    public var baseSeconds: Double
    /// Extra time to first token per prompt token.
    public var prefillSecondsPerToken: Double
    /// Time per output token with at most `knee` requests in flight.
    public var tpotSeconds: Double
    /// How steeply the time per token grows past the knee (1 = doubles when in-flight reaches 2·knee).
    public var alpha: Double
    /// Requests in flight the provider serves without slowing down.
    public var knee: Double

    public init(baseSeconds: Double, prefillSecondsPerToken: Double, tpotSeconds: Double, alpha: Double, knee: Double) {
        self.baseSeconds = baseSeconds
        self.prefillSecondsPerToken = prefillSecondsPerToken
        self.tpotSeconds = tpotSeconds
        self.alpha = alpha
        self.knee = max(1, knee)
    }

    /// A provider that answers at once: for throughput tests.
    public static let instant = LatencyProfile(
        baseSeconds: 0, prefillSecondsPerToken: 0, tpotSeconds: 0, alpha: 0, knee: 1)

    /// Time to first token (without queueing) for a prompt of `promptTokens`.
    public func timeToFirstToken(promptTokens: Int) -> Double {
        baseSeconds + prefillSecondsPerToken * Double(max(0, promptTokens))
    }

    /// Time per output token while `inFlight` requests are being served.
    public func timePerOutputToken(inFlight: Int) -> Double {
        let excess = max(0, Double(inFlight) - knee)
        return tpotSeconds * (1 + alpha * excess / knee)
    }

    /// True when every duration is zero, so the service can skip sleeping altogether.
    public var isInstant: Bool { baseSeconds == 0 && prefillSecondsPerToken == 0 && tpotSeconds == 0 }

    /// The same profile with every duration multiplied by `factor` (the time-scale flag).
    public func scaled(by factor: Double) -> LatencyProfile {
        LatencyProfile(
            baseSeconds: baseSeconds * factor,
            prefillSecondsPerToken: prefillSecondsPerToken * factor,
            tpotSeconds: tpotSeconds * factor,
            alpha: alpha,
            knee: knee
        )
    }

    /// The next decoding step: how many of `remaining` tokens to produce and how long that takes, at the
    /// current in-flight count. A step lasts at most `maxStepSeconds` (at least one token), so the rate
    /// follows changes of the in-flight count at that granularity; `chunkTokens` caps the step for
    /// streaming, where each step is one SSE chunk. The first output token is due at ttft itself, so the
    /// first step (`isFirst`) spends no time on it.
    public func decodeStep(
        remaining: Int, inFlight: Int, maxStepSeconds: Double, chunkTokens: Int = .max, isFirst: Bool = false
    ) -> DecodeStep {
        guard remaining > 0 else { return DecodeStep(tokens: 0, seconds: 0) }
        let perToken = timePerOutputToken(inFlight: inFlight)
        var tokens = min(remaining, max(1, chunkTokens))
        if perToken > 0, maxStepSeconds.isFinite {
            let fitting = max(1, Int(min(Double(Int.max / 2), maxStepSeconds / perToken)) + (isFirst ? 1 : 0))
            tokens = min(tokens, fitting)
        }
        return DecodeStep(tokens: tokens, seconds: perToken * Double(tokens - (isFirst ? 1 : 0)))
    }

    /// Time of a whole answer of `outputTokens` at a constant in-flight count (no queueing):
    /// ttft + (outputTokens − 1) · tpot(n).
    public func totalSeconds(promptTokens: Int, outputTokens: Int, inFlight: Int) -> Double {
        timeToFirstToken(promptTokens: promptTokens) + Double(max(0, outputTokens - 1))
            * timePerOutputToken(inFlight: inFlight)
    }
}

/// One step of the decoding process: `tokens` produced over `seconds`.
public struct DecodeStep: Sendable, Equatable {
    public var tokens: Int
    public var seconds: Double

    public init(tokens: Int, seconds: Double) {
        self.tokens = tokens
        self.seconds = seconds
    }
}
