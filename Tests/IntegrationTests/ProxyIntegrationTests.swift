import Contracts
import Foundation
import NIOHTTP1
import Testing

/// The proxy in front of the real simulated upstream, with several accounts (API keys of one mock process,
/// plus failing upstreams where a test needs them).
@Suite(.serialized) struct ProxyIntegrationTests {
    /// A mock with three keys; `key-c` allows `limitedRPM` requests per minute.
    static func startMock(accounts: String = "key-a,key-b,key-c", extra: [String: String] = [:]) async throws -> ServiceProcess {
        var environment = ["MOCK_ACCOUNTS": accounts, "MOCK_LATENCY_PROFILE": "instant", "LOG_LEVEL": "warning"]
        environment.merge(extra) { $1 }
        return try await ServiceProcess.start("maitre-mock-llm", environment: environment)
    }

    /// Starts a proxy over `deployments` (YAML `models:` entries for model `gpt-4o-mini`).
    static func startProxy(_ deployments: [String], environment extra: [String: String] = [:]) async throws -> ServiceProcess {
        let yaml = "models:\n  gpt-4o-mini:\n" + deployments.map { "    - " + $0.replacingOccurrences(of: "\n", with: "\n      ") }.joined(separator: "\n") + "\n"
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("proxy-\(UUID().uuidString.prefix(8)).yaml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        var environment = [
            "PROXY_CONFIG": file.path, "PREDICTOR_BASE_URL": "", "PROXY_RETRY_BACKOFF_MS": "1", "LOG_LEVEL": "warning",
        ]
        environment.merge(extra) { $1 }
        return try await ServiceProcess.start("maitre-proxy", environment: environment)
    }

    static func account(_ name: String, base: String, key: String? = nil, weight: Int = 1, extra: String = "") -> String {
        var lines = ["name: \(name)", "api_base: \(base)/v1", "weight: \(weight)"]
        if let key { lines.append("api_key: \(key)") }
        if !extra.isEmpty { lines.append(extra) }
        return lines.joined(separator: "\n")
    }

