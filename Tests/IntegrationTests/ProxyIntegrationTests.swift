import Contracts
import Foundation
import NIOHTTP1
import ProcessLauncher
import Testing

/// The proxy in front of the real simulated upstream, with several accounts (API keys of one mock process,
/// plus failing upstreams where a test needs them).
@Suite(.serialized) struct ProxyIntegrationTests {
    /// A mock with three keys; `key-c` allows `limitedRPM` requests per minute.
    static func startMock(accounts: String = "key-a,key-b,key-c", extra: [String: String] = [:]) async throws
        -> LaunchedService
    {
        var environment = ["MOCK_ACCOUNTS": accounts, "MOCK_LATENCY_PROFILE": "instant", "LOG_LEVEL": "warning"]
        environment.merge(extra) { $1 }
        return try await LaunchedService.start("maitre-mock-llm", environment: environment)
    }

    /// Starts a proxy over `deployments` (YAML `models:` entries for model `gpt-4o-mini`).
    /// A proxy serving `deployments` as `gpt-4o-mini`, and each of `models` (name → deployments) under its name.
    static func startProxy(
        _ deployments: [String], models: [(name: String, deployments: [String])] = [],
        environment extra: [String: String] = [:]
    ) async throws -> LaunchedService {
        func list(_ entries: [String]) -> String {
            entries.map { "    - " + $0.replacingOccurrences(of: "\n", with: "\n      ") }.joined(separator: "\n")
                + "\n"
        }
        let yaml =
            "models:\n  gpt-4o-mini:\n" + list(deployments)
            + models.map { "  \($0.name):\n" + list($0.deployments) }.joined()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(
            "proxy-\(UUID().uuidString.prefix(8)).yaml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        var environment = [
            "PROXY_CONFIG": file.path, "PREDICTOR_BASE_URL": "", "PROXY_RETRY_BACKOFF_MS": "1", "LOG_LEVEL": "warning",
        ]
        environment.merge(extra) { $1 }
        return try await LaunchedService.start("maitre-proxy", environment: environment)
    }

    static func account(_ name: String, base: String, key: String? = nil, weight: Int = 1, extra: String = "") -> String
    {
        var lines = ["name: \(name)", "api_base: \(base)/v1", "weight: \(weight)"]
        if let key { lines.append("api_key: \(key)") }
        if !extra.isEmpty { lines.append(extra) }
        return lines.joined(separator: "\n")
    }

    static func chat(stream: Bool = false, maxTokens: Int = 8, model: String = "gpt-4o-mini") -> Data {
        Data(
            #"{"model":"\#(model)","max_tokens":\#(maxTokens),"stream":\#(stream),"messages":[{"role":"user","content":"Hello there"}]}"#
                .utf8)
    }

    /// An account that sends the simulated upstream a fault on every call (clients' own headers never reach it).
    static func faultyAccount(_ name: String, base: String, fault: String) -> String {
        account(name, base: base, extra: "model: gpt-4o-mini\nextra_headers:\n  X-Mock-Fault: \"\(fault)\"")
    }

    static func stats(_ proxy: LaunchedService) async throws -> [String: AccountStats] {
        let response = try await TestHTTP.get("\(proxy.baseURL)/_stats")
        let stats = try response.decode(ProxyStats.self)
        return Dictionary(uniqueKeysWithValues: stats.accounts.map { ($0.name, $0) })
    }

    @Test func trafficSpreadsByWeightAcrossThreeAccounts() async throws {
        let mock = try await Self.startMock()
        defer { mock.stop() }
        let proxy = try await Self.startProxy([
            Self.account("a", base: mock.baseURL, key: "key-a", weight: 1),
            Self.account("b", base: mock.baseURL, key: "key-b", weight: 2),
            Self.account("c", base: mock.baseURL, key: "key-c", weight: 3),
        ])
        defer { proxy.stop() }
        var counts: [String: Int] = [:]
        for _ in 0..<60 {
            let response = try await TestHTTP.post("\(proxy.baseURL)/v1/chat/completions", json: Self.chat())
            #expect(response.status == 200, "\(response.text)")
            counts[response.header("x-maitre-account") ?? "?", default: 0] += 1
        }
        #expect(counts == ["a": 10, "b": 20, "c": 30])
        let answer = try await TestHTTP.post("\(proxy.baseURL)/v1/chat/completions", json: Self.chat())
        let completion = try answer.decode(ChatCompletionResponse.self)
        #expect(completion.model.contains("gpt-4o-mini"))
    }

