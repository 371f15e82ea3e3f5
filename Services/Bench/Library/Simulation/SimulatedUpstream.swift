/// A provider in virtual time: requests beyond the concurrency cap wait in FIFO order; each served request spends
/// its TTFT, then emits its remaining output tokens at tpot(n), re-evaluated whenever the served count n changes.
/// Optionally it reports each answer's progress every so many tokens, as a streamed answer reaches the scheduler.
public struct SimulatedUpstream<Model: UpstreamLatencyModel>: Sendable {
    /// A request the provider finished.
    public struct Finished: Sendable, Equatable {
        public var id: Int
        public var sentAtMs: Double
        public var firstTokenAtMs: Double
        public var finishedAtMs: Double
        public var outputTokens: Int
    }

    struct Served: Sendable {
        var id: Int
        var sentAtMs: Double
        var firstTokenAtMs: Double
        var firstTokenReported = false
        /// Tokens still to emit after the first one (fractional between events).
        var remaining: Double
        var outputTokens: Int
        /// Tokens emitted when progress was last reported.
        var reportedTokens = 0

        /// `remaining` when the next progress report is due (nil: the answer ends first).
        func nextReportRemaining(every tokens: Int) -> Double? {
            let target = Double(outputTokens - reportedTokens - tokens)
            return tokens > 0 && target > 0 ? target : nil
        }
    }

    struct Waiting: Sendable {
        var id: Int
        var sentAtMs: Double
        var promptTokens: Int
        var outputTokens: Int
    }

    public let model: Model
    public private(set) var now: Double = 0
    private var served: [Served] = []
    private var waiting: [Waiting] = []
    private var waitingHead = 0

    public init(model: Model) { self.model = model }

    /// Requests being served (what tpot depends on).
    public var inflight: Int { served.count }
    /// Requests waiting behind the concurrency cap.
    public var queued: Int { waiting.count - waitingHead }
    /// First tokens reached by `advance(to:)` and not yet taken: request id and time.
    public var firstTokens: [(id: Int, atMs: Double)] = []
    /// Every this many tokens of an answer, `advance(to:)` reports its progress (0: never), as the scheduler hears a
    /// streamed answer.
    public var progressEveryTokens = 0
    /// Progress reached by `advance(to:)` and not yet taken: request id, tokens emitted so far, time.
    public var progressReports: [(id: Int, tokens: Int, atMs: Double)] = []
    public var isIdle: Bool { served.isEmpty && queued == 0 }

    /// Hands a request to the provider at `now` (call `advance(to:)` first so the clock is there).
    public mutating func send(id: Int, promptTokens: Int, outputTokens: Int, now time: Double) {
        precondition(time >= now - 1e-9, "send in the past")
        waiting.append(Waiting(id: id, sentAtMs: time, promptTokens: promptTokens, outputTokens: max(outputTokens, 1)))
        startWaiting(at: time)
    }

    /// When the next request reaches its first token or finishes; nil when idle.
    public func nextEventTime() -> Double? {
        guard !served.isEmpty else { return nil }
        let tpot = model.timePerOutputTokenMs(inflight: served.count)
        var next = Double.infinity
        for request in served {
            guard request.firstTokenAtMs <= now else {
                next = min(next, request.firstTokenAtMs)
                continue
            }
            let report = request.nextReportRemaining(every: progressEveryTokens) ?? 0
            next = min(next, now + (request.remaining - report) * tpot)
        }
        return next
    }

    /// Moves virtual time to `time`, returning what finished on the way (in finishing order). First tokens reached on
    /// the way are added to `firstTokens` (id, time), in order.
    public mutating func advance(to time: Double) -> [Finished] {
        var finished: [Finished] = []
        while let next = nextEventTime(), next <= time {
            progress(to: next)
            var index = 0
            while index < served.count {
                let request = served[index]
                if !request.firstTokenReported, request.firstTokenAtMs <= now + 1e-9 {
                    served[index].firstTokenReported = true
                    firstTokens.append((request.id, request.firstTokenAtMs))
                }
                if let report = request.nextReportRemaining(every: progressEveryTokens),
                    request.firstTokenAtMs <= now + 1e-9, request.remaining <= report + 1e-6
                {
                    served[index].reportedTokens += progressEveryTokens
                    progressReports.append((request.id, served[index].reportedTokens, now))
                }
                if request.firstTokenAtMs <= now + 1e-9, request.remaining <= 1e-6 {
                    finished.append(
                        Finished(
                            id: request.id, sentAtMs: request.sentAtMs, firstTokenAtMs: request.firstTokenAtMs,
                            finishedAtMs: now, outputTokens: request.outputTokens))
                    served.remove(at: index)
                } else {
                    index += 1
                }
            }
            startWaiting(at: now)
        }
        progress(to: max(time, now))
        return finished
    }

    /// Emits tokens for every request past its first token between `now` and `time` (no event in between).
    private mutating func progress(to time: Double) {
        guard time > now else { return }
        let tpot = model.timePerOutputTokenMs(inflight: served.count)
        for index in served.indices {
            let start = max(now, served[index].firstTokenAtMs)
            guard time > start else { continue }
            served[index].remaining = max(0, served[index].remaining - (time - start) / tpot)
        }
        now = time
    }

    private mutating func startWaiting(at time: Double) {
        now = max(now, time)
        while served.count < model.concurrencyCap, waitingHead < waiting.count {
            let request = waiting[waitingHead]
            waitingHead += 1
            served.append(
                Served(
                    id: request.id, sentAtMs: request.sentAtMs,
                    firstTokenAtMs: now + model.timeToFirstTokenMs(promptTokens: request.promptTokens),
                    remaining: Double(request.outputTokens - 1), outputTokens: request.outputTokens))
        }
        if waitingHead > 1024, waitingHead * 2 > waiting.count {
            waiting.removeFirst(waitingHead)
            waitingHead = 0
        }
    }
}
