import Contracts
import Foundation
import ProcessLauncher
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Scheduler and predictor replicas sharing one real PostgreSQL (initdb into a temporary folder): two schedulers, two
/// predictors, three proxies and the simulated upstream on loopback.
@Suite(
    .serialized,
    .enabled(if: TemporaryPostgres.unavailableReason == nil, "\(TemporaryPostgres.unavailableReason ?? "")"))
struct ScaleOutTests {
    struct Cluster {
        var postgres: TemporaryPostgres
        var databaseURL: String
        var mock: LaunchedService
        var predictors: [LaunchedService]
        var proxies: [LaunchedService]
        var schedulers: [LaunchedService]
        /// The mock's log of received requests, one a line, starting with the prompt's fingerprint.
        var requestLog: URL

        func stop() {
            for scheduler in schedulers { scheduler.stop() }
            for proxy in proxies { proxy.stop() }
            for predictor in predictors { predictor.stop() }
            mock.stop()
            postgres.stop()
        }

        /// How often each prompt reached the upstream.
        func upstreamCounts() -> [String: Int] {
            let text = (try? String(contentsOf: requestLog, encoding: .utf8)) ?? ""
            var counts: [String: Int] = [:]
            for line in text.split(separator: "\n") {
                counts[String(line.split(separator: "\t").first ?? line), default: 0] += 1
            }
            return counts
        }
    }

    /// The upstream runs 20× faster than real time and each scheduler keeps at most 8 requests in flight, so a
    /// queue builds up on both replicas. Scheduler and proxy i ask predictor i mod 2; each scheduler dispatches to
    /// all three proxies.
    private func startCluster(replicas: Int = 2, leaseMs: Int = 2_000) async throws -> Cluster {
        let postgres = try await TemporaryPostgres.start()
        do {
            let databaseURL = try postgres.createDatabase()
            let requestLog = postgres.folder.appendingPathComponent("upstream-requests.log")
            let mock = try await LaunchedService.start(
                "maitre-mock-llm", environment: ["MOCK_TIME_SCALE": "0.05", "MOCK_REQUEST_LOG": requestLog.path])
            var predictors: [LaunchedService] = []
            for _ in 0..<2 {
                predictors.append(
                    try await LaunchedService.start(
                        "maitre-predictor",
                        environment: ["EMBEDDER": "hashed", "DATABASE_URL": databaseURL, "HISTORY_REFRESH_MS": "500"]))
            }
            var proxies: [LaunchedService] = []
            for index in 0..<3 {
                proxies.append(
                    try await LaunchedService.start(
                        "maitre-proxy",
                        environment: [
                            "PROXY_DEFAULT_UPSTREAM": "\(mock.baseURL)/v1",
                            "PREDICTOR_BASE_URL": predictors[index % 2].baseURL,
                        ]))
            }
            var schedulers: [LaunchedService] = []
            for index in 0..<replicas {
                schedulers.append(
                    try await LaunchedService.start(
                        "maitre-scheduler",
                        environment: [
                            "DATABASE_URL": databaseURL,
                            "REPLICA_LEASE_MS": String(leaseMs),
                            "PROXY_URLS": proxies.map(\.baseURL).joined(separator: ","),
                            "PREDICTOR_BASE_URL": predictors[index % 2].baseURL,
                            "PREDICTOR_TIMEOUT_MS": "2000",
                            "MAX_INFLIGHT_REQUESTS": "8",
                        ]))
            }
            return Cluster(
                postgres: postgres, databaseURL: databaseURL, mock: mock, predictors: predictors, proxies: proxies,
                schedulers: schedulers, requestLog: requestLog)
        } catch {
            postgres.stop()
            throw error
        }
    }

    private static func prompt(_ index: Int, run: String) -> String {
        "Scale-out \(run) request \(index): " + String(repeating: "explain the lease ", count: 1 + index % 5)
    }

    private static func fingerprint(_ prompt: String) -> String {
        PromptFingerprint(prompt: nil, messages: [ChatMessage(role: "user", content: prompt)]).description
    }

