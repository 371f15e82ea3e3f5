/// Tuning of one account's AIMD window.
public struct AIMDSettings: Sendable, Equatable {
    /// Window a fresh account starts with.
    public var initialWindow: Double
    /// Ceiling of the window (the account's `max_concurrency`).
    public var maxWindow: Double
    /// Multiplier applied on congestion (0.5 halves the window).
    public var decreaseFactor: Double
    /// A success slower than the EWMA baseline times this factor counts as a latency spike.
    public var spikeFactor: Double
    /// A fixed latency target in milliseconds; replaces the EWMA-based target when set.
    public var latencyTargetMs: Double?
    /// Weight of the newest sample in the EWMA baseline.
    public var ewmaAlpha: Double
    /// Samples the baseline needs before it can call a spike.
    public var minimumSamples: Int
    /// A spike must also exceed the baseline by this many milliseconds, so sub-millisecond jitter on a very
    /// fast upstream is not mistaken for congestion.
    public var spikeSlackMs: Double
    /// Slow start, as in TCP: until the first congestion signal the window grows by one per fast success (doubling
    /// each round trip) instead of one per window, so a fresh account reaches its working size in a few rounds.
    public var slowStart: Bool
    /// A stream's first byte that came late while other calls were streaming shows a provider serving about that
    /// many and queueing the rest (llama.cpp's slots, vLLM's waiting queue): the window falls to this share of the
    /// calls then streaming when that is more than the multiplicative decrease leaves. Halving would leave the
    /// provider's slots idle for a whole climb back; the share below 1 still shrinks a window whose every call
    /// streams (a provider that slows down instead of queueing).
    public var streamingShare: Double

    public init(
        initialWindow: Double = 2,
        maxWindow: Double = 64,
        decreaseFactor: Double = 0.5,
        spikeFactor: Double = 3,
        latencyTargetMs: Double? = nil,
        ewmaAlpha: Double = 0.1,
        minimumSamples: Int = 8,
        spikeSlackMs: Double = 5,
        slowStart: Bool = true,
        streamingShare: Double = 0.9
    ) {
        self.maxWindow = max(1, maxWindow)
        self.initialWindow = min(max(1, initialWindow), self.maxWindow)
        self.decreaseFactor = min(max(0.05, decreaseFactor), 0.95)
        self.spikeFactor = max(1, spikeFactor)
        self.latencyTargetMs = latencyTargetMs
        self.ewmaAlpha = min(max(0.001, ewmaAlpha), 1)
        self.minimumSamples = max(0, minimumSamples)
        self.spikeSlackMs = max(0, spikeSlackMs)
        self.slowStart = slowStart
        self.streamingShare = min(max(0, streamingShare), 1)
    }
}

/// Which latency a sample measures: streams report the time to the first byte; other calls report the whole
/// call divided by (output tokens + 16), which stays flat across answer lengths (time to first token plus
/// time per token) yet rises when the upstream queues or decodes slower. They get separate baselines.
public enum LatencyKind: Int, Sendable {
    case firstByte = 0
    case complete = 1
}

/// What a sample did to the window.
public enum WindowChange: Sendable, Equatable {
    case unchanged
    case increased
    case decreased
}

/// The concurrency window of one upstream account, adapted like TCP's congestion window: additive increase
/// by one after each window's worth of fast successes, multiplicative decrease on a 429, a 5xx, a timeout or
/// a latency spike, after a TCP-like slow start (growth by one per success until the first congestion signal, whose
/// halved window becomes the slow-start threshold; the window grows fast again only up to it). Each decrease opens a new epoch; congestion signals from requests sent in an older epoch
/// do not cut again, so one burst of errors halves the window once, as one loss event does in TCP.
public struct AIMDWindow: Sendable, Equatable {
    public let settings: AIMDSettings
    /// The current window; requests in flight may not exceed `limit`.
    public private(set) var size: Double
    /// Number of decreases so far; a request remembers the epoch it was sent in.
    public private(set) var epoch: Int = 0
    private var successesThisRound: Int = 0
    /// Below this size the window grows by one per success (slow start); infinite until the first congestion signal.
    public private(set) var slowStartThreshold: Double = .infinity
    private var baselines: [Double?] = [nil, nil]
    private var samples: [Int] = [0, 0]

