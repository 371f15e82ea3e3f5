import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MockLLM
import MockLLMCore
import NIOCore
import Testing

@Suite struct BadInputTests {
    typealias Support = MockLLMTestSupport

    static let cases: [(body: String, param: String?)] = [
        ("{not json", nil),
        (#"{"model": "m"}"#, "messages"),
        (#"{"model": "m", "messages": []}"#, "messages"),
        (#"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}"#, "max_tokens"),
        (#"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": -3}"#, "max_tokens"),
        (
            #"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 0}"#,
            "max_completion_tokens"
        ),
        (#"{"model": "m", "messages": "hi"}"#, "messages"),
    ]

    @Test(arguments: cases.indices)
    func badChatBodiesGet400InOpenAIsEnvelope(index: Int) async throws {
        let app = try await Support.application()
        let (body, param) = Self.cases[index]
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/v1/chat/completions", method: .post, headers: Support.headers([:]),
                body: ByteBuffer(string: body)
            ) { response in
                #expect(response.status == .badRequest)
                let envelope = try Support.decode(ErrorEnvelope.self, response.body)
                #expect(envelope.error.type == "invalid_request_error")
                if let param { #expect(envelope.error.param == param) }
            }
        }
    }

    @Test func completionsWithMaxTokensZeroGet400() async throws {
        let app = try await Support.application()
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/v1/completions", method: .post, headers: Support.headers([:]),
                body: ByteBuffer(string: #"{"model": "m", "prompt": "x", "max_tokens": 0}"#)
            ) { response in
                #expect(response.status == .badRequest)
            }
        }
    }
}

@Suite struct AccountRoutesTests {
    typealias Support = MockLLMTestSupport

    @Test func missingOrUnknownKeysGet401() async throws {
        let app = try await Support.application(["accounts": "good:rpm=100"])
        try await app.test(.router) { client in
            for headers in [Support.headers([:]), Support.headers(["Authorization": "Bearer bad"])] {
                try await client.execute(
                    uri: "/v1/chat/completions", method: .post, headers: headers, body: try Support.json(Support.chat)
                ) { response in
                    #expect(response.status == .unauthorized)
                    let envelope = try Support.decode(ErrorEnvelope.self, response.body)
                    #expect(envelope.error.type == "authentication_error")
                }
            }
            try await client.execute(
                uri: "/v1/chat/completions", method: .post, headers: Support.headers(["Authorization": "Bearer good"]),
                body: try Support.json(Support.chat)
            ) { response in
                #expect(response.status == .ok)
                #expect(response.headers[HTTPField.Name("x-ratelimit-limit-requests")!] == "100")
                #expect(response.headers[HTTPField.Name("x-ratelimit-remaining-requests")!] == "99")
            }
        }
    }

    @Test func requestsPastTheRPMGet429WithRetryAfterAndRateLimitHeaders() async throws {
        let app = try await Support.application(["accounts": "k:rpm=2"])
        try await app.test(.router) { client in
            let headers = Support.headers(["Authorization": "Bearer k"])
            // Two a minute: the third request within a minute is refused. On a machine so loaded that requests are
            // 30 s apart the bucket refills in between, so the requests go on until one is refused (at most ten).
            var refused = false
            var passed = 0
            for _ in 0..<10 where !refused {
                try await client.execute(
                    uri: "/v1/chat/completions", method: .post, headers: headers, body: try Support.json(Support.chat)
                ) { response in
                    guard response.status == .tooManyRequests else {
                        #expect(response.status == .ok)
                        passed += 1
                        return
                    }
                    refused = true
                    let envelope = try Support.decode(ErrorEnvelope.self, response.body)
                    #expect(envelope.error.type == "rate_limit_error")
                    // Two per minute refill one every 30 s, less the time since the last refill (the exact arithmetic
                    // is checked with a fake clock in the core's tests); whole seconds round the wait up.
                    let retryAfter = try #require(response.headers[.retryAfter].flatMap(Int.init))
                    let milliseconds = try #require(
                        response.headers[HTTPField.Name("retry-after-ms")!].flatMap(Int.init))
                    #expect((1...30_000).contains(milliseconds))
                    #expect(retryAfter == (milliseconds + 999) / 1000)
                    #expect(response.headers[HTTPField.Name("x-ratelimit-remaining-requests")!] == "0")
                    #expect(response.headers[HTTPField.Name("x-ratelimit-limit-requests")!] == "2")
                }
            }
            #expect(refused)
            #expect(passed >= 2)
        }
    }

    @Test func tokensPastTheTPMGet429() async throws {
        let app = try await Support.application(["accounts": "k:tpm=150"])
        var request = Support.chat
        request.maxTokens = 80
        let body = try Support.json(request)
        try await app.test(.router) { client in
            let headers = Support.headers(["Authorization": "Bearer k"])
            // About 100 tokens a request against 150 a minute: the second within a minute is refused. A machine so
            // loaded that requests are half a minute apart refills the bucket in between, so the requests go on
            // until one is refused (at most ten).
            var refused = false
            for attempt in 0..<10 where !refused {
                try await client.execute(uri: "/v1/chat/completions", method: .post, headers: headers, body: body) {
                    response in
                    guard response.status == .tooManyRequests else {
                        #expect(response.status == .ok)
                        return
                    }
                    #expect(attempt >= 1)
                    refused = true
                    #expect(response.headers[.retryAfter] != nil)
                    #expect(response.headers[HTTPField.Name("x-ratelimit-limit-tokens")!] == "150")
                }
            }
            #expect(refused)
        }
    }
}

@Suite struct FaultRoutesTests {
    typealias Support = MockLLMTestSupport

    @Test(arguments: [500, 503, 429])
    func theFaultHeaderForcesAnErrorStatus(status: Int) async throws {
        let app = try await Support.application()
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/v1/chat/completions", method: .post,
                headers: Support.headers(["X-Mock-Fault": "status=\(status)"]), body: try Support.json(Support.chat)
            ) { response in
                #expect(Int(response.status.code) == status)
                let envelope = try Support.decode(ErrorEnvelope.self, response.body)
                #expect(!envelope.error.message.isEmpty)
            }
        }
    }

