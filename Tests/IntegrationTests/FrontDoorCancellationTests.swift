import Contracts
import Foundation
import ProcessLauncher
import Testing

/// A front-door client that closes its connection: the request is withdrawn (`cancelled`, `client_disconnected`)
/// and, when it was still waiting, never reaches the upstream.
@Suite(.serialized) struct FrontDoorCancellationTests {
    struct Stack {
        var mock: LaunchedService
        var proxy: LaunchedService
        var scheduler: LaunchedService

        func stop() {
            scheduler.stop()
            proxy.stop()
            mock.stop()
        }
    }

    /// Simulated upstream whose every answer takes `ttftMs` to start, then `tpotMs` per token up to `max_tokens`, a
    /// proxy, and a scheduler that keeps at most one request in flight.
    private func startStack(ttftMs: Int, tpotMs: Int = 1) async throws -> Stack {
        let mock = try await LaunchedService.start(
            "maitre-mock-llm",
            environment: [
                "MOCK_TTFT_BASE_MS": String(ttftMs), "MOCK_TPOT_MS": String(tpotMs), "MOCK_OUTPUT_MU": "8",
                "LOG_LEVEL": "warning",
            ])
        let proxy = try await LaunchedService.start(
            "maitre-proxy",
            environment: [
                "PROXY_DEFAULT_UPSTREAM": "\(mock.baseURL)/v1", "PREDICTOR_BASE_URL": "", "LOG_LEVEL": "warning",
            ])
        let scheduler = try await LaunchedService.start(
            "maitre-scheduler",
            environment: [
                "PROXY_URLS": proxy.baseURL, "PREDICTOR_BASE_URL": "http://127.0.0.1:\(try FreePort.allocate())",
                "PREDICTOR_TIMEOUT_MS": "50", "MAX_INFLIGHT_REQUESTS": "1", "LOG_LEVEL": "warning",
            ])
        return Stack(mock: mock, proxy: proxy, scheduler: scheduler)
    }

    /// Opens a front-door request for `tenant` and closes the connection after about a second.
    private static func leaveAfterASecond(_ scheduler: LaunchedService, tenant: String) async {
        let chat = #"{"model":"gpt-4o-mini","max_tokens":8,"messages":[{"role":"user","content":"leaving marker"}]}"#
        let answer = try? await TestHTTP.post(
            "\(scheduler.baseURL)/v1/chat/completions", raw: chat, headers: ["X-Tenant-ID": tenant],
            timeout: .seconds(1))
        #expect(answer == nil, "the front door answered before the client left: \(answer?.text ?? "")")
    }

