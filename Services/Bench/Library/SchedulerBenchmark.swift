import ArgumentParser
import AsyncHTTPClient
import Contracts
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ProcessLauncher
import SchedulerCore
import ServiceRuntime

/// `maitre-bench scheduler`: the scheduler's speed goals — decision cost per request with a deep queue (pure core),
/// and `/submit` throughput of the real executable with a predictor that answers instantly.
struct SchedulerBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scheduler",
        abstract: "Decision cost with 10,000 queued (goal ≤ 20 µs) and /submit throughput (goal ≥ 5,000/s)."
    )

    @Option(help: "Requests kept waiting while decisions are timed.") var queued = 10_000
    @Option(help: "Decisions (submit + dispatch + complete) to time.") var decisions = 200_000
    @Option(help: "/submit requests to send; 0 skips the HTTP benchmark.") var submits = 20_000
    @Option(help: "Concurrent /submit clients.") var concurrency = 64
    @OptionGroup var loadGenerator: LoadGeneratorOptions
    @Option(help: "Seconds of wrk load (with --client wrk; --submits counts requests only with --client swift).")
    var duration = 10
    @Option(help: "Path of the maitre-scheduler executable (default: beside this one).") var schedulerPath: String?

    func run() async throws {
        let cost = decisionCost()
        print(
            String(
                format: "decision cost: %.2f µs per request (submit + dispatch + complete) with %d queued", cost, queued
            ))
        if submits > 0 {
            try await submitThroughput()
        }
    }

    /// Mean wall time per request of one admission, one dispatch and one completion, with `queued` requests waiting.
    func decisionCost() -> Double {
        var policy = SchedulerPolicy()
        policy.maxQueueLength = queued * 10
        // Two tenants, both classes, mixed sizes and deadlines: every layer does real work.
        var engine = SchedulerEngine(policy: policy, eventCapacity: 0)
        var next = 0
        func job(_ now: Double) -> Job {
            next += 1
            let tokens = [40, 120, 300, 900, 2000][next % 5]
            return Job(
                id: "r\(next)", tenantId: "t\(next % 7)", submittedAtMs: now,
                deadlineAtMs: now + Double(5_000 + (next % 13) * 4_000),
                predictedOutputTokensP50: tokens, predictedOutputTokensP90: tokens * 2, promptTokens: 100)
        }
        var inflight: [String] = []
        var now = 0.0
        for _ in 0..<queued { _ = engine.submit(job(now), now: now) }
        inflight += engine.nextDispatches(now: now).map(\.requestId)
        let start = ContinuousClock.now
        for _ in 0..<decisions {
            now += 1
            _ = engine.submit(job(now), now: now)
            if let done = inflight.popLast() {
                engine.complete(done, outcome: .succeeded(outputTokens: 100, latencyMs: 2000, ttftMs: 200), now: now)
            }
            inflight += engine.nextDispatches(now: now).map(\.requestId)
        }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return seconds / Double(decisions) * 1e6
    }

    /// Starts an instant predictor in this process and the scheduler executable, then times `/submit`.
    func submitThroughput() async throws {
        let predictorPort = Int.random(in: 20_000..<30_000)
        let schedulerPort = predictorPort + 1
        let predictor = instantPredictor(port: predictorPort)
        let predictorTask = Task { try await predictor.runService() }
        defer { predictorTask.cancel() }
        let data = FileManager.default.temporaryDirectory.appendingPathComponent(
            "maitre-bench-scheduler-\(schedulerPort)")
        let environment = ProcessInfo.processInfo.environment.merging([
            "PORT": String(schedulerPort),
            "DATA_DIR": data.path,
            "PREDICTOR_BASE_URL": "http://127.0.0.1:\(predictorPort)",
            // Nothing is dispatched during the measurement: the proxy address is closed and heavy work waits.
            "PROXY_URLS": "http://127.0.0.1:9",
            "MAX_INFLIGHT_REQUESTS": "1",
            "MAX_QUEUE_LENGTH": "10000000",
            "EVENT_CAPACITY": "1000",
            "LOG_LEVEL": "error",
        ]) { $1 }
        let process = try ChildProcess.spawn(
            schedulerPath ?? Self.sibling("maitre-scheduler"),
            arguments: ["--port", String(schedulerPort), "--data-dir", data.path],
            environment: environment)
        defer {
            process.stop()
            try? FileManager.default.removeItem(at: data)
        }
        let client = HTTPClient.shared
        let base = "http://127.0.0.1:\(schedulerPort)"
        for _ in 0..<200 {
            if (try? await client.execute(HTTPClientRequest(url: base + "/health"), timeout: .seconds(1)).status) == .ok
            {
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let body =
            #"{"prompt": "Summarise the plot of Hamlet in two sentences.", "max_tokens": 256, "model": "gpt-4o-mini", "tenant_id": "bench"}"#
        func send() async throws {
            var request = HTTPClientRequest(url: base + "/submit")
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
            let response = try await client.execute(request, timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 1 << 20)
            guard response.status == .accepted else { throw ValidationError("/submit answered \(response.status)") }
        }
        for _ in 0..<200 { try await send() }
        if let wrk = loadGenerator.wrk() {
            let result = try wrk.post(
                url: base + "/submit", body: body, connections: concurrency, seconds: Double(duration))
            guard result.failures == 0 else {
                throw ValidationError("/submit answered \(result.failures) requests with an error under wrk.")
            }
            print(
                String(
                    format:
                        "/submit throughput: %.0f requests/s (wrk -t1 -c%d -d%ds, %d requests, p50 %.2f ms, p99 %.2f ms, instant predictor)",
                    result.rate, concurrency, duration, result.requests, result.p50Ms, result.p99Ms))
            return
        }
        let total = submits
        let workers = concurrency
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    var index = worker
                    while index < total {
                        try await send()
                        index += workers
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(
            String(
                format:
                    "/submit throughput: %.0f requests/s (%d requests, %d concurrent, swift client, instant predictor)",
                Double(total) / seconds, total, concurrency))
    }

    /// A predictor that answers every `/predict` at once with a fixed medium-sized prediction.
    func instantPredictor(port: Int) -> some ApplicationProtocol {
        let router = Router()
        let prediction = PredictResponse(
            sizeBucket: .medium, expectedOutputTokensP50: 400, expectedOutputTokensP90: 900, promptTokens: 12,
            predictedCostP50: 412, riskScore: 0.2, confidenceScore: 0.8, fallbackLevel: .globalNeighbors,
            neighborsUsed: 8, modelVersion: "bench-instant")
        let encoded = ByteBuffer(bytes: (try? JSONEncoder().encode(prediction)) ?? Data())
        router.post("/predict") { request, _ -> Response in
            _ = try await request.body.collect(upTo: 1 << 20)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: encoded))
        }
        // The real predictor's batch route (the scheduler coalesces concurrent questions into it).
        router.post("/predict/batch") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 16 << 20)
            let batch = try JSONDecoder().decode(PredictBatchRequest.self, from: Data(body.readableBytesView))
            let answer = try JSONEncoder().encode(
                PredictBatchResponse(predictions: Array(repeating: prediction, count: batch.requests.count)))
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: answer)))
        }
        var logger = Logger(label: "instant-predictor")
        // Its shutdown when the benchmark ends is expected; nothing it logs is news.
        logger.logLevel = .critical
        return Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
    }

    static func sibling(_ name: String) -> String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name).path
    }
}
