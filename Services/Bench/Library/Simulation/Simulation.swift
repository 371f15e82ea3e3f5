import Contracts
import SchedulerCore

/// How one simulated request ended.
public struct SimulatedOutcome: Sendable, Equatable, Codable {
    public enum Status: String, Sendable, Codable { case completed, rejected, expired, failed }
    public var index: Int
    public var status: Status
    public var arrivalMs: Double
    public var dispatchedAtMs: Double?
    public var firstTokenAtMs: Double?
    public var finishedAtMs: Double?
    public var deadlineMs: Double
    public var outputTokens: Int
    public var clientClass: ClientClass

    public var latencyMs: Double? { finishedAtMs.map { $0 - arrivalMs } }
    public var metDeadline: Bool { status == .completed && (finishedAtMs ?? .infinity) <= deadlineMs }
}

/// Who decides when requests go upstream.
public enum SimulationMode: Sendable {
    /// No scheduler: every request is sent on arrival.
    case direct
    /// The real `SchedulerEngine` with this policy, told what `jobs` says about each request.
    case scheduled(policy: SchedulerPolicy, jobs: JobFactory)
}

/// Discrete-event simulation: a workload, a simulated provider and (optionally) the unchanged scheduler core, all in
/// virtual milliseconds. Events: arrivals, first tokens and completions at the provider, and periodic engine ticks
/// while work waits (for expiry and time-dependent allocation).
public struct Simulation<Model: UpstreamLatencyModel>: Sendable {
    public var model: Model
    public var tickMs: Double

    public init(model: Model, tickMs: Double = 100) {
        self.model = model
        self.tickMs = tickMs
    }

    public func run(_ requests: [WorkloadRequest], mode: SimulationMode, seed: UInt64 = 0) -> [SimulatedOutcome] {
        var outcomes = requests.map {
            SimulatedOutcome(
                index: $0.index, status: .failed, arrivalMs: $0.arrivalMs, deadlineMs: $0.deadlineMs,
                outputTokens: $0.outputTokens, clientClass: $0.clientClass)
        }
        let position = Dictionary(uniqueKeysWithValues: requests.enumerated().map { ($0.element.index, $0.offset) })
        var upstream = SimulatedUpstream(model: model)
        let order = requests.indices.sorted { requests[$0].arrivalMs < requests[$1].arrivalMs }
        var nextArrival = 0
        var resolved = 0

        func send(_ offset: Int, at now: Double) {
            outcomes[offset].dispatchedAtMs = now
            upstream.send(
                id: offset, promptTokens: requests[offset].promptTokens, outputTokens: requests[offset].outputTokens,
                now: now)
        }

        guard case .scheduled(let policy, let jobs) = mode else {
            while resolved < requests.count {
                let arrival = nextArrival < order.count ? requests[order[nextArrival]].arrivalMs : .infinity
                let time = min(arrival, upstream.nextEventTime() ?? .infinity)
                for done in upstream.advance(to: time) {
                    record(done, into: &outcomes[done.id])
                    resolved += 1
                }
                while nextArrival < order.count, requests[order[nextArrival]].arrivalMs <= time {
                    send(order[nextArrival], at: time)
                    nextArrival += 1
                }
            }
            return outcomes
        }

        var engine = SchedulerEngine(policy: policy, eventCapacity: 0)
        upstream.progressEveryTokens = SchedulerEngine.chunksPerProgressReport
        var generator = SeededGenerator(seed: seed ^ 0x5EED_0F_9ED1_C7)
        var nextTick = Double.infinity
        while resolved < requests.count {
            let arrival = nextArrival < order.count ? requests[order[nextArrival]].arrivalMs : Double.infinity
            let time = min(arrival, upstream.nextEventTime() ?? .infinity, nextTick)
            guard time.isFinite else { break }
            let finished = upstream.advance(to: time)
            for first in upstream.firstTokens {
                engine.firstToken(String(requests[first.id].index), now: first.atMs)
            }
            upstream.firstTokens.removeAll()
            for report in upstream.progressReports {
                engine.progress(String(requests[report.id].index), chunks: report.tokens, now: report.atMs)
            }
            upstream.progressReports.removeAll()
            for done in finished {
                record(done, into: &outcomes[done.id])
                let latency = done.finishedAtMs - done.sentAtMs
                engine.complete(
                    String(requests[done.id].index),
                    outcome: .succeeded(
                        outputTokens: done.outputTokens, latencyMs: latency,
                        ttftMs: done.firstTokenAtMs - done.sentAtMs, streamedChunks: done.outputTokens),
                    now: time)
                resolved += 1
            }
            while nextArrival < order.count, requests[order[nextArrival]].arrivalMs <= time {
                let offset = order[nextArrival]
                nextArrival += 1
                let decision = engine.submit(jobs.job(requests[offset], generator: &generator), now: time)
                if decision.state == .rejected {
                    outcomes[offset].status = .rejected
                    resolved += 1
                }
            }
            for expiry in engine.expire(now: time) {
                guard let offset = position[Int(expiry.requestId) ?? -1] else { continue }
                outcomes[offset].status = .expired
                resolved += 1
            }
            for dispatch in engine.nextDispatches(now: time) {
                guard let offset = position[Int(dispatch.requestId) ?? -1] else { continue }
                send(offset, at: time)
            }
            nextTick = engine.queuedCount > 0 ? time + tickMs : .infinity
        }
        return outcomes
    }

    private func record(_ done: SimulatedUpstream<Model>.Finished, into outcome: inout SimulatedOutcome) {
        outcome.status = .completed
        outcome.firstTokenAtMs = done.firstTokenAtMs
        outcome.finishedAtMs = done.finishedAtMs
    }
}
