import AsyncHTTPClient
import Contracts
import Foundation
import Hummingbird
import ProcessLauncher

/// What the dispatch path costs with a store: the time from the engine's dispatch decision (the `dispatched` time
/// `/status` shows) to the call's arrival at the upstream. With PostgreSQL the `dispatched` mark is committed before
/// the call goes out (the fence that keeps a request from being sent by two replicas), so this is where the shared
/// store's per-decision database work shows; with SQLite the call goes out at once and the mark is written behind
/// it. The engine's own decision cost does not depend on the store.
struct DispatchDelay {
    var delays = LoadLatencyHistogram()
    var requests = 0

    /// One replica on the store (`databaseURL` nil: SQLite) calling an instant upstream in this process, with room
    /// for `concurrency` calls in flight; `requests` submissions from `concurrency` workers; then the decision time
    /// of up to `sampled` of them read back from `/status`.
    static func measure(
        executable: URL, databaseURL: String?, predictorURL: String, requests: Int, concurrency: Int,
        sampled: Int = 1_000
    ) async throws -> DispatchDelay {
        let arrivals = UpstreamArrivals()
        let upstreamPort = try FreePort.allocate()
        let upstream = InstantServices.upstream(port: upstreamPort, arrivals: arrivals)
        let upstreamTask = Task { try await upstream.runService() }
        defer { upstreamTask.cancel() }
        let replicas = try await SchedulerReplicas.start(
            count: 1, executable: executable, databaseURL: databaseURL,
            environment: [
                "PREDICTOR_BASE_URL": predictorURL,
                "PROXY_URLS": "http://127.0.0.1:\(upstreamPort)",
                "MAX_INFLIGHT_REQUESTS": String(concurrency),
                // Budgets that never bind: the request cap alone decides how many calls are out.
                "INTERACTIVE_INFLIGHT_TOKENS": "100000000",
                "HEAVY_INFLIGHT_TOKENS": "100000000",
                "MAX_QUEUE_LENGTH": "10000000",
                "EVENT_CAPACITY": "1000",
            ])
        defer { replicas.stop() }
        _ = try await SubmitLoad.swiftClient(replicas: replicas.baseURLs, requests: requests, workers: concurrency)
        let deadline = ContinuousClock.now + .seconds(60)
        while arrivals.count < requests, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let arrived = arrivals.all
        guard arrived.count >= requests else {
            throw BenchmarkError("only \(arrived.count) of \(requests) dispatches reached the upstream within 60 s")
        }
        var result = DispatchDelay(requests: requests)
        let ids = arrived.keys.sorted()
        let step = max(1, ids.count / max(1, sampled))
        for id in stride(from: 0, to: ids.count, by: step).map({ ids[$0] }) {
            let response = try await HTTPClient.shared.execute(
                HTTPClientRequest(url: replicas.baseURLs[0] + "/status/\(id)"), timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 1 << 20)
            let status = try JSONDecoder().decode(StatusResponse.self, from: Data(body.readableBytesView))
            guard let decided = status.timings.dispatchedUnixMs, let reached = arrived[id] else { continue }
            result.delays.add(seconds: max(0, reached - decided) / 1000)
        }
        return result
    }
}
