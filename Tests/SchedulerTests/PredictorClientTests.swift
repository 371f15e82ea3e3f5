import AsyncHTTPClient
import Contracts
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import ServiceRuntime
import Synchronization
import Testing

@testable import Scheduler

/// The scheduler's predictor client against a predictor that is slow once, and against one that fails once.
@Suite struct PredictorClientTests {
    static let request = PredictRequest(prompt: "Write a haiku about rain", maxTokens: 2048, model: "m")

    /// Runs `body` with a client (150 ms timeout) of a predictor whose first answer is `first` (nil: a normal
    /// one) and whose others are a normal answer, `global_neighbors` with p50 17; `calls` counts the questions.
    static func withPredictor(
        first: @escaping @Sendable () async throws -> Response?,
        _ body: @escaping @Sendable (PredictorClient, _ calls: @Sendable () -> Int) async throws -> Void
    ) async throws {
        let calls = Atomic<Int>(0)
        let router = Router()
        router.post("/predict") { _, _ -> Response in
            if calls.add(1, ordering: .relaxed).newValue == 1, let response = try await first() { return response }
            var answer = LocalPrior.predict(Self.request)
            answer.fallbackLevel = .globalNeighbors
            answer.expectedOutputTokensP50 = 17
            return try Response.json(answer)
        }
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        try await Application(router: router).test(.live) { server in
            let port = try #require(server.port)
            let client = PredictorClient(
                client: http, baseURL: "http://127.0.0.1:\(port)", timeoutMs: 150, logger: Logger(label: "test"))
            try await body(client) { calls.load(ordering: .relaxed) }
        }
        try await http.shutdown()
    }

    @Test func aPredictorThatWasSlowOnceIsAskedAgainAfterOneTimeout() async throws {
        // The first question takes longer than the client waits.
        try await Self.withPredictor(first: {
            try await Task.sleep(for: .milliseconds(800)); return nil
        }) {
            client, _ in
            #expect(await client.predict(Self.request).fallbackLevel == .localPrior)
            // Within the second a failed predictor is left alone, but past one timeout a slow one is asked again.
            try await Task.sleep(for: .milliseconds(300))
            let second = await client.predict(Self.request)
            #expect(second.fallbackLevel == .globalNeighbors && second.expectedOutputTokensP50 == 17)
        }
    }

    @Test func aPredictorThatFailedIsLeftAloneForASecond() async throws {
        // The first question fails at once (a predictor restarting).
        try await Self.withPredictor(first: { Response(status: .serviceUnavailable) }) { client, calls in
            #expect(await client.predict(Self.request).fallbackLevel == .localPrior)
            try await Task.sleep(for: .milliseconds(300))
            // Still within its second: not asked.
            #expect(await client.predict(Self.request).fallbackLevel == .localPrior)
            #expect(calls() == 1)
            try await Task.sleep(for: .milliseconds(900))
            #expect(await client.predict(Self.request).fallbackLevel == .globalNeighbors)
        }
    }
}
