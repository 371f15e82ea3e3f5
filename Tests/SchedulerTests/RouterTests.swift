import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Scheduler
import SchedulerCore
import ServiceRuntime
import Testing

@Suite struct RouterTests {
    /// An app with an in-memory database, an unreachable predictor (local prior) and an upstream that answers at once.
    private func makeApp(
        upstreamStatus: Int = 200,
        upstreamDelayMs: Int = 0,
        overrides: [String: String] = [:]
    ) async throws -> some ApplicationProtocol {
        var settings = [
            "database-file": ":memory:",
            "predictor-base-url": "http://127.0.0.1:9",
            "predictor-timeout-ms": "100",
            "admin-token": "secret",
            "tick-ms": "5",
        ]
        settings.merge(overrides) { $1 }
        let configuration = try SchedulerConfiguration.defaults(settings)
        return try await buildApplication(
            configuration: configuration, metrics: ServiceMetrics(), logger: Logger(label: "scheduler-test"),
            execute: { dispatch, _, _ in
                if upstreamDelayMs > 0 { try? await Task.sleep(for: .milliseconds(upstreamDelayMs)) }
                return (upstreamStatus, dispatch.predictedOutputTokens, 5)
            })
    }

    private func json(_ value: some Encodable) throws -> ByteBuffer {
        ByteBuffer(bytes: try JSONEncoder().encode(value))
    }

