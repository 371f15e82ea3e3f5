import Contracts
import Foundation
import ProcessLauncher
import Testing

/// The scheduler alone on loopback: durability across kill -9, and the local prior when the predictor is down.
@Suite struct SchedulerDurabilityTests {
    /// A scheduler whose predictor and proxy are unreachable (closed ports): requests are predicted from the local
    /// prior, and at most one is tried upstream at a time, so most stay queued.
    private func environment(inflightOnRestart: String) throws -> [String: String] {
        [
            "PREDICTOR_BASE_URL": "http://127.0.0.1:\(try FreePort.allocate())",
            "PROXY_URLS": "http://127.0.0.1:\(try FreePort.allocate())",
            "MAX_INFLIGHT_REQUESTS": "1",
            "INFLIGHT_ON_RESTART": inflightOnRestart,
            "ADMIN_TOKEN": "it-secret",
        ]
    }

    @Test func acceptedRequestsSurviveKillNine() async throws {
        var scheduler = try await LaunchedService.start(
            "maitre-scheduler", environment: try environment(inflightOnRestart: "requeue"))
        defer { scheduler.stop() }
        var accepted: [String] = []
        for index in 0..<40 {
            let submit = SubmitRequest(
                prompt: "Request number \(index): explain deficit round robin.", maxTokens: 200, model: "gpt-4o-mini",
                tenantId: "tenant-\(index % 3)", deadlineMs: 600_000)
            let response = try await TestHTTP.post("\(scheduler.baseURL)/submit", body: submit)
            #expect(response.status == 202)
            let body = try response.decode(SubmitResponse.self)
            #expect(body.prediction.fallbackLevel == .localPrior)
            accepted.append(body.requestId)
        }
        scheduler.kill9()
        scheduler = try await scheduler.restart()
        var states: [RequestState] = []
        for id in accepted {
            let status = try await TestHTTP.get("\(scheduler.baseURL)/status/\(id)")
            #expect(status.status == 200, "request \(id) lost after kill -9")
            let body = try status.decode(StatusResponse.self)
            states.append(body.state)
            if body.state == .failed || body.state == .expired { #expect(body.reason != nil) }
        }
        #expect(states.count == accepted.count)
        // Waiting requests came back into the queue (the metrics count them).
        let metrics = try await TestHTTP.get("\(scheduler.baseURL)/metrics")
        let snapshot = try metrics.decode(MetricsSnapshot.self)
        let state = try #require(snapshot.state)
        let queued = state["queue_length_by_class"]
        #expect(queued != nil)
        #expect(states.filter { $0 == .queued || $0 == .dispatched || $0 == .deferred }.count > 20)
    }

    @Test func inflightRequestsAreMarkedFailedWhenConfigured() async throws {
        var scheduler = try await LaunchedService.start(
            "maitre-scheduler", environment: try environment(inflightOnRestart: "fail"))
        defer { scheduler.stop() }
        var accepted: [String] = []
        for index in 0..<10 {
            let submit = SubmitRequest(prompt: "Item \(index)", maxTokens: 50, model: "m", deadlineMs: 600_000)
            accepted.append(
                try await TestHTTP.post("\(scheduler.baseURL)/submit", body: submit).decode(SubmitResponse.self)
                    .requestId)
        }
        scheduler.kill9()
        scheduler = try await scheduler.restart()
        for id in accepted {
            let body = try await TestHTTP.get("\(scheduler.baseURL)/status/\(id)").decode(StatusResponse.self)
            if body.state == .failed { #expect(body.reason?.code != nil) }
            #expect([RequestState.queued, .deferred, .dispatched, .failed].contains(body.state))
        }
    }
}
