/// How many requests the provider can take at once before it slows down, found the way TCP BBR sizes its window:
/// the bottleneck delivery rate (output tokens per ms the provider produced for this client while it was saturated,
/// a windowed maximum) times the uncongested time per output token is the number of requests in flight at the knee.
/// The engine keeps that many in flight (cruising), and `gain` times that many while it probes for more room, for
/// `probeShare` of each window from its first quarter (BBR's bandwidth probing).
///
/// Each completed request is one sample: the average number of this client's requests in flight during its life,
/// divided by its own time per output token, is the delivery rate it saw; the bottleneck is the highest rate of the
/// last `windowMs` (a sample taken below the knee shows less than the bottleneck, never more). The cap engages once
/// a completion was clearly slowed down (per-token time at least `saturationRatio` × the baseline): before that the
/// provider's capacity has not been found and the token budgets alone limit dispatch (BBR's start-up). While the cap
/// holds the provider below its knee, each probe's samples raise it by `gain`, so it climbs back to the knee instead
/// of locking in a low estimate. Cruising at the knee rather than always `gain` above it matters because caps are
/// whole requests: 1.05 × 16 rounds up to 17, and a provider whose time per token grows by 4 knee-widths past its
/// knee then runs every answer 25% slower and loses 15% of its throughput. Samples age out after `windowMs`; without
/// recent samples
/// the last estimate grows by `probeGrowth` per window, so a provider that became faster is rediscovered (as BBR
/// probes for more bandwidth) while a cap that holds the provider exactly at its knee does not vanish and let a
/// flood through.
///
/// While probing, the fixed point's slowdown equals `gain` whatever the provider's curve: with tpot(n) growing past a
/// knee k, cap = gain · n / (tpot(n)/tpot₀) holds still only where tpot(n)/tpot₀ = gain. The probe's slowed samples
/// read below the knee and do not lower the estimate, which is a high quantile of the window.
///
/// A provider that queues instead (a fixed number of slots with a hidden FIFO line behind them, as llama.cpp, vLLM's
/// waiting queue or a provider's request queue) keeps its time per token flat and makes the first token wait: the
/// completion then carries its queueing delay q (time to first token over the uncongested one) and the number n of
/// this client's requests in flight when it was sent. With a mean service time S, the n − k requests ahead of it
/// beyond the k slots took q ≈ (n − k) · S / k to clear, so k ≈ n · S / (q + S): a queueing sample, which also
/// engages the cap. Each completion gives the smaller of the two estimates. Streamed answers say more: a request whose
/// first token came after a wait in the line was let in the moment a slot freed, with every other slot busy, so the
/// requests then streaming (their first token seen, their answer not ended) are the slots serving this client. While
/// the window holds such counts they are the estimate: the formula assumes the requests ahead were of average length,
/// which shortest-first dispatch makes untrue (long answers hold the slots, the line clears slower, k reads low).
///
/// Before the cap engages, a start-up cap (`startupInflight`, 0 = none) bounds the requests in flight while the
/// provider is unknown, so a burst does not land whole in a queue nobody can reorder. It grows as TCP's slow start
/// grows its window: by one per streamed first token of a request sent into a full cap that came without waiting
/// (at most twice the quickest first token seen, plus a tolerance), up to twice the most requests in flight a clean
/// completion has shown the provider serving without slowing down; otherwise by one per completion that saw neither
/// slowdown nor queueing while the client used at least half of it. A provider with free slots answers within a
/// round trip, so the cap doubles per clean completion round instead of growing by one; a provider whose slots are
/// busy makes the first token wait a whole service time, and the cap stays put.
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
    /// Share of each window in which the cap probes `gain` above the knee (a slowing provider only), from a quarter
    /// of the window: the first probe comes a quarter window after the cap engaged, once the start-up's excess
    /// drained. Sooner matters: the start-up ramp's samples read below the knee, and until a probe shows the provider
    /// one more request at full speed the cap cruises a request short (end to end, seed 0: 15 instead of 16 for the
    /// 15 s until a probe half a window in).
    var probeShare = 0.125
    /// When the cap engaged: the windows of the probing cycle count from it.
    private var engagedAtMs: Double?
    // Set from the policy (`init`, `reconfigure`).
    var gain = 0.0
    var saturationRatio = 1.0
    var windowMs = 1.0
    var minimumCap = 1
    var queueFraction = 0.5
    /// The most a recent request showed the provider serving at full speed, a floor under the estimate: for a
    /// queueing provider, the slots a request that did not wait was sent with; for a slowing one, the requests a
    /// sample had in flight while it ran at full speed. It starts over when the provider's kind changes.
    private var fullSpeedFloor: Sample?
    /// Requests streaming when a request's first token came after a wait in the provider's line (queueing providers
    /// only), in the samples' unit: the slots serving this client, at the baseline time per output token.
    private var servingSamples: [Sample] = []
    /// Whether the provider last showed saturation by queueing (first tokens late) rather than by slowing down.
    public private(set) var queueing = false
    /// The start-up cap in force until the provider is seen saturated (0: none).
    public private(set) var startupCap = 0
    /// The quickest first token seen so far (ms after dispatch), the start-up cap's yardstick for "did not wait".
    private var quickestFirstTokenMs: Double?
    /// The most requests in flight a completion that saw neither slowdown nor queueing was sent with (at least the
    /// initial start-up cap): first tokens grow the start-up cap to twice this at most, because a provider that slows
    /// down instead of queueing still sends its first tokens on time.
    private var validatedInflight = 0

    public init(policy: SchedulerPolicy) {
        reconfigure(policy)
    }

    mutating func reconfigure(_ policy: SchedulerPolicy) {
        gain = policy.kneeGain
        saturationRatio = policy.kneeSaturationRatio
        windowMs = policy.kneeWindowMs
        minimumCap = policy.kneeMinimumInflight
        queueFraction = policy.kneeQueueFraction
        if !engaged {
            startupCap = policy.kneeStartupInflight
            validatedInflight = max(validatedInflight, startupCap)
        }
    }

    /// How one completion waited at the provider: the requests this client had in flight when it was sent (itself
    /// included), its queueing delay and the provider's mean service time (both ms).
    public struct Queueing: Sendable, Equatable {
        public var inflightAtDispatch: Int
        public var delayMs: Double
        public var meanServiceMs: Double
        /// Largest delay that still counts as no wait at all (measurement noise, a longer prompt's prefill).
        public var toleranceMs: Double

        public init(inflightAtDispatch: Int, delayMs: Double, meanServiceMs: Double, toleranceMs: Double = 0) {
            self.inflightAtDispatch = inflightAtDispatch
            self.delayMs = delayMs
            self.meanServiceMs = meanServiceMs
            self.toleranceMs = toleranceMs
        }

        /// Whether the wait is long enough (`fraction` of a mean service time) to show a queue.
        func isQueued(fraction: Double) -> Bool {
            meanServiceMs > 0 && delayMs >= fraction * meanServiceMs
        }

        /// Slots the provider serves this client with: n · S / (q + S).
        var slots: Double {
            Double(inflightAtDispatch) * meanServiceMs / (max(delayMs, 0) + meanServiceMs)
        }
    }

    /// Records one streamed first token, `ttftMs` after its request was sent with `inflightAtDispatch` requests in
    /// flight (itself included): before the cap engages, the start-up cap grows by one when that request filled the
    /// cap and its first token came without waiting. Returns whether it grew.
    @discardableResult
    mutating func observeFirstToken(inflightAtDispatch: Int, ttftMs: Double, toleranceMs: Double) -> Bool {
        let quickest = min(quickestFirstTokenMs ?? ttftMs, ttftMs)
        quickestFirstTokenMs = quickest
        guard gain > 0, !engaged, startupCap > 0, inflightAtDispatch >= startupCap,
            ttftMs <= 2 * quickest + toleranceMs, startupCap < 2 * validatedInflight
        else { return false }
        startupCap += 1
        return true
    }

    /// Records one streamed first token that came `waited` after its request was sent, with `serving` requests then
    /// streaming (itself included): a first token that waited in the provider's line shows the provider queueing,
    /// engages the cap and counts the slots serving this client.
    mutating func observeServing(_ serving: Int, waited: Queueing, baselineMsPerOutputToken: Double, now: Double) {
        guard gain > 0, baselineMsPerOutputToken > 0, serving > 0, waited.isQueued(fraction: queueFraction) else {
            return
        }
        if !queueing { startQueueing() }
        engage(now: now)
        let sample = Sample(tokensPerMs: Double(serving) / baselineMsPerOutputToken, atMs: now)
        servingSamples.append(sample)
        if servingSamples.count > 256 { servingSamples.removeFirst(servingSamples.count - 256) }
        last = Sample(tokensPerMs: bottleneckTokensPerMs(now: now) ?? sample.tokensPerMs, atMs: now)
    }

    /// Records one completion: the average in-flight count during its life and its per-token time against the
    /// uncongested baseline (nil when the answer was too short to measure it), and how long it waited at the provider
    /// (nil without a measured time to first token). `startupJudged`: its first token already grew the start-up cap.
    mutating func observe(
        averageInflight: Double, msPerOutputToken: Double?, baselineMsPerOutputToken: Double, queueing: Queueing? = nil,
        startupJudged: Bool = false, now: Double
    ) {
        guard gain > 0, baselineMsPerOutputToken > 0 else { return }
        var rate: Double?
        var slowed = false
        if let msPerOutputToken, msPerOutputToken > 0, averageInflight > 0 {
            slowed = msPerOutputToken >= saturationRatio * baselineMsPerOutputToken
            rate = averageInflight / msPerOutputToken
        }
        let queued = queueing?.isQueued(fraction: queueFraction) ?? false
        if queued, !self.queueing {
            startQueueing()
        } else if slowed, !queued {
            if self.queueing { fullSpeedFloor = nil }
            self.queueing = false
            servingSamples.removeAll()
        }
        if queued || slowed { engage(now: now) }
        if !queued, !slowed, let queueing, queueing.delayMs <= queueing.toleranceMs {
            validatedInflight = max(validatedInflight, queueing.inflightAtDispatch)
        }
        if !engaged, startupCap > 0, !startupJudged, let queueing, 2 * queueing.inflightAtDispatch >= startupCap {
            startupCap += 1
        }
        if let queueing, self.queueing {
            let slots = max(queueing.slots, 0.5) / baselineMsPerOutputToken
            guard queued else {
                // A request that did not wait at all shows only that the provider serves at least the n it was sent
                // with (below its slots every sample reads low): a floor under the estimate, never a sample. One that
                // waited less than counts as queued says nothing.
                guard queueing.delayMs <= queueing.toleranceMs else { return }
                raiseFloor(to: slots, now: now)
                return
            }
            rate = min(rate ?? slots, slots)
        } else if let msPerOutputToken, msPerOutputToken > 0, averageInflight > 0 {
            noteSpeed(
                averageInflight: averageInflight, msPerOutputToken: msPerOutputToken, slowed: slowed,
                baselineMsPerOutputToken: baselineMsPerOutputToken, now: now)
        }
        guard let rate else { return }
        let sample = Sample(tokensPerMs: rate, atMs: now)
        samples.append(sample)
        if samples.count > 256 { samples.removeFirst(samples.count - 256) }
        last = Sample(tokensPerMs: bottleneckTokensPerMs(now: now) ?? sample.tokensPerMs, atMs: now)
    }

    /// A slowing provider: a sample that ran less than `gain` times slower than uncongested shows the provider serving
    /// its average in flight at (nearly) full speed, a floor under the knee. The samples themselves read low below the
    /// knee, and while the cap cruises there (or a start-up ramp fills the window) their high quantile alone would let
    /// the cap sink below it. A sample slowed down with no more in flight than the floor shows the provider changed.
    private mutating func noteSpeed(
        averageInflight: Double, msPerOutputToken: Double, slowed: Bool, baselineMsPerOutputToken: Double, now: Double
    ) {
        let level = averageInflight / baselineMsPerOutputToken
        if msPerOutputToken < gain * baselineMsPerOutputToken {
            raiseFloor(to: level, now: now)
        } else if slowed, let floor = fullSpeedFloor, level <= floor.tokensPerMs {
            fullSpeedFloor = nil
        }
    }

    /// `level` becomes the floor when it is higher than the current one or that one has aged out of the window.
    private mutating func raiseFloor(to level: Double, now: Double) {
        if fullSpeedFloor.map({ level >= $0.tokensPerMs || now - $0.atMs > windowMs }) ?? true {
            fullSpeedFloor = Sample(tokensPerMs: level, atMs: now)
        }
    }

    private mutating func engage(now: Double) {
        if !engaged { engagedAtMs = now }
        engaged = true
    }

    /// Whether the cap probes above the knee at `now`: `probeShare` of each window since it engaged, from a quarter
    /// of the window.
    public func probing(now: Double) -> Bool {
        guard let engagedAtMs else { return false }
        let phase = max(now - engagedAtMs, 0).truncatingRemainder(dividingBy: windowMs) / windowMs - 0.25
        return phase >= 0 && phase < probeShare
    }

    /// The provider turned out to queue: samples taken as if it slowed down read every request in its line as served,
    /// so they start over.
    private mutating func startQueueing() {
        samples.removeAll()
        fullSpeedFloor = nil
        queueing = true
    }

    /// Bottleneck delivery rate (output tokens per ms): the highest saturated sample of the last `windowMs` (at
    /// least the most a recent request showed the provider serving at full speed), else the last estimate grown by
    /// `probeGrowth` per window since it went stale; nil before any saturation.
    public func bottleneckTokensPerMs(now: Double) -> Double? {
        guard engaged else { return nil }
        let floor = fullSpeedFloor.flatMap { now - $0.atMs <= windowMs ? $0.tokensPerMs : nil } ?? 0
        let counted = servingSamples.filter { now - $0.atMs <= windowMs }
        let recent = (counted.isEmpty ? samples.filter { now - $0.atMs <= windowMs } : counted).map(\.tokensPerMs)
            .sorted()
        if !recent.isEmpty {
            // A high quantile rather than the maximum: one sample that measured its speed badly cannot set the cap.
            return max(floor, recent[min(recent.count - 1, Int(Double(recent.count) * 0.9))])
        }
        guard let last else { return nil }
        let staleWindows = max(0, now - last.atMs - windowMs) / windowMs
        return max(floor, last.tokensPerMs * (1 + probeGrowth * staleWindows))
    }

    /// Requests in flight at the provider's knee, or nil before the provider was seen saturated (no cap).
    public func knee(baselineMsPerOutputToken: Double, now: Double) -> Double? {
        guard gain > 0, let rate = bottleneckTokensPerMs(now: now) else { return nil }
        return rate * baselineMsPerOutputToken
    }

    /// Both request caps from one knee estimate: `total`, the knee (nearest whole request) while cruising and `gain`
    /// × the knee (at least one more) while probing, at least `minimumCap`; and `heavy`, at most the knee (rounded up), so
    /// the probe's margin above it is interactive work's. (With no interactive request in flight one more may always
    /// start, `SchedulerEngine.nextDispatches`: a short request does not wait for a long answer to end.) While the
    /// knee is unknown, the start-up cap (heavy work keeping a margin), or nil without one.
    public func caps(baselineMsPerOutputToken: Double, now: Double) -> (total: Int, heavy: Int)? {
        guard let knee = knee(baselineMsPerOutputToken: baselineMsPerOutputToken, now: now) else {
            guard gain > 0, !engaged, startupCap > 0 else { return nil }
            // Not `minimumCap`: that floor is for a provider whose knee is known to be past it.
            let total = startupCap
            return (total: total, heavy: max(1, min(total - 1, Int((Double(total) / max(gain, 1)).rounded(.up)))))
        }
        // A queueing provider keeps the margin above its slots in its own line, where nobody can reorder it: there the
        // margin is all the queue there is (`minimumCap` would only lengthen it), and a request past the slots costs
        // only its own wait, so the cap always keeps it (no cruising).
        let floor = queueing ? 2 : minimumCap
        let kneeRequests = Int(knee.rounded(.up))
        guard !queueing else {
            return (total: max(floor, Int((knee * gain).rounded(.up))), heavy: max(1, kneeRequests))
        }
        // A probe tries at least one more request than the cruise, and no more than the gain asks: from a cruise at 15
        // (a knee read at 15.4) it tries 16, not 1.05 × 15.4 rounded up, 17, which would never show 16 at full speed.
        let cruise = Int(knee.rounded())
        let total = max(floor, probing(now: now) ? max(cruise + 1, Int((knee * gain).rounded())) : cruise)
        return (total: total, heavy: max(max(1, floor - 1), min(kneeRequests, total)))
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