    @Test func rateLimitedAccountIsCutCooledForItsRetryAfterAndTrafficMoves() async throws {
        // key-c may send 2 requests a minute; its 429s name a Retry-After of many seconds.
        let mock = try await Self.startMock(accounts: "key-a,key-b,key-c:rpm=2")
        defer { mock.stop() }
        let proxy = try await Self.startProxy(
            [
                Self.account("a", base: mock.baseURL, key: "key-a"),
                Self.account("b", base: mock.baseURL, key: "key-b"),
                Self.account("c", base: mock.baseURL, key: "key-c", weight: 4, extra: "max_concurrency: 8"),
            ], environment: ["PROXY_INITIAL_WINDOW": "4"])
        defer { proxy.stop() }
        var served: [String] = []
        for _ in 0..<30 {
            let response = try await TestHTTP.post("\(proxy.baseURL)/v1/chat/completions", json: Self.chat())
            // Every 429 was retried on another account before anything reached the client.
            #expect(response.status == 200, "\(response.text)")
            served.append(response.header("x-maitre-account") ?? "?")
        }
        let stats = try await Self.stats(proxy)
        let limited = try #require(stats["c"])
        #expect(limited.rateLimited >= 1)
        #expect(limited.window < 4)
        // The mock asked for a wait of many seconds; the proxy keeps away from the account meanwhile.
        #expect(limited.cooldownRemainingMs > 5_000)
        let lastTwenty = served.suffix(20)
        #expect(!lastTwenty.contains("c"), "served: \(served)")
        #expect(lastTwenty.contains("a") && lastTwenty.contains("b"))
        // Calls to c stopped at the first 429 (2 allowed + 1 refused), although its weight is the highest.
        #expect(limited.requests <= 3)
    }

    @Test func retryAfterIsObeyedWhenNoOtherAccountIsLeft() async throws {
        let mock = try await Self.startMock(accounts: "key-a:rpm=1")
        defer { mock.stop() }
        let proxy = try await Self.startProxy([Self.account("a", base: mock.baseURL, key: "key-a")])
        defer { proxy.stop() }
        let first = try await TestHTTP.post("\(proxy.baseURL)/v1/chat/completions", json: Self.chat())
        #expect(first.status == 200)
        // The upstream refuses the second call with a Retry-After of about a minute; with a 300 ms budget the
        // client gets the 429 back instead of a wait.
        let second = try await TestHTTP.post(
            "\(proxy.baseURL)/v1/chat/completions", json: Self.chat(), headers: ["X-Deadline-Ms": "300"])
        #expect(second.status == 429)
        #expect(second.header("Retry-After") != nil)
        let cooled = try #require(try await Self.stats(proxy)["a"])
        #expect(cooled.cooldownRemainingMs > 10_000)
        // While cooling, the proxy answers 429 itself without calling the upstream.
        let third = try await TestHTTP.post(
            "\(proxy.baseURL)/v1/chat/completions", json: Self.chat(), headers: ["X-Deadline-Ms": "200"])
        #expect(third.status == 429)
        let envelope = try third.decode(ErrorEnvelope.self)
        #expect(envelope.error.code == "proxy_queue_timeout")
        let after = try #require(try await Self.stats(proxy)["a"])
        #expect(after.requests == cooled.requests)
    }

    static func health(_ proxy: LaunchedService) async throws -> [String: String] {
        struct Health: Decodable { var details: [String: String] }
        return try await TestHTTP.get("\(proxy.baseURL)/health").decode(Health.self).details
    }

    @Test func failingAccountsAreRetriedElsewhereBeforeTheFirstByte() async throws {
        let mock = try await Self.startMock(accounts: "")
        defer { mock.stop() }
        let broken = try await Self.startMock(accounts: "", extra: ["MOCK_FAULT_503_RATE": "1"])
        defer { broken.stop() }
        let deadPort = try FreePort.allocate()
        let proxy = try await Self.startProxy(
            [
                Self.account("healthy", base: mock.baseURL),
                Self.account("503s", base: broken.baseURL, weight: 5),
                Self.account("down", base: "http://127.0.0.1:\(deadPort)", weight: 5),
            ], environment: ["PROXY_MAX_RETRIES": "3", "PROXY_FAILURES_BEFORE_COOLDOWN": "100"])
        defer { proxy.stop() }
        var retried = 0
        for index in 0..<12 {
            let response = try await TestHTTP.post(
                "\(proxy.baseURL)/v1/chat/completions", json: Self.chat(stream: index % 2 == 0))
            #expect(response.status == 200, "\(response.text)")
            #expect(response.header("x-maitre-account") == "healthy")
            if Int(response.header("x-maitre-attempts") ?? "1") ?? 1 > 1 { retried += 1 }
        }
        #expect(retried > 0)
        let stats = try await Self.stats(proxy)
        #expect((stats["503s"]?.errors ?? 0) > 0)
        #expect((stats["down"]?.errors ?? 0) > 0)
        #expect(stats["healthy"]?.successes == 12)
    }

