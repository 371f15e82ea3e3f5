/// The provider's latency model run in virtual time, exactly: requests arrive, wait in the FIFO line
/// behind the concurrency cap, prefill for ttft (their first token is due then), and decode the rest as a
/// fluid whose per-token time is tpot(n) for the current in-flight count n, re-evaluated at every arrival
/// and departure. The live service follows the same process in steps; tests and the benchmark's
/// simulator use this one.
public struct ProviderSimulation: Sendable {
    public let profile: LatencyProfile
    public let maxConcurrency: Int

    public init(profile: LatencyProfile, maxConcurrency: Int) {
        self.profile = profile
        self.maxConcurrency = max(1, maxConcurrency)
    }

    /// One request offered to the simulated provider.
    public struct Arrival: Sendable, Equatable {
        public var time: Double
        public var promptTokens: Int
        public var outputTokens: Int

        public init(time: Double, promptTokens: Int, outputTokens: Int) {
            self.time = time
            self.promptTokens = promptTokens
            self.outputTokens = outputTokens
        }
    }

    /// What happened to one request, in the order of the arrivals given.
    public struct Timeline: Sendable, Equatable {
        public var admitted: Double
        public var firstToken: Double
        public var finished: Double

        /// Time to first token as the client sees it, queueing included.
        public func timeToFirstToken(arrival: Double) -> Double { firstToken - arrival }
    }

    private enum Phase {
        case prefill(until: Double)
        case decode(remaining: Double)
    }

    /// Runs the arrivals to completion and returns each request's timeline.
    public func run(_ arrivals: [Arrival]) -> [Timeline] {
        let order = arrivals.indices.sorted { (arrivals[$0].time, $0) < (arrivals[$1].time, $1) }
        var timelines = [Timeline](repeating: Timeline(admitted: 0, firstToken: 0, finished: 0), count: arrivals.count)
        var active: [Int: Phase] = [:]
        var line: [Int] = []
        var lineHead = 0
        var nextArrival = 0
        var now = order.first.map { arrivals[$0].time } ?? 0

        func admit(_ index: Int, at time: Double) {
            timelines[index].admitted = time
            let firstToken = time + profile.timeToFirstToken(promptTokens: arrivals[index].promptTokens)
            timelines[index].firstToken = firstToken
            active[index] = .prefill(until: firstToken)
        }

        while nextArrival < order.count || !active.isEmpty || lineHead < line.count {
            let perToken = profile.timePerOutputToken(inFlight: active.count)
            var nextEvent = Double.infinity
            for phase in active.values {
                switch phase {
                case .prefill(let until): nextEvent = min(nextEvent, until)
                case .decode(let remaining): nextEvent = min(nextEvent, now + remaining * perToken)
                }
            }
            if nextArrival < order.count { nextEvent = min(nextEvent, arrivals[order[nextArrival]].time) }
            let elapsed = max(0, nextEvent - now)
            now = max(now, nextEvent)
            // Progress of every decoding request over the interval, at the pace of the interval's n.
            for (index, phase) in active {
                if case .decode(let remaining) = phase {
                    let left = perToken > 0 ? remaining - elapsed / perToken : 0
                    active[index] = .decode(remaining: left)
                }
            }
            for (index, phase) in active.sorted(by: { $0.key < $1.key }) {
                switch phase {
                case .prefill(let until) where until <= now:
                    let rest = Double(max(0, arrivals[index].outputTokens - 1))
                    active[index] = .decode(remaining: rest)
                    if rest == 0 || perToken == 0 {
                        timelines[index].finished = now
                        active[index] = nil
                    }
                case .decode(let remaining) where remaining <= 1e-9:
                    timelines[index].finished = now
                    active[index] = nil
                default:
                    break
                }
            }
            while nextArrival < order.count, arrivals[order[nextArrival]].time <= now {
                line.append(order[nextArrival])
                nextArrival += 1
            }
            while active.count < maxConcurrency, lineHead < line.count {
                admit(line[lineHead], at: now)
                lineHead += 1
            }
        }
        return timelines
    }
}