    @Test func aHangEndsIn504AfterTheHangTime() async throws {
        let app = try await Support.application(["fault-hang-seconds": "0.01"])
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/v1/chat/completions", method: .post, headers: Support.headers(["X-Mock-Fault": "hang"]),
                body: try Support.json(Support.chat)
            ) { response in
                #expect(response.status == .gatewayTimeout)
            }
        }
    }

    @Test func configuredRatesTurnEveryRequestIntoThatFault() async throws {
        let app = try await Support.application(["fault-503-rate": "1"])
        try await app.test(.router) { client in
            for _ in 0..<5 {
                try await client.execute(
                    uri: "/v1/chat/completions", method: .post, headers: Support.headers([:]),
                    body: try Support.json(Support.chat)
                ) { response in
                    #expect(response.status == .serviceUnavailable)
                }
            }
        }
    }

    @Test func anUnparsableFaultHeaderIs400() async throws {
        let app = try await Support.application()
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/v1/chat/completions", method: .post, headers: Support.headers(["X-Mock-Fault": "explode"]),
                body: try Support.json(Support.chat)
            ) { response in
                #expect(response.status == .badRequest)
            }
        }
    }

    @Test func metricsShowOutcomesAndOccupancy() async throws {
        let app = try await Support.application()
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/v1/chat/completions", method: .post, headers: Support.headers([:]),
                body: try Support.json(Support.chat))
            try await client.execute(
                uri: "/v1/chat/completions", method: .post, headers: Support.headers(["X-Mock-Fault": "status=500"]),
                body: try Support.json(Support.chat))
            try await client.execute(uri: "/metrics?format=prometheus", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains(#"mock_llm_requests_total{outcome="completed"} 1"#))
                #expect(text.contains(#"mock_llm_requests_total{outcome="injected_error"} 1"#))
                #expect(text.contains("mock_llm_in_flight 0"))
                #expect(text.contains("mock_llm_queue_depth 0"))
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let snapshot = try Support.decode(MetricsSnapshot.self, response.body)
                guard case .object(let state) = snapshot.state else { Issue.record("no state"); return }
                #expect(state["in_flight"] == .number(0))
                guard case .object(let outcomes) = state["requests_by_outcome"] else {
                    Issue.record("no outcomes"); return
                }
                #expect(outcomes["completed"] == .number(1))
            }
        }
    }
}
