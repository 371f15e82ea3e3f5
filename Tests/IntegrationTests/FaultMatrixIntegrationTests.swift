import AsyncHTTPClient
import Contracts
import Foundation
import NIOCore
import NIOHTTP1
import ProcessLauncher
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The fault matrix of issue 10, each row with the real executables on loopback. Rows tested elsewhere:
/// every call of an account failing, retried on another account (`ProxyIntegrationTests.failingAccountsAreRetriedElsewhereBeforeTheFirstByte`),
/// a 429 retried elsewhere and cooled (`ProxyIntegrationTests.rateLimitedAccountIsCutCooledForItsRetryAfterAndTrafficMoves`),
/// predictor restarted (`PredictorRestartTests.killNineLosesNothingAcknowledgedAndPredictsTheSame`), scheduler killed
/// under load (`SchedulerPipelineTests.killNineInTheMiddleLosesNoAcceptedRequest`).
@Suite(.serialized) struct FaultMatrixIntegrationTests {
    // MARK: - Upstream 429 storm

    @Test func rateLimitStormGivesOnly429sWithRetryAfterAndTheSchedulerRequeuesUntilEveryRequestEnds() async throws {
        // Two keys of 3 requests per (scaled) minute of 1.2 s: about five answers a second in all.
        let mock = try await LaunchedService.start(
            "maitre-mock-llm",
            environment: [
                "MOCK_ACCOUNTS": "key-a:rpm=3,key-b:rpm=3", "MOCK_TIME_SCALE": "0.02", "LOG_LEVEL": "warning",
            ])
        defer { mock.stop() }
        // No retries inside the proxy, so every upstream 429 reaches its caller (the retry elsewhere is covered in
        // ProxyIntegrationTests).
        let proxy = try await ProxyIntegrationTests.startProxy(
            [
                ProxyIntegrationTests.account("a", base: mock.baseURL, key: "key-a"),
                ProxyIntegrationTests.account("b", base: mock.baseURL, key: "key-b"),
            ], environment: ["PROXY_MAX_RETRIES": "0"])
        defer { proxy.stop() }

        let storm = try await withThrowingTaskGroup(of: TestResponse.self) { group in
            for _ in 0..<16 {
                group.addTask {
                    try await TestHTTP.post(
                        "\(proxy.baseURL)/v1/chat/completions", json: ProxyIntegrationTests.chat(),
                        headers: ["X-Deadline-Ms": "300"])
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        // A rate limit is never a 5xx. The one other answer allowed is the request's own 300 ms deadline running out
        // while its upstream call is under way (504 upstream_timeout), which a loaded machine can cause.
        #expect(
            storm.allSatisfy { response in
                response.status == 200 || response.status == 429
                    || (response.status == 504
                        && (try? response.decode(ErrorEnvelope.self))?.error.code == "upstream_timeout")
            }, "\(storm.map { "\($0.status) \($0.text.prefix(160))" })")
        let refused = storm.filter { $0.status == 429 }
        #expect(!refused.isEmpty, "16 calls against 6 allowed got no 429")
        #expect(storm.contains { $0.status == 200 })
        for response in refused {
            #expect(response.header("Retry-After") != nil)
            #expect(throws: Never.self) { try response.decode(ErrorEnvelope.self) }
        }

        // The scheduler's calls meet a limit of their own: one key of 2 requests per (scaled) minute of 1.2 s, straight
        // at the simulated upstream, which answers 429 at once (the proxy would hold a call with time left until an
        // account frees). The scheduler starts up to four calls at once, so it is refused whatever this machine's speed.
        let limited = try await LaunchedService.start(
            "maitre-mock-llm",
            environment: ["MOCK_ACCOUNTS": "key-s:rpm=2", "MOCK_TIME_SCALE": "0.02", "LOG_LEVEL": "warning"])
        defer { limited.stop() }
        let scheduler = try await LaunchedService.start(
            "maitre-scheduler",
            environment: [
                "PROXY_URLS": limited.baseURL, "PROXY_API_KEY": "key-s",
                "PREDICTOR_BASE_URL": "http://127.0.0.1:\(try FreePort.allocate())", "PREDICTOR_TIMEOUT_MS": "50",
                "LOG_LEVEL": "warning",
            ])
        defer { scheduler.stop() }
        var ids: [String] = []
        for index in 0..<24 {
            let submit = SubmitRequest(
                prompt: "Storm \(index)", maxTokens: 12, model: "gpt-4o-mini", tenantId: "t\(index % 3)",
                deadlineMs: 20_000)
            let response = try await TestHTTP.post("\(scheduler.baseURL)/submit", body: submit)
            #expect(response.status == 202, "\(response.text)")
            if response.status == 202 { ids.append(try response.decode(SubmitResponse.self).requestId) }
        }
        let final = try await SchedulerPolling.waitForTerminal(
            ids, base: scheduler.baseURL, seconds: 90, interval: .milliseconds(100))
        #expect(final.count == ids.count, "\(ids.count - final.count) requests stuck")
        #expect(final.values.contains { $0.state == .completed })
        for status in final.values where status.state != .completed {
            #expect(status.reason != nil, "\(status.requestId) ended \(status.state) without a reason")
            if let code = status.result?.statusCode { #expect(code < 500, "\(status.requestId) got \(code)") }
        }
        let events = try await TestHTTP.get("\(scheduler.baseURL)/events?since=0&limit=10000").decode(
            EventsResponse.self)
        #expect(events.events.contains { $0.kind == .requeue }, "no 429 was re-queued by the scheduler")
        // The proxy answered no 5xx but the deadline 504s the storm allowed (counted in its metrics as well).
        let timedOut = storm.filter { $0.status == 504 }.count
        let serverErrors = try await Self.serverErrorLines(proxy)
        #expect(
            serverErrors.allSatisfy { $0.contains("status=\"504\"") }
                && serverErrors.map { Self.sampleValue($0) }.reduce(0, +) == Double(timedOut),
            "\(serverErrors) against \(timedOut) deadline answers")
    }

    // MARK: - Upstream 5xx at a rate

    @Test func upstreamFailingHalfItsCallsIsRetriedElsewhereSoClientsSeeOnlySuccesses() async throws {
        let healthy = try await ProxyIntegrationTests.startMock(accounts: "")
        defer { healthy.stop() }
        let flaky = try await ProxyIntegrationTests.startMock(accounts: "", extra: ["MOCK_FAULT_500_RATE": "0.5"])
        defer { flaky.stop() }
        // The flaky account is preferred (weight 3) and never cooled, so it keeps taking calls and failing half of them.
        let proxy = try await ProxyIntegrationTests.startProxy(
            [
                ProxyIntegrationTests.account("healthy", base: healthy.baseURL),
                ProxyIntegrationTests.account("flaky", base: flaky.baseURL, weight: 3),
            ], environment: ["PROXY_FAILURES_BEFORE_COOLDOWN": "1000"])
        defer { proxy.stop() }
        for index in 0..<24 {
            let response = try await TestHTTP.post(
                "\(proxy.baseURL)/v1/chat/completions", json: ProxyIntegrationTests.chat(stream: index % 2 == 1))
            #expect(response.status == 200, "\(response.text)")
        }
        let stats = try await ProxyIntegrationTests.stats(proxy)
        let flakyStats = try #require(stats["flaky"])
        #expect(flakyStats.errors > 0 && flakyStats.successes > 0, "\(flakyStats)")
        #expect((stats["healthy"]?.successes ?? 0) + flakyStats.successes == 24)
        let outcomes = try await Self.mockOutcomes(flaky)
        #expect(outcomes["injected_error"] == flakyStats.errors, "\(outcomes)")
        #expect(try await Self.serverErrorLines(proxy).isEmpty)
    }

    // MARK: - Upstream that hangs

    @Test func hangingUpstreamEndsAtTheClientsDeadlineWithA504AndTheProxyStaysHealthy() async throws {
        let mock = try await ProxyIntegrationTests.startMock(accounts: "")
        // The hung call would hold a graceful stop for its whole grace period.
        defer { mock.kill9() }
        // Model "hangs" goes through an account whose calls the mock holds (the fault rides on the account's
        // extra_headers: a client's own headers do not reach the upstream).
        let proxy = try await ProxyIntegrationTests.startProxy(
            [ProxyIntegrationTests.account("a", base: mock.baseURL)],
            models: [("hangs", [ProxyIntegrationTests.faultyAccount("hung", base: mock.baseURL, fault: "hang")])])
        defer { proxy.stop() }
        let started = ContinuousClock.now
        // The mock holds a hung call for 600 s; the client's budget is 700 ms.
        let hung = try await TestHTTP.post(
            "\(proxy.baseURL)/v1/chat/completions", json: ProxyIntegrationTests.chat(model: "hangs"),
            headers: ["X-Deadline-Ms": "700"])
        let waited = ContinuousClock.now - started
        #expect(hung.status == 504, "\(hung.text)")
        let envelope = try hung.decode(ErrorEnvelope.self)
        #expect(envelope.error.code == "upstream_timeout")
        #expect(envelope.error.message.contains("did not answer in time"))
        #expect(waited < .seconds(30), "the proxy waited \(waited) for a 700 ms budget")

        let health = try await TestHTTP.get("\(proxy.baseURL)/health")
        #expect(health.status == 200)
        for stream in [false, true] {
            let next = try await TestHTTP.post(
                "\(proxy.baseURL)/v1/chat/completions", json: ProxyIntegrationTests.chat(stream: stream))
            #expect(next.status == 200, "\(next.text)")
        }
    }

    // MARK: - Connection reset mid-stream

    @Test func connectionResetMidStreamEndsTheClientsStreamAfterTheBytesSoFarWithoutARetry() async throws {
        let mock = try await ProxyIntegrationTests.startMock(accounts: "")
        defer { mock.stop() }
        // Two accounts and retries allowed: a retry would be possible, and must not happen once bytes have left.
        // Model "resets" goes through two accounts whose streams the mock cuts after 5 chunks.
        let proxy = try await ProxyIntegrationTests.startProxy(
            [
                ProxyIntegrationTests.account("a", base: mock.baseURL),
                ProxyIntegrationTests.account("b", base: mock.baseURL),
            ],
            models: [
                (
                    "resets",
                    [
                        ProxyIntegrationTests.faultyAccount("ra", base: mock.baseURL, fault: "reset-after=5"),
                        ProxyIntegrationTests.faultyAccount("rb", base: mock.baseURL, fault: "reset-after=5"),
                    ]
                )
            ], environment: ["PROXY_MAX_RETRIES": "3"])
        defer { proxy.stop() }
        let cut = try await Self.streamUntilEnd(
            "\(proxy.baseURL)/v1/chat/completions",
            json: ProxyIntegrationTests.chat(stream: true, maxTokens: 40, model: "resets"))
        #expect(cut.status == 200)
        #expect(cut.attempts == "1")
        let text = String(decoding: cut.body, as: UTF8.self)
        let events = text.components(separatedBy: "data: ").filter { $0.contains("chat.completion.chunk") }
        #expect(events.count >= 2, "bytes before the reset did not reach the client: \(text)")
        #expect(!text.contains("[DONE]"), "the stream ended normally although the upstream was cut")
        #expect(cut.error != nil || !text.contains("finish_reason\":\"length"))

        // The upstream saw exactly one call, and the proxy counted one.
        let outcomes = try await Self.mockOutcomes(mock)
        #expect(outcomes["reset"] == 1, "\(outcomes)")
        #expect(outcomes.values.reduce(0, +) == 1, "a retry reached the upstream: \(outcomes)")
        let stats = try await ProxyIntegrationTests.stats(proxy)
        #expect(stats.values.map(\.requests).reduce(0, +) == 1)

        #expect(try await TestHTTP.get("\(proxy.baseURL)/health").status == 200)
        let whole = try await Self.streamUntilEnd(
            "\(proxy.baseURL)/v1/chat/completions", json: ProxyIntegrationTests.chat(stream: true))
        #expect(whole.status == 200 && whole.error == nil)
        #expect(String(decoding: whole.body, as: UTF8.self).contains("[DONE]"))
    }

    // MARK: - Predictor down

    @Test func predictorOutageKeepsSchedulingOnTheLocalPriorAndTheProxyCountsDroppedReports() async throws {
        let predictor = try await LaunchedService.start(
            "maitre-predictor", environment: ["EMBEDDER": "hashed", "LOG_LEVEL": "warning"])
        defer { predictor.stop() }
        let mock = try await LaunchedService.start(
            "maitre-mock-llm", environment: ["MOCK_TIME_SCALE": "0.02", "LOG_LEVEL": "warning"])
        defer { mock.stop() }
        let proxy = try await LaunchedService.start(
            "maitre-proxy",
            environment: [
                "PROXY_DEFAULT_UPSTREAM": "\(mock.baseURL)/v1", "PREDICTOR_BASE_URL": predictor.baseURL,
                "PROXY_REPORT_INTERVAL_MS": "100", "LOG_LEVEL": "warning",
            ])
        defer { proxy.stop() }
        let scheduler = try await LaunchedService.start(
            "maitre-scheduler",
            environment: [
                "PROXY_URLS": proxy.baseURL, "PREDICTOR_BASE_URL": predictor.baseURL, "PREDICTOR_TIMEOUT_MS": "2000",
                "LOG_LEVEL": "warning",
            ])
        defer { scheduler.stop() }

        let before = try await Self.submit(3, to: scheduler, label: "before")
        #expect(before.allSatisfy { $0.prediction.fallbackLevel != .localPrior }, "the predictor was up but not used")
        let answeredBefore = try await SchedulerPolling.waitForTerminal(
            before.map(\.requestId), base: scheduler.baseURL, seconds: 60, interval: .milliseconds(100))
        #expect(answeredBefore.values.allSatisfy { $0.state == .completed })
        // The proxy's reports reached the predictor while it was up.
        let delivered = try await Self.poll(seconds: 20) {
            try await TestHTTP.get("\(predictor.baseURL)/models").decode(ModelProfilesResponse.self).historySize >= 3
        }
        #expect(delivered)

        predictor.kill9()
        let after = try await Self.submit(10, to: scheduler, label: "after")
        #expect(after.allSatisfy { $0.prediction.fallbackLevel == .localPrior })
        let answeredAfter = try await SchedulerPolling.waitForTerminal(
            after.map(\.requestId), base: scheduler.baseURL, seconds: 60, interval: .milliseconds(100))
        #expect(answeredAfter.count == after.count)
        #expect(answeredAfter.values.allSatisfy { $0.state == .completed })
        let dropped = try await Self.poll(seconds: 20) {
            let metrics = try await TestHTTP.get("\(proxy.baseURL)/metrics", headers: ["Accept": "text/plain"])
            return metrics.text.split(separator: "\n").contains {
                $0.hasPrefix("proxy_report_batches_failed_total") && !$0.hasSuffix(" 0")
            }
        }
        #expect(dropped, "deliveries to the predictor that is down were not counted as failed")
        #expect(try await TestHTTP.get("\(scheduler.baseURL)/health").status == 200)
        #expect(try await TestHTTP.get("\(proxy.baseURL)/health").status == 200)
    }

    // MARK: - One of three proxies killed

    @Test func oneOfThreeProxiesKilledTheSchedulerRoutesAroundItAndEveryRequestCompletes() async throws {
        let mock = try await LaunchedService.start(
            "maitre-mock-llm", environment: ["MOCK_TIME_SCALE": "0.02", "LOG_LEVEL": "warning"])
        defer { mock.stop() }
        var proxies: [LaunchedService] = []
        defer { for proxy in proxies { proxy.stop() } }
        for _ in 0..<3 {
            proxies.append(
                try await LaunchedService.start(
                    "maitre-proxy",
                    environment: [
                        "PROXY_DEFAULT_UPSTREAM": "\(mock.baseURL)/v1", "PREDICTOR_BASE_URL": "",
                        "LOG_LEVEL": "warning",
                    ]))
        }
        let scheduler = try await LaunchedService.start(
            "maitre-scheduler",
            environment: [
                "PROXY_URLS": proxies.map(\.baseURL).joined(separator: ","),
                "PREDICTOR_BASE_URL": "http://127.0.0.1:\(try FreePort.allocate())", "PREDICTOR_TIMEOUT_MS": "50",
                "LOG_LEVEL": "warning",
            ])
        defer { scheduler.stop() }
        var ids = try await Self.submit(15, to: scheduler, label: "first").map(\.requestId)
        proxies[1].kill9()
        ids += try await Self.submit(15, to: scheduler, label: "second").map(\.requestId)
        let final = try await SchedulerPolling.waitForTerminal(
            ids, base: scheduler.baseURL, seconds: 90, interval: .milliseconds(100))
        #expect(final.count == ids.count)
        let notCompleted = final.values.filter { $0.state != .completed }
        #expect(notCompleted.isEmpty, "\(notCompleted.map { "\($0.state) \($0.reason?.message ?? "")" })")
        // Calls to the dead proxy were taken back and sent again, not lost; once refused, the dead proxy is skipped,
        // so no request is sent back to it again and again (at most a cut stream and one refusal each).
        let events = try await TestHTTP.get("\(scheduler.baseURL)/events?since=0&limit=10000").decode(
            EventsResponse.self)
        let requeues = Dictionary(grouping: events.events.filter { $0.kind == .requeue }, by: { $0.requestId ?? "" })
        #expect(!requeues.isEmpty)
        #expect(requeues.values.allSatisfy { $0.count <= 2 }, "\(requeues.mapValues(\.count))")
        #expect(final.values.allSatisfy { $0.state != .completed || $0.result?.statusCode == 200 })
    }

    // MARK: - Full disk

    /// The data directory fills up while the service runs. A file-size limit (`prlimit --fsize`) stands in for the
    /// full disk: a write past it fails with EFBIG as one on a full disk fails with ENOSPC, without root or a
    /// small file system. Every write is either acknowledged or refused with a 503 that names the data directory;
    /// the service keeps answering; restarted without the limit, exactly the acknowledged writes are there (none
    /// lost, nothing half-written) and new writes succeed.
    @Test(arguments: ["maitre-scheduler", "maitre-predictor"])
    func fullDiskRefusesWritesClearlyAndKeepsEveryAcknowledgedOne(product: String) async throws {
        let prlimit = "/usr/bin/prlimit"
        try #require(
            FileManager.default.isExecutableFile(atPath: prlimit), "util-linux's prlimit is needed to limit file sizes")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "maitre-full-\(UUID().uuidString.prefix(8))")
        let environment = [
            "EMBEDDER": "hashed", "LOG_LEVEL": "warning", "PREDICTOR_TIMEOUT_MS": "200",
            "PREDICTOR_BASE_URL": "http://127.0.0.1:\(try FreePort.allocate())",
            "PROXY_URLS": "http://127.0.0.1:\(try FreePort.allocate())",
        ]
        var service = try await LaunchedService.start(
            product, environment: environment, wrapper: [prlimit, "--fsize=\(256 * 1024)"], dataDirectory: directory)
        let isPredictor = product == "maitre-predictor"
        var acknowledged: [String] = []
        var refusals: [String] = []
        for index in 0..<200 where refusals.count < 5 {
            let response: TestResponse
            if isPredictor {
                let record = OutcomeReport(
                    prompt:
                        "Row \(index) of a history that outgrows its disk: \(String(repeating: "words ", count: 40))",
                    outputTokens: 30 + index, model: "gpt-4o-mini", success: true)
                response = try await TestHTTP.post("\(service.baseURL)/ingest", body: record)
            } else {
                let submit = SubmitRequest(
                    prompt:
                        "Request \(index) to a scheduler whose disk fills: \(String(repeating: "words ", count: 40))",
                    maxTokens: 24, model: "gpt-4o-mini", deadlineMs: 600_000)
                response = try await TestHTTP.post("\(service.baseURL)/submit", body: submit)
            }
            if response.status == 201 {
                acknowledged.append("row \(index)")
            } else if response.status == 202 {
                acknowledged.append(try response.decode(SubmitResponse.self).requestId)
            } else {
                #expect(response.status == 503, "\(response.status): \(response.text)")
                let envelope = try? response.decode(ErrorEnvelope.self)
                #expect(
                    envelope?.error.code == (isPredictor ? "history_unavailable" : "storage_unavailable"),
                    "\(response.text)")
                #expect(envelope?.error.message.contains("data directory") == true, "\(response.text)")
                refusals.append(response.text)
            }
        }
        #expect(!acknowledged.isEmpty, "the limit left no room for any write")
        #expect(refusals.count == 5, "the file-size limit was never reached: \(acknowledged.count) writes acknowledged")
        #expect(service.isRunning, "\(service.logs().suffix(2000))")
        if isPredictor {
            // Predictions need no disk; the in-memory history holds exactly the acknowledged rows.
            #expect(
                try await TestHTTP.post(
                    "\(service.baseURL)/predict", body: PredictRequest(prompt: "Still answering?", model: "gpt-4o-mini")
                ).status == 200)
            #expect(
                try await TestHTTP.get("\(service.baseURL)/models").decode(ModelProfilesResponse.self).historySize
                    == acknowledged.count)
        } else {
            #expect(try await TestHTTP.get("\(service.baseURL)/health").status == 200)
            // A refused submission never reached the engine: the requests it decided on are exactly the acknowledged.
            let events = try await TestHTTP.get("\(service.baseURL)/events?since=0&limit=10000").decode(
                EventsResponse.self)
            let decided = Set(
                events.events.filter { [.admit, .defer, .reject].contains($0.kind) }.compactMap(\.requestId))
            #expect(decided == Set(acknowledged), "decided on \(decided.count), acknowledged \(acknowledged.count)")
        }
        service.stop()

        // The same data directory, no limit.
        service = try await LaunchedService.start(product, environment: environment, dataDirectory: directory)
        defer { service.stop() }
        if isPredictor {
            #expect(
                try await TestHTTP.get("\(service.baseURL)/models").decode(ModelProfilesResponse.self).historySize
                    == acknowledged.count)
            let record = OutcomeReport(
                prompt: "After the disk was freed", outputTokens: 12, model: "gpt-4o-mini", success: true)
            #expect(try await TestHTTP.post("\(service.baseURL)/ingest", body: record).status == 201)
            #expect(
                try await TestHTTP.get("\(service.baseURL)/models").decode(ModelProfilesResponse.self).historySize
                    == acknowledged.count + 1)
        } else {
            for id in acknowledged {
                #expect(
                    try await TestHTTP.get("\(service.baseURL)/status/\(id)").status == 200,
                    "acknowledged \(id) is gone")
            }
            let submit = SubmitRequest(
                prompt: "After the disk was freed", maxTokens: 24, model: "gpt-4o-mini", deadlineMs: 600_000)
            #expect(try await TestHTTP.post("\(service.baseURL)/submit", body: submit).status == 202)
        }
    }

    // MARK: - Read-only data directory

    @Test(arguments: ["maitre-scheduler", "maitre-predictor"])
    func unwritableDataDirectoryIsAClearStartupErrorAndLeavesTheDataIntact(product: String) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "maitre-ro-\(UUID().uuidString.prefix(8))")
        let environment = [
            "EMBEDDER": "hashed", "LOG_LEVEL": "warning",
            "PREDICTOR_BASE_URL": "http://127.0.0.1:\(try FreePort.allocate())",
            "PROXY_URLS": "http://127.0.0.1:\(try FreePort.allocate())",
        ]
        var service = try await LaunchedService.start(product, environment: environment, dataDirectory: directory)
        let written = try await Self.writeSomething(to: service)
        _ = service.stop()

        // A data directory that cannot be created (its parent is a file).
        let blocker = directory.appendingPathComponent("not-a-folder")
        try Data("x".utf8).write(to: blocker)
        let uncreatable = try Self.runUntilExit(
            product, dataDirectory: blocker.appendingPathComponent("data").path, environment: environment)
        #expect(uncreatable.exitedNormally && uncreatable.status != 0, "\(uncreatable)")
        #expect(
            uncreatable.output.contains("data-dir") && uncreatable.output.contains("cannot create"),
            "\(uncreatable.output)")

        // The existing data directory made read-only.
        if let readOnly = try Self.runReadOnly(product, dataDirectory: directory, environment: environment) {
            #expect(readOnly.exitedNormally && readOnly.status != 0, "\(readOnly)")
            #expect(
                readOnly.output.contains("data-dir") && readOnly.output.contains("not writable"), "\(readOnly.output)")
        }

        service = try await service.restart()
        defer { service.stop() }
        #expect(try await Self.stillThere(written, in: service), "data written before the read-only start is gone")
    }

    // MARK: - Helpers

    /// Writes a little state: three queued submissions (scheduler) or three ingested outcomes (predictor).
    private static func writeSomething(to service: LaunchedService) async throws -> [String] {
        if service.product == "maitre-predictor" {
            for index in 0..<3 {
                let record = OutcomeReport(
                    prompt: "Kept across restarts \(index)", outputTokens: 40 + index, model: "gpt-4o-mini",
                    success: true)
                #expect(try await TestHTTP.post("\(service.baseURL)/ingest", body: record).status == 201)
            }
            return []
        }
        return try await submit(3, to: service, label: "kept").map(\.requestId)
    }

    private static func stillThere(_ written: [String], in service: LaunchedService) async throws -> Bool {
        if service.product == "maitre-predictor" {
            return try await TestHTTP.get("\(service.baseURL)/models").decode(ModelProfilesResponse.self).historySize
                == 3
        }
        for id in written {
            let status = try await TestHTTP.get("\(service.baseURL)/status/\(id)")
            guard status.status == 200 else { return false }
        }
        return true
    }

    struct Exit: CustomStringConvertible {
        var status: Int32
        var exitedNormally: Bool
        var output: String
        var description: String { "exit \(status) (\(exitedNormally ? "exit" : "signal")): \(output.prefix(2000))" }
    }

    /// Runs `product` on a free port and waits (at most 30 s) for it to stop on its own.
    private static func runUntilExit(
        _ product: String, dataDirectory: String, environment: [String: String], wrapper: [String] = []
    ) throws -> Exit {
        var merged = ProcessInfo.processInfo.environment
        merged.merge(environment) { $1 }
        merged["HOST"] = "127.0.0.1"
        merged["PORT"] = String(try FreePort.allocate())
        merged["DATA_DIR"] = dataDirectory
        let log = FileManager.default.temporaryDirectory.appendingPathComponent(
            "maitre-exit-\(UUID().uuidString.prefix(8)).log")
        let command = wrapper + [try BinaryLocator.url(for: product).path]
        let process = try ChildProcess.spawn(
            command[0], arguments: Array(command.dropFirst()), environment: merged, output: log.path)
        let output = { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
        guard let status = process.wait(timeout: .seconds(30)) else {
            process.kill()
            return Exit(status: -1, exitedNormally: false, output: "still running after 30 s: " + output())
        }
        if case .exited(let code) = status { return Exit(status: code, exitedNormally: true, output: output()) }
        return Exit(status: status.code, exitedNormally: false, output: output())
    }

    /// Runs `product` on `dataDirectory` made read-only: by permissions for a normal user; for root (whom
    /// permissions do not stop) through a read-only bind mount in a private mount namespace. Nil when neither works.
    private static func runReadOnly(_ product: String, dataDirectory: URL, environment: [String: String]) throws
        -> Exit?
    {
        if getuid() != 0 {
            let files = try FileManager.default.contentsOfDirectory(atPath: dataDirectory.path)
            for file in files { chmod(dataDirectory.appendingPathComponent(file).path, 0o444) }
            chmod(dataDirectory.path, 0o555)
            defer {
                chmod(dataDirectory.path, 0o755)
                for file in files { chmod(dataDirectory.appendingPathComponent(file).path, 0o644) }
            }
            return try runUntilExit(product, dataDirectory: dataDirectory.path, environment: environment)
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else { return nil }
        let script = #"mount --bind "$RO_DIR" "$RO_DIR" && mount -o remount,bind,ro "$RO_DIR" || exit 99; exec "$@""#
        var withDirectory = environment
        withDirectory["RO_DIR"] = dataDirectory.path
        let exit = try runUntilExit(
            product, dataDirectory: dataDirectory.path, environment: withDirectory,
            wrapper: ["/usr/bin/unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh"])
        return exit.status == 99 || exit.output.contains("unshare:") ? nil : exit
    }

    /// Submits `count` small requests; every one must be accepted.
    private static func submit(_ count: Int, to scheduler: LaunchedService, label: String) async throws
        -> [SubmitResponse]
    {
        var accepted: [SubmitResponse] = []
        for index in 0..<count {
            let submit = SubmitRequest(
                prompt: "\(label) request \(index): say something short.", maxTokens: 24, model: "gpt-4o-mini",
                tenantId: "tenant-\(index % 3)", deadlineMs: 30_000)
            let response = try await TestHTTP.post("\(scheduler.baseURL)/submit", body: submit)
            #expect(response.status == 202, "\(response.text)")
            if response.status == 202 { accepted.append(try response.decode(SubmitResponse.self)) }
        }
        return accepted
    }

    /// Re-checks `condition` every 100 ms until it holds or `seconds` pass.
    private static func poll(seconds: Int, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }

    /// The mock's `requests_by_outcome` counts.
    private static func mockOutcomes(_ mock: LaunchedService) async throws -> [String: Int] {
        let response = try await TestHTTP.get("\(mock.baseURL)/metrics")
        let object = try JSONSerialization.jsonObject(with: response.body) as? [String: Any]
        let state = object?["state"] as? [String: Any]
        let outcomes = state?["requests_by_outcome"] as? [String: Any] ?? [:]
        return outcomes.compactMapValues { ($0 as? NSNumber)?.intValue }
    }

    /// Lines of the proxy's `http_requests_total` with a 5xx status.
    /// The value of a Prometheus sample line.
    private static func sampleValue(_ line: Substring) -> Double {
        line.split(separator: " ").last.flatMap { Double($0) } ?? 0
    }

    private static func serverErrorLines(_ proxy: LaunchedService) async throws -> [Substring] {
        let metrics = try await TestHTTP.get("\(proxy.baseURL)/metrics", headers: ["Accept": "text/plain"])
        return metrics.text.split(separator: "\n").filter {
            $0.hasPrefix("http_requests_total") && $0.contains("status=\"5")
        }
    }

    struct StreamEnd {
        var status: Int
        var attempts: String?
        var body: Data
        var error: (any Error)?
    }

    /// Streams a POST to its end, keeping the bytes that arrived and the error that cut it, if any.
    private static func streamUntilEnd(_ url: String, json: Data, headers: [String: String] = [:]) async throws
        -> StreamEnd
    {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: json))
        let response = try await TestHTTP.client.execute(request, timeout: .seconds(30))
        var end = StreamEnd(
            status: Int(response.status.code), attempts: response.headers.first(name: "x-maitre-attempts"), body: Data()
        )
        do {
            for try await chunk in response.body { end.body.append(contentsOf: chunk.readableBytesView) }
        } catch {
            end.error = error
        }
        return end
    }
}