    private func decode<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(response.body.readableBytesView))
    }

    @Test func submitAnswers202AndStatusFollowsTheRequestToCompletion() async throws {
        try await makeApp().test(.router) { client in
            let submit = SubmitRequest(prompt: "Say hello", maxTokens: 64, model: "gpt-4o-mini", tenantId: "acme")
            let accepted = try await client.execute(uri: "/submit", method: .post, body: try json(submit))
            #expect(accepted.status == .accepted)
            let response = try decode(SubmitResponse.self, accepted)
            #expect(response.prediction.fallbackLevel == .localPrior)
            #expect(response.requestClass == .interactive)
            var state = RequestState.queued
            for _ in 0..<100 where state != .completed {
                _ = try await client.execute(uri: "/tick", method: .post)
                let status = try await client.execute(uri: "/status/\(response.requestId)", method: .get)
                #expect(status.status == .ok)
                let body = try decode(StatusResponse.self, status)
                state = body.state
                #expect(body.tenantId == "acme")
                if state == .completed {
                    #expect(body.timings.dispatchedUnixMs != nil)
                    #expect(body.result?.statusCode == 200)
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(state == .completed)
            let events = try decode(EventsResponse.self, try await client.execute(uri: "/events?since=0", method: .get))
            let kinds = events.events.filter { $0.requestId == response.requestId }.map(\.kind)
            #expect(kinds.contains(.admit))
            #expect(kinds.contains(.dispatch))
            #expect(kinds.contains(.complete))
        }
    }

    @Test func aRequestThePredictorCannotAnswerIsScheduledAsWithNoPrediction() async throws {
        // No class, one max_tokens: with the predictor unreachable, a long prompt and a short one get the same
        // sizes and class as every request gets from a scheduler blind to sizes (PREDICTIONS=constant).
        var answers: [String: [SubmitResponse]] = [:]
        for mode in ["predictor", "constant"] {
            answers[mode] = try await makeApp(overrides: ["predictions": mode]).test(.router) { client in
                var responses: [SubmitResponse] = []
                let long = String(repeating: "Please review this long contract clause by clause. ", count: 80)
                for prompt in ["Hi", long] {
                    let submit = SubmitRequest(prompt: prompt, maxTokens: 2048, model: "gpt-4o-mini", tenantId: "acme")
                    let accepted = try await client.execute(uri: "/submit", method: .post, body: try json(submit))
                    #expect(accepted.status == .accepted)
                    responses.append(try decode(SubmitResponse.self, accepted))
                }
                return responses
            }
        }
        let fallback = try #require(answers["predictor"]), blind = try #require(answers["constant"])
        #expect(fallback.allSatisfy { $0.prediction.fallbackLevel == .localPrior })
        for (local, constant) in zip(fallback, blind) {
            #expect(local.requestClass == constant.requestClass)
            #expect(local.prediction.expectedOutputTokensP50 == constant.prediction.expectedOutputTokensP50)
            #expect(local.prediction.expectedOutputTokensP90 == constant.prediction.expectedOutputTokensP90)
            #expect(local.prediction.pShort == nil)
        }
        #expect(fallback[0].requestClass == fallback[1].requestClass)
    }

    @Test func badInputIsRejectedNamingTheField() async throws {
        try await makeApp().test(.router) { client in
            let cases: [(String, String)] = [
                (#"{"max_tokens": 10, "model": "m"}"#, "prompt"),
                (#"{"prompt": "x", "max_tokens": 0, "model": "m"}"#, "max_tokens"),
                (#"{"prompt": "x", "max_tokens": 10, "model": "m", "deadline_ms": -5}"#, "deadline_ms"),
                (#"{"prompt": "x", "max_tokens": 10, "model": "m", "priority": 12}"#, "priority"),
                (#"{"prompt": "x", "model": "m"}"#, "max_tokens"),
            ]
            for (body, field) in cases {
                let response = try await client.execute(uri: "/submit", method: .post, body: ByteBuffer(string: body))
                #expect(response.status == .badRequest)
                let envelope = try decode(ErrorEnvelope.self, response)
                #expect(envelope.error.param == field, "\(body)")
            }
            let missing = try await client.execute(uri: "/status/nope", method: .get)
            #expect(missing.status == .notFound)
            let badHeader = try await client.execute(
                uri: "/v1/chat/completions", method: .post, headers: [HTTPField.Name("X-Deadline-Ms")!: "-1"],
                body: ByteBuffer(string: #"{"model": "m", "messages": [{"role": "user", "content": "hi"}]}"#))
            #expect(badHeader.status == .badRequest)
            #expect(try decode(ErrorEnvelope.self, badHeader).error.param == "X-Deadline-Ms")
        }
    }

    @Test func adminConfigNeedsTheTokenAndKeepsTheRunningConfigOnBadInput() async throws {
        try await makeApp().test(.router) { client in
            let auth: HTTPFields = [.authorization: "Bearer secret"]
            let unauthorized = try await client.execute(
                uri: "/admin/config", method: .post, body: ByteBuffer(string: "{}"))
            #expect(unauthorized.status == .unauthorized)
            let wrong = try await client.execute(
                uri: "/admin/config", method: .get, headers: [.authorization: "Bearer secreT"])
            #expect(wrong.status == .unauthorized)
            let before = try decode(
                SchedulerConfigDocument.self,
                try await client.execute(uri: "/admin/config", method: .get, headers: auth))
            let bad = try await client.execute(
                uri: "/admin/config", method: .post, headers: auth,
                body: ByteBuffer(string: #"{"ordering_policy": "edf", "extra": {"moderate_exit_ratio": 9}}"#))
            #expect(bad.status == .badRequest)
            #expect(try decode(ErrorEnvelope.self, bad).error.param == "moderate_exit_ratio")
            let unchanged = try decode(
                SchedulerConfigDocument.self,
                try await client.execute(uri: "/admin/config", method: .get, headers: auth))
            #expect(unchanged == before)
            let good = try await client.execute(
                uri: "/admin/config", method: .post, headers: auth,
                body: ByteBuffer(string: #"{"ordering_policy": "edf", "heavy_inflight_tokens": 5000}"#))
            #expect(good.status == .ok)
            let active = try decode(SchedulerConfigDocument.self, good)
            #expect(active.orderingPolicy == "edf")
            #expect(active.heavyInflightTokens == 5000)
            #expect(active.allocationPolicy == before.allocationPolicy)
            let reset = try await client.execute(uri: "/reset", method: .post, headers: auth)
            #expect(reset.status == .ok)
        }
    }

    @Test func rejectionIs429WithRetryAfterAndAReason() async throws {
        // The first request holds the only slot far longer than four submissions take on a loaded machine (with 2 s, the
        // full suite once drained the queue between them).
        try await makeApp(upstreamDelayMs: 30_000, overrides: ["max-queue-length": "1", "max-inflight-requests": "1"])
            .test(.router) { client in
                var statuses: [HTTPResponse.Status] = []
                var last: TestResponse?
                for index in 0..<4 {
                    let submit = SubmitRequest(
                        prompt: "request \(index)", maxTokens: 4000, model: "m", requestClass: .heavy)
                    let response = try await client.execute(uri: "/submit", method: .post, body: try json(submit))
                    statuses.append(response.status)
                    if response.status == .tooManyRequests { last = response }
                }
                #expect(statuses.contains(.tooManyRequests))
                let rejected = try #require(last)
                #expect(rejected.headers[.retryAfter] != nil)
                #expect(try decode(ErrorEnvelope.self, rejected).error.code == "queue_full")
                let metrics = try await client.execute(uri: "/metrics?format=json", method: .get)
                #expect(String(buffer: metrics.body).contains("queue_full"))
            }
    }

    /// A data directory that cannot be created is a start-up error naming the setting, not a trap (the HTTP client
    /// used to be created first and released without shutdown, which crashes the process).
    @Test func unusableDataDirectoryIsAStartupErrorNamingTheSetting() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(
            "scheduler-not-a-folder-\(UUID().uuidString)")
        try Data("x".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let configuration = try SchedulerConfiguration.defaults([
            "data-dir": file.appendingPathComponent("data").path, "database-file": "scheduler.sqlite",
        ])
        await #expect {
            _ = try await buildApplication(
                configuration: configuration, metrics: ServiceMetrics(), logger: Logger(label: "scheduler-test"))
        } throws: { error in
            (error as? SettingError)?.key == "data-dir"
        }
    }
}

@Suite struct SharedStoreSettingTests {
    @Test func aMalformedDatabaseURLIsASettingError() {
        #expect {
            _ = try SchedulerConfiguration.defaults(["database-url": "mysql://maitre@db/queue"])
        } throws: { error in
            (error as? SettingError)?.key == "database-url" && "\(error)".contains("postgres://")
        }
    }

    @Test func noDatabaseURLKeepsTheQueueInSQLite() throws {
        #expect(try SchedulerConfiguration.defaults().databaseURL == nil)
    }
}
