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

    /// Runs `body` with a client (`timeoutMs`, `pauseMs` after a failure) of a predictor whose first answer is
    /// `first` (nil: a normal one) and whose others are a normal answer, `global_neighbors` with p50 17; `calls`
    /// counts the questions. The times are generous: the suite runs this on a loaded machine.
    static func withPredictor(
        timeoutMs: Int = 1000, pauseMs: Double, first: @escaping @Sendable () async throws -> Response?,
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
                client: http, baseURL: "http://127.0.0.1:\(port)", timeoutMs: timeoutMs, logger: Logger(label: "test"),
                pauseAfterFailureMs: pauseMs)
            try await body(client) { calls.load(ordering: .relaxed) }
        }
        try await http.shutdown()
    }

    @Test func aPredictorThatWasSlowOnceIsAskedAgainAfterOneTimeout() async throws {
        // The first question takes longer than the client waits; a failure would pause the predictor for a minute.
        let slow: @Sendable () async throws -> Response? = {
            try await Task.sleep(for: .seconds(25))
            return nil
        }
        // A 10 s timeout: under the full suite the in-process predictor's prompt answer once took more than 4 s.
        try await Self.withPredictor(timeoutMs: 10_000, pauseMs: 120_000, first: slow) { client, _ in
            #expect(await client.predict(Self.request).fallbackLevel == .localPrior)
            // A failed predictor would still be left alone, but past one timeout a slow one is asked again.
            try await Task.sleep(for: .seconds(11))
            let second = await client.predict(Self.request)
            #expect(second.fallbackLevel == .globalNeighbors && second.expectedOutputTokensP50 == 17)
        }
    }

    @Test func aPredictorThatFailedIsLeftAloneForItsPause() async throws {
        // The first question fails at once (a predictor restarting). The pause is long so that a loaded machine's
        // slow sleeps stay inside it; that it ends is the same clock as the timeout's pause above.
        try await Self.withPredictor(pauseMs: 30_000, first: { Response(status: .serviceUnavailable) }) {
            client, calls in
            #expect(await client.predict(Self.request).fallbackLevel == .localPrior)
            // Past one timeout (a slow predictor would be asked again), a failed one is still left alone.
            try await Task.sleep(for: .milliseconds(1500))
            #expect(await client.predict(Self.request).fallbackLevel == .localPrior)
            #expect(calls() == 1)
        }
    }
}