    /// The id of `tenant`'s request from the first `/events` entry of `kind` (nil if none within `seconds`).
    private static func request(
        _ scheduler: LaunchedService, tenant: String, kind: SchedulerEventKind = .cancel, seconds: Int = 10
    ) async throws -> String? {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            let events = try await TestHTTP.get("\(scheduler.baseURL)/events?since=0&limit=1000")
                .decode(EventsResponse.self)
            if let event = events.events.first(where: { $0.kind == kind && $0.tenantId == tenant }) {
                return event.requestId
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return nil
    }

    /// Calls the simulated upstream holds now (running or queued), and calls it has ended in any way.
    private static func upstreamState(_ mock: LaunchedService) async throws -> (inFlight: Int, ended: Int) {
        let response = try await TestHTTP.get("\(mock.baseURL)/metrics")
        let object = try JSONSerialization.jsonObject(with: response.body) as? [String: Any]
        let state = object?["state"] as? [String: Any] ?? [:]
        let outcomes = state["requests_by_outcome"] as? [String: Any] ?? [:]
        let ended = outcomes.values.compactMap { ($0 as? NSNumber)?.intValue }.reduce(0, +)
        let held = [state["in_flight"], state["queue_depth"]].map { ($0 as? NSNumber)?.intValue ?? -1 }
        return (held.reduce(0, +), ended)
    }

    @Test func aWaitingRequestWhoseClientLeftIsCancelledAndNeverSentUpstream() async throws {
        // The blocker's first token is ten minutes away, so it holds the only slot for the whole test however slowly
        // a loaded machine runs it (under the full suite the front-door request once reached the scheduler 44 s
        // after the blocker was sent).
        let stack = try await startStack(ttftMs: 600_000)
        defer { stack.stop() }
        let (mock, scheduler) = (stack.mock, stack.scheduler)
        let blocker = try await TestHTTP.post(
            "\(scheduler.baseURL)/submit",
            body: SubmitRequest(
                prompt: "blocker", maxTokens: 8, model: "gpt-4o-mini", tenantId: "blocker", requestClass: .heavy)
        ).decode(SubmitResponse.self)
        // The blocker holds the slot before the front-door request arrives (checked, not assumed).
        #expect(try await SchedulerPolling.waitForDispatch(blocker.requestId, base: scheduler.baseURL))
        await Self.leaveAfterASecond(scheduler, tenant: "leaver")

        let id = try #require(await Self.request(scheduler, tenant: "leaver"))
        let status = try await TestHTTP.get("\(scheduler.baseURL)/status/\(id)").decode(StatusResponse.self)
        let held = try await TestHTTP.get("\(scheduler.baseURL)/status/\(blocker.requestId)").text
        #expect(status.state == .cancelled)
        #expect(status.reason?.code == "client_disconnected")
        #expect(status.timings.dispatchedUnixMs == nil, "\(status.timings); the blocker: \(held)")

        // The upstream holds the blocker and has seen nothing else: nothing finished there, one call in flight.
        try await Task.sleep(for: .milliseconds(500))
        let upstream = try await Self.upstreamState(mock)
        #expect(upstream.inFlight == 1 && upstream.ended == 0, "upstream: \(upstream)")
        let after = try await TestHTTP.get("\(scheduler.baseURL)/status/\(id)").decode(StatusResponse.self)
        #expect(after.state == .cancelled)
        // Counted apart from expiries and failures.
        let metrics = try await TestHTTP.get("\(scheduler.baseURL)/metrics").decode(MetricsSnapshot.self)
        let state = try #require(metrics.state)
        #expect(state["cancelled_total"] == .number(1))
        #expect(state["expired_total"] == .number(0) && state["failed_total"] == .number(0))
    }

    @Test func anInFlightRequestWhoseClientLeftIsCancelled() async throws {
        // A first token 15 s away: the client's 1 s timeout fires long before it, however loaded the machine.
        let stack = try await startStack(ttftMs: 15_000)
        defer { stack.stop() }
        let scheduler = stack.scheduler
        await Self.leaveAfterASecond(scheduler, tenant: "leaver")
        let id = try #require(await Self.request(scheduler, tenant: "leaver"))
        let status = try await TestHTTP.get("\(scheduler.baseURL)/status/\(id)").decode(StatusResponse.self)
        #expect(status.state == .cancelled)
        #expect(status.reason?.code == "client_disconnected")
        #expect(status.timings.dispatchedUnixMs != nil)
        // The slot it held is free again: the next request is served.
        let next = try await TestHTTP.post(
            "\(scheduler.baseURL)/submit",
            body: SubmitRequest(prompt: "next", maxTokens: 8, model: "gpt-4o-mini", tenantId: "next")
        ).decode(SubmitResponse.self)
        let final = try await SchedulerPolling.waitForTerminal([next.requestId], base: scheduler.baseURL, seconds: 60)
        #expect(final[next.requestId]?.state == .completed)
    }

    @Test func aStreamingClientThatLeavesMidAnswerIsCancelled() async throws {
        let stack = try await startStack(ttftMs: 100, tpotMs: 100)
        defer { stack.stop() }
        let scheduler = stack.scheduler
        struct ClientLeft: Error {}
        let chat = #"{"model":"gpt-4o-mini","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"x"}]}"#
        await #expect(throws: ClientLeft.self) {
            _ = try await TestHTTP.stream(
                "\(scheduler.baseURL)/v1/chat/completions", json: Data(chat.utf8), headers: ["X-Tenant-ID": "streamer"]
            ) { _, _ in throw ClientLeft() }
        }
        // The answer would run for ten seconds; the next write after the client left cancels it.
        let id = try #require(await Self.request(scheduler, tenant: "streamer", seconds: 8))
        let status = try await TestHTTP.get("\(scheduler.baseURL)/status/\(id)").decode(StatusResponse.self)
        #expect(status.state == .cancelled)
        #expect(status.reason?.code == "client_disconnected")
        #expect(status.timings.dispatchedUnixMs != nil)
    }

