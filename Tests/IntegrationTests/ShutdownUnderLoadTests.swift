import Foundation
import ProcessLauncher
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Every service exits soon after SIGTERM while it is busy: requests in flight, streams open, clients waiting in
/// the scheduler's queue. A bound of a few seconds, so a restart or a rolling deploy is never held up.
@Suite(.serialized) struct ShutdownUnderLoadTests {
    /// Keeps `connections` POSTs of `body` going against `url` until cancelled.
    private static func load(_ url: String, body: String, connections: Int) -> Task<Void, Never> {
        Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<connections {
                    group.addTask {
                        while !Task.isCancelled {
                            let answer = try? await TestHTTP.post(url, raw: body, timeout: .seconds(30))
                            if answer == nil { try? await Task.sleep(for: .milliseconds(50)) }
                        }
                    }
                }
            }
        }
    }

    @Test func everyServiceExitsWithinFiveSecondsOfSIGTERMUnderLoad() async throws {
        let mock = try await LaunchedService.start(
            "maitre-mock-llm", environment: ["MOCK_TTFT_BASE_MS": "1500", "MOCK_TPOT_MS": "20", "LOG_LEVEL": "warning"])
        defer { mock.stop() }
        let predictor = try await LaunchedService.start(
            "maitre-predictor", environment: ["EMBEDDER": "hashed", "LOG_LEVEL": "warning"])
        defer { predictor.stop() }
        let proxy = try await LaunchedService.start(
            "maitre-proxy",
            environment: [
                "PROXY_DEFAULT_UPSTREAM": "\(mock.baseURL)/v1", "PREDICTOR_BASE_URL": predictor.baseURL,
                "LOG_LEVEL": "warning",
            ])
        defer { proxy.stop() }
        let scheduler = try await LaunchedService.start(
            "maitre-scheduler",
            environment: [
                "PROXY_URLS": proxy.baseURL, "PREDICTOR_BASE_URL": predictor.baseURL, "MAX_INFLIGHT_REQUESTS": "4",
                "LOG_LEVEL": "warning",
            ])
        defer { scheduler.stop() }

        let chat = #"{"model":"gpt-4o-mini","max_tokens":64,"messages":[{"role":"user","content":"Tell me a story"}]}"#
        let stream =
            #"{"model":"gpt-4o-mini","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Stream a story"}]}"#
        let submit = #"{"prompt":"Tell me a story","max_tokens":64,"model":"gpt-4o-mini"}"#
        let predict = #"{"prompt":"Tell me a story","model":"gpt-4o-mini","max_tokens":64}"#
        let loads = [
            Self.load("\(scheduler.baseURL)/v1/chat/completions", body: chat, connections: 12),
            Self.load("\(scheduler.baseURL)/v1/chat/completions", body: stream, connections: 4),
            Self.load("\(scheduler.baseURL)/submit", body: submit, connections: 4),
            Self.load("\(proxy.baseURL)/v1/chat/completions", body: stream, connections: 8),
            Self.load("\(mock.baseURL)/v1/chat/completions", body: chat, connections: 8),
            Self.load("\(predictor.baseURL)/predict", body: predict, connections: 4),
        ]
        defer { for load in loads { load.cancel() } }
        try await Task.sleep(for: .seconds(2))

        for service in [scheduler, proxy, predictor, mock] {
            #expect(service.isRunning, "\(service.product) stopped before SIGTERM:\n\(service.logTail())")
            let start = ContinuousClock.now
            service.process.signal(SIGTERM)
            let status = await service.process.waitAsync(timeout: .seconds(5))
            let took = ContinuousClock.now - start
            #expect(
                status != nil, "\(service.product) still ran \(took) after SIGTERM under load:\n\(service.logTail())")
            print("\(service.product) exited \(String(describing: status)) \(took) after SIGTERM")
            // The next one stays under load a little longer.
            try await Task.sleep(for: .milliseconds(500))
        }
    }
}