    static func chat(stream: Bool = false, maxTokens: Int = 8) -> Data {
        Data(#"{"model":"gpt-4o-mini","max_tokens":\#(maxTokens),"stream":\#(stream),"messages":[{"role":"user","content":"Hello there"}]}"#.utf8)
    }

    static func stats(_ proxy: ServiceProcess) async throws -> [String: AccountStats] {
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
        let proxy = try await Self.startProxy([
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
        let second = try await TestHTTP.post("\(proxy.baseURL)/v1/chat/completions", json: Self.chat(), headers: ["X-Deadline-Ms": "300"])
        #expect(second.status == 429)
        #expect(second.header("Retry-After") != nil)
        let cooled = try #require(try await Self.stats(proxy)["a"])
        #expect(cooled.cooldownRemainingMs > 10_000)
        // While cooling, the proxy answers 429 itself without calling the upstream.
        let third = try await TestHTTP.post("\(proxy.baseURL)/v1/chat/completions", json: Self.chat(), headers: ["X-Deadline-Ms": "200"])
        #expect(third.status == 429)
        let envelope = try third.decode(ErrorEnvelope.self)
        #expect(envelope.error.code == "proxy_queue_timeout")
        let after = try #require(try await Self.stats(proxy)["a"])
        #expect(after.requests == cooled.requests)
    }

    /// The proxy runs its handlers on NIO's event loops by default (`PROXY_EVENT_LOOP_EXECUTOR`); the retry and
    /// streaming paths are exercised with both executors, and `/health` says which one is in use.
    struct Executor: Sendable, CustomStringConvertible {
        var setting: String
        var health: String
        var description: String { health }
    }
    static let executors = [Executor(setting: "true", health: "event_loops"), Executor(setting: "false", health: "thread_pool")]

    static func expectExecutor(_ proxy: ServiceProcess, _ expected: String) async throws {
        struct Health: Decodable { var details: [String: String] }
        let details = try await TestHTTP.get("\(proxy.baseURL)/health").decode(Health.self).details
        #expect(details["executor"] == expected, "\(details)")
        // On the event loops each loop has its own upstream client, its connections pinned to it; otherwise none.
        let perLoop = Int(details["upstream_clients_per_loop"] ?? "") ?? -1
        #expect(expected == "event_loops" ? perLoop > 0 : perLoop == 0, "\(details)")
    }

    @Test(arguments: executors) func failingAccountsAreRetriedElsewhereBeforeTheFirstByte(executor: Executor) async throws {
        let mock = try await Self.startMock(accounts: "")
        defer { mock.stop() }
        let broken = try await Self.startMock(accounts: "", extra: ["MOCK_FAULT_503_RATE": "1"])
        defer { broken.stop() }
        let deadPort = try FreePort.allocate()
        let proxy = try await Self.startProxy([
            Self.account("healthy", base: mock.baseURL),
            Self.account("503s", base: broken.baseURL, weight: 5),
            Self.account("down", base: "http://127.0.0.1:\(deadPort)", weight: 5),
        ], environment: ["PROXY_MAX_RETRIES": "3", "PROXY_FAILURES_BEFORE_COOLDOWN": "100", "PROXY_EVENT_LOOP_EXECUTOR": executor.setting])
        defer { proxy.stop() }
        try await Self.expectExecutor(proxy, executor.health)
        var retried = 0
        for index in 0..<12 {
            let response = try await TestHTTP.post("\(proxy.baseURL)/v1/chat/completions", json: Self.chat(stream: index % 2 == 0))
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
        let proxy = try await Self.startProxy([
            Self.account("healthy", base: mock.baseURL),
            Self.account("cuts", base: cutting.baseURL, weight: 5),
        ], environment: ["PROXY_MAX_RETRIES": "3", "PROXY_FAILURES_BEFORE_COOLDOWN": "100"])
        defer { proxy.stop() }
        var retried = 0
        for _ in 0..<8 {
            let response = try await TestHTTP.post("\(proxy.baseURL)/v1/chat/completions", json: Self.chat(maxTokens: 40))
            #expect(response.status == 200, "\(response.text)")
            #expect(response.header("x-maitre-account") == "healthy")
            #expect((try? JSONDecoder().decode(ChatCompletionResponse.self, from: response.body)) != nil, "\(response.text)")
            if Int(response.header("x-maitre-attempts") ?? "1") ?? 1 > 1 { retried += 1 }
        }
        #expect(retried > 0)
        let stats = try await Self.stats(proxy)
        #expect((stats["cuts"]?.errors ?? 0) > 0)
        #expect(stats["healthy"]?.successes == 8)
    }

    @Test(arguments: executors) func firstStreamChunkReachesTheClientBeforeTheUpstreamFinishes(executor: Executor) async throws {
        // A real-speed congested mock: about 40 ms per token, so 40 tokens take well over a second.
        let mock = try await ServiceProcess.start("maitre-mock-llm", environment: ["MOCK_TPOT_MS": "40", "MOCK_TTFT_BASE_MS": "50", "LOG_LEVEL": "warning"])
        defer { mock.stop() }
        let proxy = try await Self.startProxy([Self.account("a", base: mock.baseURL)], environment: ["PROXY_EVENT_LOOP_EXECUTOR": executor.setting])
        defer { proxy.stop() }
        try await Self.expectExecutor(proxy, executor.health)
        var firstChunk: Duration?
        var lastChunk: Duration = .zero
        var chunks = 0
        let result = try await TestHTTP.stream("\(proxy.baseURL)/v1/chat/completions", json: Self.chat(stream: true, maxTokens: 40)) { data, elapsed in
            if firstChunk == nil && !data.isEmpty { firstChunk = elapsed }
            lastChunk = elapsed
            chunks += 1
        }
        #expect(result.status == 200)
        #expect(result.headers.first(name: "content-type")?.contains("text/event-stream") == true)
        let first = try #require(firstChunk)
        #expect(chunks > 5)
        // The first token left the proxy while the upstream was still generating the rest.
        #expect(first < lastChunk / 2, "first \(first), last \(lastChunk)")
    }

    @Test func badInputGetsOpenAIEnvelopes() async throws {
        let deadPort = try FreePort.allocate()
        let proxy = try await Self.startProxy([Self.account("down", base: "http://127.0.0.1:\(deadPort)")], environment: ["MAX_BODY_BYTES": "4096", "PROXY_MAX_RETRIES": "1"])
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
        let huge = try await TestHTTP.post(url, raw: #"{"model":"gpt-4o-mini","prompt":""# + String(repeating: "y", count: 8000) + #""}"#)
        #expect(huge.status == 413)
        _ = try huge.decode(ErrorEnvelope.self)
    }
}
