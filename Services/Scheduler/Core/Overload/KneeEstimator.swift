/// How many requests the provider can take at once before it slows down, found the way TCP BBR sizes its window:
/// the bottleneck delivery rate (output tokens per ms the provider produced for this client while it was saturated,
/// a windowed maximum) times the uncongested time per output token is the number of requests in flight at the knee.
/// The engine keeps `gain` times that many in flight.
///
/// Each completed request is one sample: the average number of this client's requests in flight during its life,
/// divided by its own time per output token, is the delivery rate it saw; the bottleneck is the highest rate of the
/// last `windowMs` (a sample taken below the knee shows less than the bottleneck, never more). The cap engages once
/// a completion was clearly slowed down (per-token time at least `saturationRatio` × the baseline): before that the
/// provider's capacity has not been found and the token budgets alone limit dispatch (BBR's start-up). While the cap
/// holds the provider below its knee, each round's samples raise it by `gain`, so it climbs back to the knee instead
/// of locking in a low estimate. Samples age out after `windowMs`; without recent samples
/// the last estimate grows by `probeGrowth` per window, so a provider that became faster is rediscovered (as BBR
/// probes for more bandwidth) while a cap that holds the provider exactly at its knee does not vanish and let a
/// flood through.
///
/// At the fixed point the slowdown equals `gain` whatever the provider's curve: with tpot(n) growing past a knee k,
/// cap = gain · n / (tpot(n)/tpot₀) holds still only where tpot(n)/tpot₀ = gain.
public struct KneeEstimator: Sendable, Equatable {
    struct Sample: Sendable, Equatable {
        var tokensPerMs: Double
        var atMs: Double
    }

    private var samples: [Sample] = []
    /// The newest estimate and its time: what counts once the window holds no sample.
    private var last: Sample?
    /// Whether the provider was seen saturated (the cap is on).
    public private(set) var engaged = false
    /// Growth of a stale estimate per `windowMs` without saturation.
    var probeGrowth = 0.25
    // Set from the policy (`init`, `reconfigure`).
    var gain = 0.0
    var saturationRatio = 1.0
    var windowMs = 1.0
    var minimumCap = 1

    public init(policy: SchedulerPolicy) {
        reconfigure(policy)
    }

    mutating func reconfigure(_ policy: SchedulerPolicy) {
        gain = policy.kneeGain
        saturationRatio = policy.kneeSaturationRatio
        windowMs = policy.kneeWindowMs
        minimumCap = policy.kneeMinimumInflight
    }

    /// Records one completion: the average in-flight count during its life and its per-token time against the
    /// uncongested baseline.
    mutating func observe(averageInflight: Double, msPerOutputToken: Double, baselineMsPerOutputToken: Double, now: Double) {
        guard gain > 0, averageInflight > 0, msPerOutputToken > 0, baselineMsPerOutputToken > 0 else { return }
        if msPerOutputToken >= saturationRatio * baselineMsPerOutputToken { engaged = true }
        let sample = Sample(tokensPerMs: averageInflight / msPerOutputToken, atMs: now)
        samples.append(sample)
        if samples.count > 256 { samples.removeFirst(samples.count - 256) }
        last = Sample(tokensPerMs: bottleneckTokensPerMs(now: now) ?? sample.tokensPerMs, atMs: now)
    }

    /// Bottleneck delivery rate (output tokens per ms): the highest saturated sample of the last `windowMs`, else
    /// the last estimate grown by `probeGrowth` per window since it went stale; nil before any saturation.
    public func bottleneckTokensPerMs(now: Double) -> Double? {
        guard engaged else { return nil }
        let recent = samples.filter { now - $0.atMs <= windowMs }.map(\.tokensPerMs).sorted()
        if !recent.isEmpty {
            // A high quantile rather than the maximum: one sample that measured its speed badly cannot set the cap.
            return recent[min(recent.count - 1, Int(Double(recent.count) * 0.9))]
        }
        guard let last else { return nil }
        let staleWindows = max(0, now - last.atMs - windowMs) / windowMs
        return last.tokensPerMs * (1 + probeGrowth * staleWindows)
    }

    /// Requests in flight at the provider's knee, or nil before the provider was seen saturated (no cap).
    public func knee(baselineMsPerOutputToken: Double, now: Double) -> Double? {
        guard gain > 0, let rate = bottleneckTokensPerMs(now: now) else { return nil }
        return rate * baselineMsPerOutputToken
    }

    /// Both request caps from one knee estimate: `total`, `gain` × the knee (at least `minimumCap`), and `heavy`, the
    /// knee itself (rounded up), so the margin above it stays free for interactive work, which then starts at once
    /// instead of waiting for a long answer to end. Nil while the knee is unknown.
    public func caps(baselineMsPerOutputToken: Double, now: Double) -> (total: Int, heavy: Int)? {
        knee(baselineMsPerOutputToken: baselineMsPerOutputToken, now: now).map {
            (total: max(minimumCap, Int(($0 * gain).rounded(.up))), heavy: max(max(1, minimumCap - 1), Int($0.rounded(.up))))
        }
    }

    /// Requests to keep in flight (`caps(…).total`); nil while the knee is unknown.
    public func inflightCap(baselineMsPerOutputToken: Double, now: Double) -> Int? {
        caps(baselineMsPerOutputToken: baselineMsPerOutputToken, now: now)?.total
    }

    /// Requests heavy work may keep in flight (`caps(…).heavy`); nil while the knee is unknown.
    public func heavyCap(baselineMsPerOutputToken: Double, now: Double) -> Int? {
        caps(baselineMsPerOutputToken: baselineMsPerOutputToken, now: now)?.heavy
    }
}