    public init(settings: AIMDSettings) {
        self.settings = settings
        self.size = settings.initialWindow
        if !settings.slowStart { slowStartThreshold = 0 }
    }

    /// Whether the window is still in slow start.
    public var inSlowStart: Bool { size < slowStartThreshold }

    /// Requests that may be in flight at once.
    public var limit: Int { max(1, Int(size.rounded(.down))) }

    /// The EWMA latency baseline in milliseconds for `kind`, once there is one.
    public func baselineMs(_ kind: LatencyKind) -> Double? { baselines[kind.rawValue] }

    /// The latency above which a success counts as a spike, when known.
    public func targetMs(_ kind: LatencyKind) -> Double? {
        if let fixed = settings.latencyTargetMs { return fixed }
        guard samples[kind.rawValue] >= settings.minimumSamples, let baseline = baselines[kind.rawValue] else {
            return nil
        }
        return max(baseline * settings.spikeFactor, baseline + settings.spikeSlackMs)
    }

    /// Records a successful call with congestion signal `latencyMs` (see `LatencyKind`), sent in epoch
    /// `sentEpoch`. A fixed `latencyTargetMs` is compared with `elapsedMs` (time to first byte, or the whole
    /// call) when given. `streaming`: for a stream's first byte, the account's calls then streaming, itself included.
    /// `paced`: the caller holds the provider at its slots, so a spike is its line, not congestion: such a sample
    /// neither teaches the baseline nor cuts the window, and counts as a success.
    @discardableResult
    public mutating func recordSuccess(
        latencyMs: Double, kind: LatencyKind, sentEpoch: Int, elapsedMs: Double? = nil, streaming: Int? = nil,
        paced: Bool = false
    ) -> WindowChange {
        let latency = max(0, latencyMs)
        let isSpike: Bool
        if let fixed = settings.latencyTargetMs {
            isSpike = (elapsedMs ?? latency) > fixed
        } else {
            isSpike = targetMs(kind).map { latency > $0 } ?? false
        }
        // A paced caller's spike is the line it keeps on purpose: neither a baseline sample nor a cut, and the window
        // grows as for any success.
        if !(paced && isSpike) {
            learnBaseline(latency, index: kind.rawValue, isSpike: isSpike)
            if isSpike { return recordCongestion(sentEpoch: sentEpoch, streaming: streaming) }
        }
        if inSlowStart && size < settings.maxWindow {
            size = min(settings.maxWindow, size + 1)
            successesThisRound = 0
            return .increased
        }
        successesThisRound += 1
        if successesThisRound >= limit && size < settings.maxWindow {
            size = min(settings.maxWindow, size + 1)
            successesThisRound = 0
            return .increased
        }
        return .unchanged
    }

    private mutating func learnBaseline(_ latency: Double, index: Int, isSpike: Bool) {
        if samples[index] < settings.minimumSamples {
            // The baseline starts from the lowest of the first samples, never from the first alone: against a
            // provider that queues, the first answers of a burst waited behind each other.
            baselines[index] = min(baselines[index] ?? latency, latency)
        } else if let baseline = baselines[index] {
            // A spike only nudges the baseline, so one slow answer cannot teach the window that slow is normal.
            let alpha = isSpike ? settings.ewmaAlpha / 4 : settings.ewmaAlpha
            baselines[index] = baseline + alpha * (latency - baseline)
        } else {
            baselines[index] = latency
        }
        samples[index] += 1
    }

    /// Records a congestion signal (429, 5xx, timeout, spike) from a request sent in epoch `sentEpoch`; a late first
    /// byte gives the calls then `streaming` (see `AIMDSettings.streamingShare`).
    @discardableResult
    public mutating func recordCongestion(sentEpoch: Int, streaming: Int? = nil) -> WindowChange {
        guard sentEpoch >= epoch else { return .unchanged }
        let served = Double(streaming ?? 0) * settings.streamingShare
        let reduced = max(1, size * settings.decreaseFactor, min(served, size))
        successesThisRound = 0
        epoch += 1
        slowStartThreshold = reduced
        guard reduced < size else { return .unchanged }
        size = reduced
        return .decreased
    }
}