    /// Submits `count` requests over the replicas in turn, 20 at a time; returns the accepted ids with their prompts.
    private func submit(_ count: Int, to bases: [String], run: String) async throws -> [(id: String, prompt: String)] {
        var accepted: [(id: String, prompt: String)] = []
        for group in stride(from: 0, to: count, by: 20) {
            let answers = try await withThrowingTaskGroup(of: (TestResponse, String).self) { tasks in
                for index in group..<min(count, group + 20) {
                    let prompt = Self.prompt(index, run: run)
                    let submit = SubmitRequest(
                        prompt: prompt, maxTokens: index % 4 == 0 ? 600 : 150, model: "gpt-4o-mini",
                        tenantId: "tenant-\(index % 4)", deadlineMs: 600_000)
                    let base = bases[index % bases.count]
                    tasks.addTask { (try await TestHTTP.post("\(base)/submit", body: submit), prompt) }
                }
                var answers: [(TestResponse, String)] = []
                for try await answer in tasks { answers.append(answer) }
                return answers
            }
            for (response, prompt) in answers {
                #expect(response.status == 202, "\(response.text)")
                if response.status == 202 {
                    accepted.append((try response.decode(SubmitResponse.self).requestId, prompt))
                }
            }
        }
        return accepted
    }

    @Test func replicasShareOneQueueAndEachRequestReachesTheUpstreamOnce() async throws {
        let cluster = try await startCluster()
        defer { cluster.stop() }
        let bases = cluster.schedulers.map(\.baseURL)
        let accepted = try await submit(200, to: bases, run: "shared")
        #expect(accepted.count == 200)
        // Either replica answers for any request: the other's are read from the shared table.
        for (index, request) in accepted.prefix(20).enumerated() {
            let other = bases[(index + 1) % bases.count]
            let status = try await TestHTTP.get("\(other)/status/\(request.id)")
            #expect(status.status == 200, "\(other) does not know \(request.id)")
        }
        let final = try await SchedulerPolling.waitForTerminal(accepted.map(\.id), base: bases[0], seconds: 300)
        #expect(final.count == accepted.count, "\(accepted.count - final.count) requests never finished")
        #expect(final.values.filter { $0.state == .completed }.count == accepted.count)
        // The front door of each replica schedules and answers too.
        for (index, base) in bases.enumerated() {
            let prompt = "Scale-out front door \(index)"
            let body = ChatCompletionRequest(
                model: "gpt-4o-mini", messages: [ChatMessage(role: "user", content: prompt)], maxTokens: 50)
            let answer = try await TestHTTP.post("\(base)/v1/chat/completions", body: body)
            #expect(answer.status == 200, "\(answer.text)")
            #expect(cluster.upstreamCounts()[Self.fingerprint(prompt)] == 1)
        }
        // One replica's /events holds both replicas' decisions (half the requests went to the other), numbered
        // in one sequence; each replica writes its decisions once a tick, so poll briefly.
        let wanted = Set(accepted.map(\.id))
        var dispatched: Set<String> = []
        var sequences: [Int] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while !dispatched.isSuperset(of: wanted) && ContinuousClock.now < deadline {
            var since = 0
            dispatched = []
            sequences = []
            while true {
                let page = try await TestHTTP.get("\(bases[1])/events?since=\(since)&limit=500")
                    .decode(EventsResponse.self)
                if page.events.isEmpty { break }
                sequences += page.events.map(\.sequence)
                dispatched.formUnion(page.events.filter { $0.kind == .dispatch }.compactMap(\.requestId))
                since = page.nextSince
            }
            if !dispatched.isSuperset(of: wanted) { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(dispatched.isSuperset(of: wanted), "\(wanted.subtracting(dispatched).count) dispatches missing")
        #expect(sequences == sequences.sorted() && Set(sequences).count == sequences.count)
        let counts = cluster.upstreamCounts()
        for request in accepted {
            #expect(
                counts[Self.fingerprint(request.prompt)] == 1,
                "\(request.id) reached the upstream \(counts[Self.fingerprint(request.prompt)] ?? 0) times")
        }
    }

    @Test func killNineOfOneReplicaLosesNothingAndSendsNothingTwice() async throws {
        var cluster = try await startCluster()
        defer { cluster.stop() }
        let bases = cluster.schedulers.map(\.baseURL)
        let accepted = try await submit(500, to: bases, run: "crash")
        #expect(accepted.count == 500)
        // Mid-run: both replicas hold queued work and requests in flight.
        cluster.schedulers[0].kill9()
        let survivor = cluster.schedulers[1]
        let final = try await SchedulerPolling.waitForTerminal(accepted.map(\.id), base: survivor.baseURL, seconds: 300)
        #expect(
            final.count == accepted.count,
            "\(accepted.count - final.count) accepted requests never finished after kill -9")
        var byReason: [String: Int] = [:]
        for status in final.values {
            if status.state == .completed {
                #expect(status.result?.statusCode == 200)
            } else {
                #expect(status.reason != nil, "\(status.requestId) ended \(status.state) without a reason")
                byReason[status.reason?.code ?? "none", default: 0] += 1
            }
        }
        // Only what the dead replica had in flight may be lost to the crash; its waiting work was taken over.
        let notCompleted = final.values.filter { $0.state != .completed }
        #expect(notCompleted.allSatisfy { $0.reason?.code == "replica_lost" }, "\(byReason)")
        #expect(
            notCompleted.count <= 8, "more requests ended than the dead replica could have had in flight: \(byReason)")
        let counts = cluster.upstreamCounts()
        for request in accepted {
            let seen = counts[Self.fingerprint(request.prompt)] ?? 0
            #expect(seen <= 1, "\(request.id) reached the upstream \(seen) times")
            if final[request.id]?.state == .completed { #expect(seen == 1) }
        }
        // The proxies report outcomes to one predictor or the other; both hold the one shared history.
        let deadline = ContinuousClock.now + .seconds(30)
        var sizes = [0, 1]
        while (sizes[0] != sizes[1] || sizes[0] == 0) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            sizes = []
            for predictor in cluster.predictors { sizes.append(try await Self.historySize(predictor.baseURL)) }
        }
        #expect(sizes[0] == sizes[1] && sizes[0] > 0, "predictor history sizes \(sizes)")
        // The survivor says it took the work over.
        #expect(survivor.logs().contains("took over a stopped replica's work"))
        cluster.schedulers[0] = try await cluster.schedulers[0].restart()
        let health = try await TestHTTP.get("\(cluster.schedulers[0].baseURL)/health")
        #expect(health.text.contains("postgresql"))
    }

    @Test func aReplicaStoppedCleanlyHandsItsQueueOverAndSendsNothingTwice() async throws {
        let cluster = try await startCluster()
        defer { cluster.stop() }
        let bases = cluster.schedulers.map(\.baseURL)
        let accepted = try await submit(300, to: bases, run: "handoff")
        #expect(accepted.count == 300)
        let status = cluster.schedulers[0].stop()
        #expect(status == .exited(0), "the replica did not exit cleanly: \(status)")
        let survivor = cluster.schedulers[1]
        let final = try await SchedulerPolling.waitForTerminal(
            accepted.map(\.id), base: survivor.baseURL, seconds: 300)
        #expect(final.count == accepted.count, "\(accepted.count - final.count) accepted requests never finished")
        // What the stopped replica had in flight may end (it is not sent again); everything else completes.
        let notCompleted = final.values.filter { $0.state != .completed }
        let reasons = Set(notCompleted.compactMap(\.reason?.code))
        #expect(reasons.isSubset(of: ["replica_lost", "shutdown"]), "\(reasons)")
        #expect(notCompleted.allSatisfy { $0.reason != nil })
        #expect(notCompleted.count <= 8, "more requests ended than the replica had in flight")
        let counts = cluster.upstreamCounts()
        for request in accepted {
            let seen = counts[Self.fingerprint(request.prompt)] ?? 0
            #expect(seen <= 1, "\(request.id) reached the upstream \(seen) times")
            if final[request.id]?.state == .completed { #expect(seen == 1) }
        }
    }

    /// A replica that stalls longer than its lease (SIGSTOP stands in for a frozen machine) is taken over while it
    /// still believes it owns its work; when it wakes, its writes and dispatches are refused by the store, it finds
    /// its lease gone and exits, and nothing reaches the upstream twice.
    @Test func aStalledReplicaIsFencedOutWhenItWakes() async throws {
        let cluster = try await startCluster()
        defer { cluster.stop() }
        let bases = cluster.schedulers.map(\.baseURL)
        let accepted = try await submit(300, to: bases, run: "stall")
        #expect(accepted.count == 300)
        let stalled = cluster.schedulers[0]
        let survivor = cluster.schedulers[1]
        stalled.process.signal(SIGSTOP)
        let deadline = ContinuousClock.now + .seconds(60)
        while !survivor.logs().contains("took over a stopped replica's work") && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(survivor.logs().contains("took over a stopped replica's work"))
        stalled.process.signal(SIGCONT)
        let exit = await stalled.process.waitAsync(timeout: .seconds(30))
        #expect(
            exit != nil && exit != .exited(0), "the stalled replica did not stop on waking: \(String(describing: exit))"
        )
        #expect(stalled.logs().contains("lease ran out"), "\(stalled.logTail())")
        let final = try await SchedulerPolling.waitForTerminal(
            accepted.map(\.id), base: survivor.baseURL, seconds: 300)
        #expect(final.count == accepted.count, "\(accepted.count - final.count) accepted requests never finished")
        let notCompleted = final.values.filter { $0.state != .completed }
        #expect(notCompleted.allSatisfy { $0.reason?.code == "replica_lost" }, "\(notCompleted.map(\.reason))")
        let counts = cluster.upstreamCounts()
        for request in accepted {
            let seen = counts[Self.fingerprint(request.prompt)] ?? 0
            #expect(seen <= 1, "\(request.id) reached the upstream \(seen) times")
            if final[request.id]?.state == .completed { #expect(seen == 1) }
        }
    }

    /// The history at one predictor replica, as its `/models` reports it.
    private static func historySize(_ base: String) async throws -> Int {
        try await TestHTTP.get("\(base)/models").decode(ModelProfilesResponse.self).historySize
    }

    @Test func predictorReplicasShareOneHistory() async throws {
        let postgres = try await TemporaryPostgres.start()
        defer { postgres.stop() }
        let environment = [
            "DATABASE_URL": try postgres.createDatabase(), "EMBEDDER": "hashed", "HISTORY_REFRESH_MS": "200",
            // No retraining: each replica would train at its own moments, and this test compares the neighbours.
            "RETRAIN_EVERY": "10000000",
        ]
        var first = try await LaunchedService.start("maitre-predictor", environment: environment)
        let second = try await LaunchedService.start("maitre-predictor", environment: environment)
        defer {
            first.stop()
            second.stop()
        }
        // Ingests at both replicas, interleaved.
        for start in stride(from: 0, to: 120, by: 20) {
            let target = start % 40 == 0 ? first : second
            let batch = OutcomeBatch(records: (start..<start + 20).map(PredictorRestartTests.record))
            let response = try await TestHTTP.post("\(target.baseURL)/ingest/batch", body: batch)
            #expect(response.status == 201, "\(response.text)")
        }
        // Each replica holds all 120 rows once its refresh has read the other's.
        for replica in [first, second] {
            let deadline = ContinuousClock.now + .seconds(30)
            var size = try await Self.historySize(replica.baseURL)
            while size < 120 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                size = try await Self.historySize(replica.baseURL)
            }
            #expect(size == 120, "\(replica.baseURL) holds \(size) of 120 rows")
        }
        // The other's rows are its neighbours too: the same question gets the same answer at both replicas.
        let atFirst = try await PredictorRestartTests.predictions(first.baseURL)
        let atSecond = try await PredictorRestartTests.predictions(second.baseURL)
        #expect(atFirst.map(\.fallbackLevel) == atSecond.map(\.fallbackLevel))
        #expect(atFirst.map(\.expectedOutputTokensP50) == atSecond.map(\.expectedOutputTokensP50))
        // A replica killed and started again loads the whole shared history.
        first.kill9()
        first = try await first.restart()
        #expect(try await Self.historySize(first.baseURL) == 120)
    }
}
