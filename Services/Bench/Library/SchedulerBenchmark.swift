import ArgumentParser
import Foundation
import Hummingbird
import ProcessLauncher
import SchedulerCore
import ServiceRuntime

/// `maitre-bench scheduler`: the scheduler's speed goals — decision cost per request with a deep queue (pure core),
/// and `/submit` throughput of the real executable with a predictor that answers instantly, on SQLite or on
/// PostgreSQL with one or more replicas sharing the database; with PostgreSQL also the dispatch path's delay.
struct SchedulerBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scheduler",
        abstract:
            "Decision cost with 10,000 queued (goal ≤ 20 µs) and /submit throughput (goal ≥ 5,000/s), with 1 or more replicas on PostgreSQL."
    )

    @Option(help: "Requests kept waiting while decisions are timed.") var queued = 10_000
    @Option(help: "Decisions (submit + dispatch + complete) to time.") var decisions = 200_000
    @Option(help: "/submit requests to send per run with --client swift; 0 skips the HTTP benchmark.")
    var submits = 20_000
    @Option(
        help:
            "Concurrent /submit connections in all, split evenly over the replicas; a comma-separated list measures each (e.g. 64,256: a replica whose commits are not yet its bound answers more with more connections, so its capacity is the highest rate of the list)."
    )
    var concurrency = "64"
    @OptionGroup var loadGenerator: LoadGeneratorOptions
    @Option(
        help: "Seconds of wrk load per run (with --client wrk; --submits counts requests only with --client swift).")
    var duration = 10
    @Option(help: "Path of the maitre-scheduler executable (default: beside this one).") var schedulerPath: String?
    @Option(
        help:
            "PostgreSQL server for the schedulers (DATABASE_URL); each run gets a new database on it, created and dropped by the benchmark (the role needs CREATEDB). Empty: SQLite, one replica."
    )
    var databaseURL = ""
    @Option(help: "Replica counts to measure, comma-separated (more than 1 needs --database-url), e.g. 1,2.")
    var replicas = "1"
    @Option(
        help:
            "Runs per replica count (and of the decision-cost timing); each run starts fresh replicas on a fresh store. The median is reported."
    )
    var runs = 1
    @Option(
        help:
            "Requests whose dispatch delay (decision → call at an instant upstream) is measured on the chosen store, with one replica; 0 skips it."
    )
    var dispatches = 2_000

    /// `--replicas` as numbers.
    var replicaCounts: [Int] { Self.numbers(replicas) }

    /// `--concurrency` as numbers.
    var concurrencies: [Int] { Self.numbers(concurrency) }

    static func numbers(_ list: String) -> [Int] {
        list.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }

    func validate() throws {
        let counts = replicaCounts
        guard !counts.isEmpty, counts.count == replicas.split(separator: ",", omittingEmptySubsequences: false).count,
            counts.allSatisfy({ $0 >= 1 })
        else { throw ValidationError("--replicas takes replica counts ≥ 1, comma-separated, e.g. 1,2.") }
        guard databaseURL.isEmpty || (try? DatabaseURL(databaseURL)) != nil else {
            throw ValidationError("--database-url must be postgres://user[:password]@host[:port]/database.")
        }
        guard !databaseURL.isEmpty || counts == [1] else {
            throw ValidationError("Several replicas share one PostgreSQL database: give --database-url.")
        }
        let levels = concurrencies
        guard !levels.isEmpty, levels.count == concurrency.split(separator: ",", omittingEmptySubsequences: false).count
        else {
            throw ValidationError("--concurrency takes connection counts, comma-separated, e.g. 64,256.")
        }
        guard runs >= 1, levels.min()! >= counts.max()! else {
            throw ValidationError("--runs must be ≥ 1 and every --concurrency at least the largest replica count.")
        }
    }

    func run() async throws {
        let costs = (0..<runs).map { _ in decisionCost() }
        let each = costs.map { String(format: "%.2f", $0) }.joined(separator: ", ")
        print(
            String(
                format: "decision cost: %.2f µs per request (submit + dispatch + complete) with %d queued",
                Self.median(costs), queued)
                + "; pure engine, no store" + (runs > 1 ? " (median of \(runs): \(each))" : ""))
        guard submits > 0 || dispatches > 0 else { return }
        let predictorPort = try FreePort.allocate()
        let predictor = InstantServices.predictor(port: predictorPort)
        let predictorTask = Task { try await predictor.runService() }
        defer { predictorTask.cancel() }
        let predictorURL = "http://127.0.0.1:\(predictorPort)"
        if submits > 0 { try await submitThroughput(predictorURL: predictorURL) }
        if dispatches > 0 { try await dispatchDelay(predictorURL: predictorURL) }
    }

    /// Mean wall time per request of one admission, one dispatch and one completion, with `queued` requests waiting.
    func decisionCost() -> Double {
        var policy = SchedulerPolicy()
        policy.maxQueueLength = queued * 10
        // Two tenants, both classes, mixed sizes and deadlines: every layer does real work.
        var engine = SchedulerEngine(policy: policy, eventCapacity: 0)
        var next = 0
        func job(_ now: Double) -> Job {
            next += 1
            let tokens = [40, 120, 300, 900, 2000][next % 5]
            return Job(
                id: "r\(next)", tenantId: "t\(next % 7)", submittedAtMs: now,
                deadlineAtMs: now + Double(5_000 + (next % 13) * 4_000),
                predictedOutputTokensP50: tokens, predictedOutputTokensP90: tokens * 2, promptTokens: 100)
        }
        var inflight: [String] = []
        var now = 0.0
        for _ in 0..<queued { _ = engine.submit(job(now), now: now) }
        inflight += engine.nextDispatches(now: now).map(\.requestId)
        let start = ContinuousClock.now
        for _ in 0..<decisions {
            now += 1
            _ = engine.submit(job(now), now: now)
            if let done = inflight.popLast() {
                engine.complete(done, outcome: .succeeded(outputTokens: 100, latencyMs: 2000, ttftMs: 200), now: now)
            }
            inflight += engine.nextDispatches(now: now).map(\.requestId)
        }
        return (ContinuousClock.now - start).seconds / Double(decisions) * 1e6
    }

    var executable: URL { URL(fileURLWithPath: schedulerPath ?? Self.sibling("maitre-scheduler")) }

    /// `/submit` throughput for each replica count: per run a fresh store (a new database, or a new SQLite folder)
    /// and fresh replicas, a warm-up, then the load spread evenly over the replicas.
    func submitThroughput(predictorURL: String) async throws {
        let wrk = loadGenerator.wrk()
        let store = databaseURL.isEmpty ? "SQLite" : "PostgreSQL (a new database per run)"
        let load =
            wrk == nil
            ? "swift client, \(submits) requests per run"
            : "one wrk -t1 per replica, \(duration) s per run"
        print("/submit throughput: \(store), the connections split over the replicas, \(load), instant predictor")
        var cells: [SubmitCell] = []
        for count in replicaCounts {
            for connections in concurrencies {
                var cell = SubmitCell(replicas: count, connections: connections)
                for _ in 0..<runs {
                    cell.runs.append(
                        try await submitRun(
                            replicas: count, connections: connections, predictorURL: predictorURL, wrk: wrk))
                }
                cells.append(cell)
            }
        }
        for line in SubmitCell.table(cells) { print(line) }
    }

    /// One run: fresh store and replicas, 200 warm-up submissions per replica, then the measured load.
    func submitRun(replicas count: Int, connections: Int, predictorURL: String, wrk: WrkLoad?) async throws
        -> SubmitRun
    {
        try await ScratchDatabase.using(beside: databaseURL) { scratch in
            try await submitRun(
                replicas: count, connections: connections, databaseURL: scratch, predictorURL: predictorURL, wrk: wrk)
        }
    }

    private func submitRun(
        replicas count: Int, connections: Int, databaseURL: String?, predictorURL: String, wrk: WrkLoad?
    ) async throws -> SubmitRun {
        let replicas = try await SchedulerReplicas.start(
            count: count, executable: executable, databaseURL: databaseURL,
            environment: [
                "PREDICTOR_BASE_URL": predictorURL,
                // Nothing is dispatched during the measurement: the proxy address is closed and heavy work waits.
                "PROXY_URLS": "http://127.0.0.1:9",
                "MAX_INFLIGHT_REQUESTS": "1",
                "MAX_QUEUE_LENGTH": "10000000",
                "EVENT_CAPACITY": "1000",
            ])
        defer { replicas.stop() }
        for base in replicas.baseURLs {
            for _ in 0..<200 { try await SubmitLoad.submit(to: base) }
        }
        let before = CPUAccount.read()
        let result: WrkResult
        if let wrk {
            result = try await SubmitLoad.wrk(
                wrk, replicas: replicas.baseURLs, connections: connections, seconds: Double(duration))
            guard result.failures == 0 else {
                throw ValidationError("/submit answered \(result.failures) requests with an error under wrk.")
            }
        } else {
            result = try await SubmitLoad.swiftClient(
                replicas: replicas.baseURLs, requests: submits, workers: connections)
        }
        let cpu = CPUAccount(from: before, to: CPUAccount.read(), schedulers: Set(replicas.processIdentifiers))
        return SubmitRun(result: result, cpu: cpu)
    }

    /// The dispatch path's delay on the chosen store (see `DispatchDelay`).
    func dispatchDelay(predictorURL: String) async throws {
        let measured = try await ScratchDatabase.using(beside: databaseURL) { scratch in
            try await DispatchDelay.measure(
                executable: executable, databaseURL: scratch, predictorURL: predictorURL, requests: dispatches,
                concurrency: 16)
        }
        let delays = measured.delays
        let store =
            databaseURL.isEmpty
            ? "SQLite, the dispatched mark written behind the call"
            : "PostgreSQL, the dispatched mark committed before the call goes out"
        print(
            "dispatch delay (decision → call at an instant upstream), \(store), 1 replica, \(measured.requests) requests "
                + String(
                    format: "from 16 clients, %d sampled: p50 %.2f ms, p99 %.2f ms", delays.total,
                    delays.quantile(0.5) * 1000, delays.quantile(0.99) * 1000))
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    static func sibling(_ name: String) -> String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name).path
    }
}
