import AsyncHTTPClient
import Contracts
import Foundation
import NIOCore
import NIOHTTP1
import ProcessLauncher

/// A fresh set of services for one mode: simulated upstream, predictor (seeded), proxy and, for the scheduled modes,
/// the scheduler. Started from the release build on free loopback ports and stopped after the replay.
struct ServiceStack: Sendable {
    var binDirectory: URL
    var workDirectory: URL
    var client: HTTPClient
    var provider: KneeLatencyModel
    var timeScale: Double
    var trace: URL
    var embedder: String

    func run(mode: String, workload: ShareGPTWorkload, model: String) async throws -> [ReplayedRequest] {
        var started: [LaunchedService] = []
        defer { for service in started.reversed() { service.stop() } }
        func launch(_ product: String, _ environment: [String: String]) async throws -> LaunchedService {
            let service = try await LaunchedService.start(
                product, binDirectory: binDirectory, environment: environment,
                dataDirectory: workDirectory.appendingPathComponent(product), logLevel: benchServiceLogLevel,
                timeout: .seconds(120))
            started.append(service)
            return service
        }
        FileHandle.standardError.write(Data("\(mode): starting services…\n".utf8))
        let mock = try await launch(
            "maitre-mock-llm",
            [
                "MOCK_TRACE_FILE": trace.path, "MOCK_TIME_SCALE": String(timeScale),
                "MOCK_LATENCY_PROFILE": "congested",
                "MOCK_TTFT_BASE_MS": String(provider.baseTTFTMs),
                "MOCK_PREFILL_US_PER_TOKEN": String(provider.prefillMsPerToken * 1000),
                "MOCK_TPOT_MS": String(provider.tpotMs), "MOCK_CONGESTION_ALPHA": String(provider.alpha),
                "MOCK_CONGESTION_KNEE": String(provider.knee), "MOCK_MAX_CONCURRENCY": String(provider.concurrencyCap),
                "MOCK_MAX_QUEUE": "100000",
            ])
        let predictor = try await launch("maitre-predictor", ["EMBEDDER": embedder])
        try await seed(predictor: predictor, records: workload.seedRecords(model: model))
        let proxy = try await launch(
            "maitre-proxy",
            [
                "PROXY_DEFAULT_UPSTREAM": mock.baseURL + "/v1", "PREDICTOR_BASE_URL": predictor.baseURL,
                "PROXY_QUEUE_SIZE": "100000", "PROXY_DEFAULT_DEADLINE_MS": "3600000",
                "PROXY_READ_TIMEOUT_MS": "3600000",
            ])
        let target: ReplayTarget
        if mode == "naive" {
            target = .proxy(baseURL: proxy.baseURL)
        } else {
            let scheduler = try await launch(
                "maitre-scheduler",
                [
                    "PROXY_URLS": proxy.baseURL, "PREDICTOR_BASE_URL": predictor.baseURL,
                    "DISPATCH_TIMEOUT_MS": "36000000", "PREDICTIONS": mode == "blind" ? "constant" : "predictor",
                ])
            target = .scheduler(baseURL: scheduler.baseURL, oracle: mode == "oracle")
        }
        let replay = ArrivalReplay(client: client, model: model, timeScale: timeScale, requestTimeoutSeconds: 36000)
        return await replay.run(workload, target: target, label: mode)
    }

    /// Loads the seed history through `/ingest/batch` in chunks the predictor accepts.
    private func seed(predictor: LaunchedService, records: [OutcomeReport]) async throws {
        let encoder = JSONEncoder()
        for start in stride(from: 0, to: records.count, by: 256) {
            var request = HTTPClientRequest(url: predictor.baseURL + "/ingest/batch")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(
                ByteBuffer(
                    bytes: try encoder.encode(
                        OutcomeBatch(records: Array(records[start..<min(start + 256, records.count)])))))
            let response = try await client.execute(request, timeout: .seconds(600))
            let body = try await response.body.collect(upTo: 1 << 20)
            guard response.status.code / 100 == 2 else {
                throw BenchmarkError(
                    "predictor /ingest/batch answered \(response.status.code): \(String(buffer: body))")
            }
        }
    }
}
