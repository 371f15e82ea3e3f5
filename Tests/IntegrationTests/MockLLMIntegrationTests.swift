import Contracts
import Foundation
import ProcessLauncher
import Testing

/// The real `maitre-mock-llm` executable on a loopback port.
@Suite struct MockLLMIntegrationTests {
    /// What the Python script (`python/mock_llm_openai_client.py`) reports.
    struct ClientReport: Decodable {
        struct Answer: Decodable {
            var content: String?
            var text: String?
            var contentTokens: Int?
            var usage: Usage?
            var chunks: Int?

            enum CodingKeys: String, CodingKey {
                case content, text, usage, chunks
                case contentTokens = "content_tokens"
            }
        }

        var openaiVersion: String
        var expectedChatPromptTokens: Int?
        var expectedCompletionPromptTokens: Int?
        var chat: Answer
        var chatStream: Answer
        var completion: Answer
        var completionStream: Answer
        var errors: [String: JSONValue]

        enum CodingKeys: String, CodingKey {
            case chat, completion, errors
            case openaiVersion = "openai_version"
            case expectedChatPromptTokens = "expected_chat_prompt_tokens"
            case expectedCompletionPromptTokens = "expected_completion_prompt_tokens"
            case chatStream = "chat_stream"
            case completionStream = "completion_stream"
        }
    }

    static let chatBody = #"{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}"#