    /// Sends a blocker to `/submit`, then a front-door request for `tenant` that waits behind it (its client
    /// connected until the scheduler goes away); stops the scheduler with `stopping` while the request waits, restarts
    /// it and returns the restarted scheduler, the waiting request's status there and the blocker's id.
    private func stopWhileAFrontDoorRequestWaits(
        _ scheduler: LaunchedService, tenant: String, stopping: (LaunchedService) -> Void
    ) async throws -> (restarted: LaunchedService, status: StatusResponse, id: String, blocker: String) {
        let blocker = try await TestHTTP.post(
            "\(scheduler.baseURL)/submit",
            body: SubmitRequest(prompt: "blocker", maxTokens: 8, model: "gpt-4o-mini", tenantId: "blocker")
        ).decode(SubmitResponse.self)
        #expect(try await SchedulerPolling.waitForDispatch(blocker.requestId, base: scheduler.baseURL))
        let chat = #"{"model":"gpt-4o-mini","max_tokens":8,"messages":[{"role":"user","content":"waiting"}]}"#
        let client = Task {
            try? await TestHTTP.post(
                "\(scheduler.baseURL)/v1/chat/completions", raw: chat, headers: ["X-Tenant-ID": tenant],
                timeout: .seconds(30))
        }
        let id = try #require(await Self.request(scheduler, tenant: tenant, kind: .admit))
        try await Task.sleep(for: .milliseconds(300))
        stopping(scheduler)
        _ = await client.value
        let restarted = try await scheduler.restart()
        let status = try await TestHTTP.get("\(restarted.baseURL)/status/\(id)").decode(StatusResponse.self)
        return (restarted, status, id, blocker.requestId)
    }

    @Test func aRequestStillWaitingWhenTheSchedulerStopsEndsCancelledForShutdown() async throws {
        // The blocker's first token is 15 s away, so a loaded machine still stops the scheduler before it ends.
        let stack = try await startStack(ttftMs: 15_000)
        defer { stack.stop() }
        // The client is still connected; the scheduler stops while the request waits behind the blocker.
        let stopped = try await stopWhileAFrontDoorRequestWaits(stack.scheduler, tenant: "stayer") { $0.stop() }
        defer { stopped.restarted.stop() }
        #expect(stopped.status.state == .cancelled)
        #expect(stopped.status.reason?.code == "shutdown")
    }

    @Test func aWaitingRequestOfASchedulerKilledMidWaitEndsCancelledAfterTheRestartAndIsNeverSent() async throws {
        let stack = try await startStack(ttftMs: 15_000)
        defer { stack.stop() }
        // A crash while the request waits: nothing is written at the end, and its client's connection ends with it.
        let killed = try await stopWhileAFrontDoorRequestWaits(stack.scheduler, tenant: "orphan") { $0.kill9() }
        let restarted = killed.restarted
        defer { restarted.stop() }
        #expect(killed.status.state == .cancelled)
        #expect(killed.status.reason?.code == "shutdown")
        // The blocker, in flight at the crash, is sent again (INFLIGHT_ON_RESTART=requeue); the orphan never is.
        let final = try await SchedulerPolling.waitForTerminal([killed.blocker], base: restarted.baseURL, seconds: 90)
        #expect(final[killed.blocker]?.state == .completed)
        let after = try await TestHTTP.get("\(restarted.baseURL)/status/\(killed.id)").decode(StatusResponse.self)
        #expect(after.state == .cancelled)
        #expect(after.timings.dispatchedUnixMs == nil)
    }
}