    /// A non-streaming answer cut halfway through its JSON never reached the client (the proxy reads small answers
    /// whole), so it is retried on another account.
    @Test func answersCutHalfwayAreRetriedElsewhereWhenNothingReachedTheClient() async throws {
        let mock = try await Self.startMock(accounts: "")
        defer { mock.stop() }
        let cutting = try await Self.startMock(accounts: "", extra: ["MOCK_FAULT_RESET_RATE": "1"])
        defer { cutting.stop() }
        let proxy = try await Self.startProxy(
            [
                Self.account("healthy", base: mock.baseURL),
                Self.account("cuts", base: cutting.baseURL, weight: 5),
            ], environment: ["PROXY_MAX_RETRIES": "3", "PROXY_FAILURES_BEFORE_COOLDOWN": "100"])
        defer { proxy.stop() }
        var retried = 0
        for _ in 0..<8 {
            let response = try await TestHTTP.post(
                "\(proxy.baseURL)/v1/chat/completions", json: Self.chat(maxTokens: 40))
            #expect(response.status == 200, "\(response.text)")
            #expect(response.header("x-maitre-account") == "healthy")
            #expect(
                (try? JSONDecoder().decode(ChatCompletionResponse.self, from: response.body)) != nil, "\(response.text)"
            )
            if Int(response.header("x-maitre-attempts") ?? "1") ?? 1 > 1 { retried += 1 }
        }
        #expect(retried > 0)
        let stats = try await Self.stats(proxy)
        #expect((stats["cuts"]?.errors ?? 0) > 0)
        #expect(stats["healthy"]?.successes == 8)
    }

    @Test func firstStreamChunkReachesTheClientBeforeTheUpstreamFinishes() async throws {
        // The upstream sends one token and then goes silent for ten minutes: a proxy that held the stream back
        // until the upstream finished would hand the client nothing within the test.
        let mock = try await Self.startMock(accounts: "")
        defer { mock.stop() }
        let proxy = try await Self.startProxy([Self.faultyAccount("a", base: mock.baseURL, fault: "stall-after=1")])
        defer { proxy.stop() }
        struct FirstTokenArrived: Error {}
        var received = ""
        var inFlightAtFirstToken: Int?
        var result: (status: Int, headers: HTTPHeaders)?
        do {
            result = try await TestHTTP.stream(
                "\(proxy.baseURL)/v1/chat/completions", json: Self.chat(stream: true, maxTokens: 40),
                headers: ["X-Request-ID": "stream-1"]
            ) { data, _ in
                received += String(decoding: data, as: UTF8.self)
                if received.contains(#""content""#) {
                    inFlightAtFirstToken = try await Self.stats(proxy)["a"]?.inFlight
                    throw FirstTokenArrived()
                }
            }
        } catch is FirstTokenArrived {}
        #expect(result == nil, "the stream ended before its upstream did: \(received)")
        #expect(received.contains(#""content""#), "\(received)")
        #expect(!received.contains("[DONE]"), "\(received)")
        // The upstream call was still open when its first token reached the client.
        #expect(inFlightAtFirstToken == 1)
    }

    /// The stream's headers go to the client at once, with our request id and the SSE content type.
    @Test func aStreamAnswersWithTheClientsRequestIDAndTheEventStreamType() async throws {
        let mock = try await Self.startMock(accounts: "")
        defer { mock.stop() }
        let proxy = try await Self.startProxy([Self.account("a", base: mock.baseURL)])
        defer { proxy.stop() }
        var chunks = 0
        let result = try await TestHTTP.stream(
            "\(proxy.baseURL)/v1/chat/completions", json: Self.chat(stream: true, maxTokens: 40),
            headers: ["X-Request-ID": "stream-1"]
        ) { data, _ in if !data.isEmpty { chunks += 1 } }
        #expect(result.status == 200)
        #expect(result.headers.first(name: "content-type")?.contains("text/event-stream") == true)
        #expect(result.headers.first(name: "x-request-id") == "stream-1")
        #expect(chunks > 0)
    }

    @Test func badInputGetsOpenAIEnvelopes() async throws {
        let deadPort = try FreePort.allocate()
        let proxy = try await Self.startProxy(
            [Self.account("down", base: "http://127.0.0.1:\(deadPort)")],
            environment: ["MAX_BODY_BYTES": "4096", "PROXY_MAX_RETRIES": "1"])
        defer { proxy.stop() }
        let url = "\(proxy.baseURL)/v1/chat/completions"
        let malformed = try await TestHTTP.post(url, raw: "{\"model\": [")
        #expect(malformed.status == 400)
        #expect(try malformed.decode(ErrorEnvelope.self).error.type == "invalid_request_error")
        let unknown = try await TestHTTP.post(url, raw: #"{"model":"nope","messages":[]}"#)
        #expect(unknown.status == 404)
        #expect(try unknown.decode(ErrorEnvelope.self).error.message.contains("gpt-4o-mini"))
        let unreachable = try await TestHTTP.post(url, json: Self.chat())
        #expect(unreachable.status == 502)
        #expect(try unreachable.decode(ErrorEnvelope.self).error.code == "upstream_unreachable")
        let huge = try await TestHTTP.post(
            url, raw: #"{"model":"gpt-4o-mini","prompt":""# + String(repeating: "y", count: 8000) + #""}"#)
        #expect(huge.status == 413)
        _ = try huge.decode(ErrorEnvelope.self)
    }

    /// Runs `raw_http.py MODE` against the proxy; its exit status and the last line it printed.
    static func rawHTTP(_ mode: String, _ proxy: LaunchedService) throws -> (
        status: Int32, lastLine: String, output: String
    ) {
        let url = try #require(URL(string: proxy.baseURL))
        let script = ProxyClientIntegrationTests.pythonFolder.appendingPathComponent("raw_http.py").path
        let result = try Command.run("python3", [script, mode, url.host ?? "127.0.0.1", String(url.port ?? 80)])
        return (result.status, result.output.split(separator: "\n").last.map(String.init) ?? "", result.output)
    }

    /// A client that pipelines a forwarded call, a router call and another forwarded call on one connection gets
    /// the three answers in the order it asked, each whole.
    @Test func pipelinedRequestsOnOneConnectionAreAnsweredInOrder() async throws {
        let mock = try await Self.startMock(accounts: "")
        defer { mock.stop() }
        let proxy = try await Self.startProxy([Self.account("a", base: mock.baseURL)])
        defer { proxy.stop() }
        let result = try Self.rawHTTP("pipeline", proxy)
        #expect(result.status == 0, "\(result.output)")
        let answers = try #require(
            try JSONSerialization.jsonObject(with: Data(result.lastLine.utf8)) as? [[Any]], "\(result.output)")
        #expect(answers.map { $0[0] as? Int } == [200, 200, 200], "\(answers)")
        #expect(answers.map { $0[1] as? String } == ["first", "second", "third"], "\(answers)")
        let bodies = answers.map { $0[2] as? String ?? "" }
        #expect(bodies[0].contains("chat.completion") && bodies[2].contains("chat.completion"), "\(bodies)")
        #expect(bodies[1].contains("\"list\"") && bodies[1].contains("gpt-4o-mini"), "\(bodies)")
    }

    /// A client that sends `Expect: 100-continue` gets the interim answer at once instead of waiting out its own
    /// timeout (curl waits a second), then the real one.
    @Test func clientsExpecting100ContinueGetItAtOnce() async throws {
        let mock = try await Self.startMock(accounts: "")
        defer { mock.stop() }
        let proxy = try await Self.startProxy([Self.account("a", base: mock.baseURL)])
        defer { proxy.stop() }
        let result = try Self.rawHTTP("expect", proxy)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.lastLine == "[100, 200]", "\(result.output)")
    }

    /// A client that leaves in the middle of a long stream gets its slot back at once, not when the upstream would
    /// have finished, and the proxy goes on serving.
    @Test func clientLeavingMidStreamFreesItsSlotBeforeTheUpstreamWouldHaveFinished() async throws {
        // One token, then ten minutes of silence: only the client leaving can free the slot within the test.
        let mock = try await Self.startMock(accounts: "")
        defer { mock.stop() }
        let proxy = try await Self.startProxy(
            [Self.faultyAccount("a", base: mock.baseURL, fault: "stall-after=1")],
            models: [(name: "plain", deployments: [Self.account("b", base: mock.baseURL, extra: "model: gpt-4o-mini")])]
        )
        defer { proxy.stop() }
        let started = ContinuousClock.now
        let result = try Self.rawHTTP("abandon", proxy)
        #expect(result.status == 0, "\(result.output)")
        var inFlight = -1
        while ContinuousClock.now - started < .seconds(120) {
            inFlight = try await Self.stats(proxy)["a"]?.inFlight ?? -1
            if inFlight == 0 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(inFlight == 0)
        let next = try await TestHTTP.post(
            "\(proxy.baseURL)/v1/chat/completions", json: Self.chat(maxTokens: 2, model: "plain"))
        #expect(next.status == 200, "\(next.text)")
    }

    /// Clients stop reading at a stream's `[DONE]` and may close before the upstream ends its body. That call had its
    /// whole answer: it counts as a success and its outcome is reported, not dropped as a client that left mid-answer.
    @Test func aClientLeavingAtDoneCompletesTheCallAndItIsReported() async throws {
        let upstreamPort = try FreePort.allocate()
        let upstream = try await ProxyClientIntegrationTests.startPythonServer(
            "done_then_silent_upstream.py", port: upstreamPort, readyPath: "/v1/models")
        defer { upstream.kill() }
        let upstreamBase = "http://127.0.0.1:\(upstreamPort)"
        let reportsPort = try FreePort.allocate()
        let reports = FileManager.default.temporaryDirectory.appendingPathComponent(
            "done-reports-\(UUID().uuidString.prefix(8)).jsonl")
        let recorder = try await ProxyClientIntegrationTests.startFakePredictor(port: reportsPort, reports: reports)
        defer { recorder.kill() }
        let proxy = try await Self.startProxy(
            [Self.account("a", base: upstreamBase)],
            environment: [
                "PREDICTOR_BASE_URL": "http://127.0.0.1:\(reportsPort)", "PROXY_REPORT_INTERVAL_MS": "100",
            ])
        defer { proxy.stop() }
        let result = try Self.rawHTTP("untildone", proxy)
        #expect(result.status == 0, "\(result.output)")
        // The upstream holds its body open for 60 s: whatever the proxy records now, it records for the client's leaving.
        var records: [OutcomeReport] = []
        for _ in 0..<100 where records.isEmpty {
            try await Task.sleep(for: .milliseconds(100))
            let text = (try? String(contentsOf: reports, encoding: .utf8)) ?? ""
            records = text.split(separator: "\n").compactMap {
                try? JSONDecoder().decode(OutcomeBatch.self, from: Data($0.utf8))
            }
            .flatMap(\.records)
        }
        #expect(records.count == 1)
        #expect(records.first?.success == true && records.first?.finishReason == "stop", "\(records)")
        #expect((records.first?.outputTokens ?? 0) >= 2, "\(records)")
        let stats = try #require(try await Self.stats(proxy)["a"])
        #expect(stats.successes == 1 && stats.inFlight == 0, "\(stats)")
    }

    /// An upstream that goes silent inside a stream for longer than `PROXY_READ_TIMEOUT_MS` ends the call there: the
    /// client keeps what came and sees the stream cut, the account is charged a timeout, and its slot is free again.
    @Test func silenceInsideAStreamPastTheReadTimeoutEndsTheCall() async throws {
        // One token, then ten minutes of silence: only the read timeout can end the call within the test.
        let mock = try await Self.startMock(accounts: "")
        defer { mock.stop() }
        let proxy = try await Self.startProxy(
            [Self.faultyAccount("a", base: mock.baseURL, fault: "stall-after=1")],
            environment: ["PROXY_READ_TIMEOUT_MS": "300"])
        defer { proxy.stop() }
        var received = ""
        do {
            _ = try await TestHTTP.stream(
                "\(proxy.baseURL)/v1/chat/completions", json: Self.chat(stream: true, maxTokens: 8)
            ) { data, _ in received += String(decoding: data, as: UTF8.self) }
        } catch {
            // The cut shows as an error of the client's HTTP library: the chunked body never ended.
        }
        #expect(received.contains(#""content""#), "the bytes before the silence reach the client: \(received)")
        #expect(!received.contains("[DONE]"), "\(received)")
        let stats = try #require(try await Self.stats(proxy)["a"])
        #expect(stats.errors >= 1, "\(stats)")
        #expect(stats.inFlight == 0, "\(stats)")
        #expect(stats.successes == 0, "\(stats)")
    }
}