    @Test func theOfficialOpenAIPythonClientReadsStreamingAndNonStreamingAnswers() async throws {
        let mock = try await LaunchedService.start(
            "maitre-mock-llm", environment: ["MOCK_TIME_SCALE": "0.01", "MOCK_ACCOUNTS": "sk-it:rpm=1000"])
        defer { mock.stop() }
        let script = Command.repositoryRoot.appendingPathComponent(
            "Tests/IntegrationTests/python/mock_llm_openai_client.py"
        ).path
        let result = try Command.run("python3", [script, "\(mock.baseURL)/v1", "sk-it"])
        #expect(result.status == 0, "python client failed: \(result.output)\n\(mock.logs())")
        guard result.status == 0 else { return }
        let line = result.output.split(separator: "\n").last { $0.hasPrefix("{") }.map(String.init) ?? ""
        let report = try JSONDecoder().decode(ClientReport.self, from: Data(line.utf8))

        let chatUsage = try #require(report.chat.usage)
        #expect(chatUsage.completionTokens > 0)
        #expect(report.chat.content == FillerText(tokens: chatUsage.completionTokens))
        let streamUsage = try #require(report.chatStream.usage)
        #expect(report.chatStream.content == FillerText(tokens: streamUsage.completionTokens))
        // Role chunk + one chunk per token + finish chunk + usage chunk.
        #expect(report.chatStream.chunks == streamUsage.completionTokens + 3)
        #expect(report.completion.usage?.completionTokens == 7)
        #expect(report.completionStream.usage?.completionTokens == 5)
        #expect(report.completionStream.text == FillerText(tokens: 5))
        // tiktoken agrees with the mock's usage on what it generated.
        if let counted = report.chat.contentTokens { #expect(counted == chatUsage.completionTokens) }
        if let counted = report.chatStream.contentTokens { #expect(counted == streamUsage.completionTokens) }
        if let counted = report.completion.contentTokens { #expect(counted == 7) }

        #expect(
            report.errors["max_tokens_0"]
                == .object(["status": .number(400), "code": .string("integer_below_min_value")]))
        #expect(report.errors["fault_503"] == .object(["status": .number(503)]))
        #expect(report.errors["fault_429"] == .object(["status": .number(429), "retry_after": .string("1")]))
        guard case .object(let reset) = report.errors["reset"] else {
            Issue.record("no reset outcome")
            return
        }
        #expect(reset["raised"] == .bool(true))
    }

    @Test func requestsPastTheKeysRPMGet429WithRetryAfterAndHeaders() async throws {
        let mock = try await LaunchedService.start(
            "maitre-mock-llm",
            environment: [
                "MOCK_LATENCY_PROFILE": "instant", "MOCK_ACCOUNTS": "sk-a:rpm=1:tpm=1000000",
            ])
        defer { mock.stop() }
        let url = "\(mock.baseURL)/v1/chat/completions"
        let unauthorized = try await TestHTTP.post(url, raw: Self.chatBody)
        #expect(unauthorized.status == 401)
        // One per minute: the second request comes long before the minute refills the first (a loaded machine
        // once took over 20 s for a few requests, and a faster refill let the limited one through).
        let ok = try await TestHTTP.post(url, raw: Self.chatBody, headers: ["Authorization": "Bearer sk-a"])
        #expect(ok.status == 200)
        let limited = try await TestHTTP.post(url, raw: Self.chatBody, headers: ["Authorization": "Bearer sk-a"])
        #expect(limited.status == 429)
        // The refill is 60 s away, less the time since the first request.
        let retryAfter = try #require(limited.header("Retry-After").flatMap(Int.init))
        let retryAfterMs = try #require(limited.header("retry-after-ms").flatMap(Int.init))
        #expect((1...60).contains(retryAfter))
        #expect(retryAfter == (retryAfterMs + 999) / 1000)
        #expect(limited.header("x-ratelimit-limit-requests") == "1")
        #expect(limited.header("x-ratelimit-remaining-requests") == "0")
        #expect(limited.header("x-ratelimit-limit-tokens") == "1000000")
        let envelope = try limited.decode(ErrorEnvelope.self)
        #expect(envelope.error.type == "rate_limit_error")
    }

    @Test func configuredFaultRatesShowOverManyRequests() async throws {
        let mock = try await LaunchedService.start(
            "maitre-mock-llm",
            environment: [
                "MOCK_LATENCY_PROFILE": "instant", "MOCK_FAULT_500_RATE": "0.2", "MOCK_FAULT_503_RATE": "0.1",
                "MOCK_SEED": "3",
            ])
        defer { mock.stop() }
        var statuses: [Int: Int] = [:]
        let total = 400
        for _ in 0..<total {
            let response = try await TestHTTP.post("\(mock.baseURL)/v1/chat/completions", raw: Self.chatBody)
            statuses[response.status, default: 0] += 1
        }
        #expect(statuses.keys.allSatisfy { [200, 500, 503].contains($0) })
        // Seeded and sequential, so the counts are fixed; the tolerance is that of 400 binomial draws (±3 sd).
        #expect(abs(Double(statuses[500, default: 0]) / Double(total) - 0.2) < 0.06)
        #expect(abs(Double(statuses[503, default: 0]) / Double(total) - 0.1) < 0.045)
    }

    @Test func latencyGrowsWithTheNumberOfRequestsInFlight() async throws {
        // tpot(n) = 20 ms · (1 + (n − 1)): 16 concurrent answers decode 16 times slower than one alone. Long decode
        // steps keep the number of sleeps small, and durations of seconds keep the overshoot of sleeps on a machine
        // busy with the rest of the suite (about a second, seen here) small beside them.
        let mock = try await LaunchedService.start(
            "maitre-mock-llm",
            environment: [
                "MOCK_TTFT_BASE_MS": "0", "MOCK_PREFILL_US_PER_TOKEN": "0", "MOCK_TPOT_MS": "20",
                "MOCK_CONGESTION_KNEE": "1", "MOCK_CONGESTION_ALPHA": "1", "MOCK_DECODE_STEP_MS": "1000",
            ])
        defer { mock.stop() }
        let body = #"{"model": "m", "max_tokens": 40, "messages": [{"role": "user", "content": "long answer please"}]}"#
        let url = "\(mock.baseURL)/v1/chat/completions"
        func timed() async throws -> Duration {
            let start = ContinuousClock.now
            let response = try await TestHTTP.post(url, raw: body)
            #expect(response.status == 200)
            return ContinuousClock.now - start
        }
        _ = try await timed()
        var alone = Duration.seconds(3600)
        for _ in 0..<3 { alone = min(alone, try await timed()) }
        let together = try await withThrowingTaskGroup(of: Duration.self) { group in
            for _ in 0..<16 { group.addTask { try await timed() } }
            var durations: [Duration] = []
            for try await duration in group { durations.append(duration) }
            return durations.sorted()[8]
        }
        // Alone ≈ 39 · 20 ms = 0.8 s; together ≈ 39 · 320 ms = 12.5 s. A factor of 4 leaves room for a busy machine.
        #expect(together > alone * 4, "alone \(alone), median of 16 together \(together)")
    }

    @Test func aClientThatLeavesMidStreamFreesItsSlot() async throws {
        let mock = try await LaunchedService.start(
            "maitre-mock-llm",
            environment: [
                "MOCK_TTFT_BASE_MS": "0", "MOCK_TPOT_MS": "20", "MOCK_MAX_CONCURRENCY": "1",
            ])
        defer { mock.stop() }
        struct LeftEarly: Error {}
        let body =
            #"{"model": "m", "stream": true, "max_tokens": 2000, "messages": [{"role": "user", "content": "x"}]}"#
        do {
            _ = try await TestHTTP.stream("\(mock.baseURL)/v1/chat/completions", json: Data(body.utf8)) { _, _ in
                throw LeftEarly()
            }
        } catch is LeftEarly {}
        // The mock notices at its next write (20 ms later) and the slot frees: a new request is served at once.
        var inFlight = -1.0
        for _ in 0..<50 {
            let metrics = try await TestHTTP.get("\(mock.baseURL)/metrics")
            let snapshot = try metrics.decode(MetricsSnapshot.self)
            if case .object(let state) = snapshot.state, case .number(let value) = state["in_flight"] {
                inFlight = value
            }
            if inFlight == 0 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(inFlight == 0, "the slot stayed taken:\n\(mock.logs())")
        let next = try await TestHTTP.post(
            "\(mock.baseURL)/v1/chat/completions",
            raw: #"{"model": "m", "max_tokens": 2, "messages": [{"role": "user", "content": "x"}]}"#)
        #expect(next.status == 200)
    }
}

/// The mock's filler text, rebuilt here from its documented pieces (the integration tests see only HTTP).
private func FillerText(tokens: Int) -> String {
    let pieces = [
        " The", " kitchen", " is", " busy", " tonight", ",", " so", " every", " order", " waits", " its", " turn", ".",
        " A", " good", " chef", " cooks", " each", " dish", " with", " care", " and", " serves", " it", " hot", ".",
    ]
    return (0..<tokens).map { pieces[$0 % pieces.count] }.joined()
}
