import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Closed-loop `POST /submit` load spread evenly over scheduler replicas, as a load balancer would: with wrk, one
/// wrk process per replica, all at once, each with its share of the connections; with the in-process client, its
/// workers take the replicas in turn.
struct SubmitLoad {
    static let body =
        #"{"prompt": "Summarise the plot of Hamlet in two sentences.", "max_tokens": 256, "model": "gpt-4o-mini", "tenant_id": "bench"}"#

    /// `connections` split as evenly as possible over `replicas` (the first ones get the remainder).
    static func shares(of connections: Int, over replicas: Int) -> [Int] {
        let replicas = max(1, replicas)
        return (0..<replicas).map { connections / replicas + ($0 < connections % replicas ? 1 : 0) }
    }

    /// wrk against every replica at once for `seconds`; the replicas' rates add up and their latencies merge.
    static func wrk(_ wrk: WrkLoad, replicas: [String], connections: Int, seconds: Double) async throws -> WrkResult {
        let shares = shares(of: connections, over: replicas.count)
        return try await withThrowingTaskGroup(of: WrkResult.self) { group in
            for (base, share) in zip(replicas, shares) where share > 0 {
                group.addTask {
                    try await wrk.post(url: base + "/submit", body: body, connections: share, seconds: seconds)
                }
            }
            var total = WrkResult(rate: 0, requests: 0, failures: 0, latencies: LoadLatencyHistogram())
            for try await part in group {
                total.rate += part.rate
                total.requests += part.requests
                total.failures += part.failures
                total.latencies.merge(part.latencies)
            }
            return total
        }
    }

    /// The in-process client: `requests` submissions from `workers` concurrent workers, worker i sending to replica
    /// i mod n; a refusal or error stops the run.
    static func swiftClient(replicas: [String], requests: Int, workers: Int) async throws -> WrkResult {
        let start = ContinuousClock.now
        let latencies = try await withThrowingTaskGroup(of: LoadLatencyHistogram.self) { group in
            for worker in 0..<workers {
                let base = replicas[worker % replicas.count]
                group.addTask {
                    var latencies = LoadLatencyHistogram()
                    var index = worker
                    while index < requests {
                        let sent = ContinuousClock.now
                        try await submit(to: base)
                        latencies.add(seconds: (ContinuousClock.now - sent).seconds)
                        index += workers
                    }
                    return latencies
                }
            }
            var all = LoadLatencyHistogram()
            for try await part in group { all.merge(part) }
            return all
        }
        let seconds = (ContinuousClock.now - start).seconds
        return WrkResult(rate: Double(requests) / seconds, requests: requests, failures: 0, latencies: latencies)
    }

    /// One `/submit`; throws unless it is accepted.
    static func submit(to base: String) async throws {
        var request = HTTPClientRequest(url: base + "/submit")
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        _ = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .accepted else { throw BenchmarkError("/submit answered \(response.status)") }
    }
}
