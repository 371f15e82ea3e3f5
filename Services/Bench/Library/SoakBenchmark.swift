import ArgumentParser
import AsyncHTTPClient
import Contracts
import Foundation
import NIOCore
import NIOHTTP1
import ProcessLauncher
import ServiceRuntime

/// `maitre-bench soak`: a steady open-loop stream through the real scheduler → proxy → simulated upstream on
/// loopback, watching each service's resident memory and open descriptors and the latency of every request.
/// Fails (exit 1) when memory grows past the bound after warm-up, descriptors leak, p99 drifts or a request is lost.
struct SoakBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract:
            "Soak test: steady load through scheduler → proxy → simulated upstream; memory, descriptors, p99 stability."
    )

    @Option(help: "Length of the run in seconds, warm-up included.") var seconds = 600.0
    @Option(help: "Requests per second, sent open-loop at fixed intervals through the scheduler's front door.")
    var rate = 200.0
    @Option(help: "Seconds of warm-up; memory and descriptors are compared with their values at its end.")
    var warmupSeconds = 60.0
    @Option(help: "Seconds between resource samples.") var sampleSeconds = 5.0
    @Option(help: "Latency windows the part after warm-up is cut into.") var windows = 10
    @Option(
        help:
            "Largest allowed growth of peak resident memory from the first half after warm-up to the second, in percent."
    )
    var maxRssGrowthPercent = 10.0
    @Option(
        help: "Largest allowed excess of open file descriptors after the load has drained over their count before it.")
    var fdSlack = 8
    @Option(
        help:
            "Seconds to wait after the load, with the generator's connections closed, before counting descriptors (the services' pooled connections close after 60 s idle)."
    )
    var drainSeconds = 65.0
    @Option(help: "Largest allowed ratio of the last window's p99 to the first window's.") var maxP99Ratio = 1.5
    @Option(help: "A p99 rise smaller than this many ms passes whatever the ratio (timer noise at tens of ms).")
    var p99FloorMs = 20.0
    @Flag(
        help:
            "Print the p99 criterion but leave it out of the verdict (for short runs on a shared CPU, such as the test suite's)."
    )
    var p99Informational = false
    @Option(help: "max_tokens of every request.") var maxTokens = 16
    @Option(help: "Wall seconds per model second of the simulated upstream (0.05: answers take tens of ms).")
    var timeScale = 0.05
    @Option(help: "Predictor embedder: hashed, minilm or auto.") var embedder = "hashed"
    @Option(help: "Predictor HISTORY_WINDOW_SIZE: the history is bounded by it, so it should fill during the warm-up.")
    var predictorHistoryWindow = 10000
    @Option(help: "Folder of the maitre executables (default: the folder of this executable).") var binDir: String?
    @Option(help: "Folder for logs and service data (default: a new temporary folder).") var workDir: String?
    @Option(help: "JSON report file.") var out: String?

    func validate() throws {
        guard seconds > 0, rate > 0, sampleSeconds > 0, windows > 0, maxTokens > 0, drainSeconds >= 0 else {
            throw ValidationError(
                "--seconds, --rate, --sample-seconds, --windows and --max-tokens must be positive, --drain-seconds not negative"
            )
        }
        guard warmupSeconds >= 0, warmupSeconds < seconds else {
            throw ValidationError("--warmup-seconds must be at least 0 and shorter than --seconds")
        }
        guard predictorHistoryWindow > 0 else { throw ValidationError("--predictor-history-window must be positive") }
    }

    func run() async throws {
        let bin = URL(
            fileURLWithPath: binDir
                ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
                .path)
        let work = URL(
            fileURLWithPath: workDir ?? NSTemporaryDirectory() + "maitre-soak-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let http = HTTPClientService(readTimeout: .seconds(120), maxConnectionsPerHost: 256)
        var started: [LaunchedService] = []
        let result: Result<SoakReport, any Error>
        do {
            started = try await startServices(bin: bin, work: work)
            result = .success(try await soak(services: started))
        } catch {
            result = .failure(error)
        }
        for service in started.reversed() { service.stop() }
        try? await http.client.shutdown()
        let report = try result.get()

        print(report.text())
        if let out {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: out))
            print("wrote \(out); logs in \(work.path)")
        } else {
            print("logs in \(work.path)")
        }
        if !report.passed { throw ExitCode(1) }
    }

    /// Simulated upstream (uncongested, fast), predictor, proxy and scheduler, in that order.
    private func startServices(bin: URL, work: URL) async throws -> [LaunchedService] {
        var started: [LaunchedService] = []
        do {
            func launch(_ product: String, _ environment: [String: String]) async throws -> LaunchedService {
                let service = try await LaunchedService.start(
                    product, binDirectory: bin, environment: environment,
                    dataDirectory: work.appendingPathComponent(product),
                    logLevel: benchServiceLogLevel, timeout: .seconds(120))
                started.append(service)
                return service
            }
            FileHandle.standardError.write(Data("soak: starting services…\n".utf8))
            let mock = try await launch(
                "maitre-mock-llm",
                [
                    "MOCK_TIME_SCALE": String(timeScale), "MOCK_MAX_CONCURRENCY": "4096", "MOCK_MAX_QUEUE": "100000",
                    "MOCK_CONGESTION_KNEE": "4096",
                ])
            let predictor = try await launch(
                "maitre-predictor", ["EMBEDDER": embedder, "HISTORY_WINDOW_SIZE": String(predictorHistoryWindow)])
            let proxy = try await launch(
                "maitre-proxy",
                [
                    "PROXY_DEFAULT_UPSTREAM": mock.baseURL + "/v1", "PREDICTOR_BASE_URL": predictor.baseURL,
                    "PROXY_QUEUE_SIZE": "100000",
                ])
            _ = try await launch(
                "maitre-scheduler", ["PROXY_URLS": proxy.baseURL, "PREDICTOR_BASE_URL": predictor.baseURL])
            return started
        } catch {
            for service in started.reversed() { service.stop() }
            throw error
        }
    }

    private func soak(services: [LaunchedService]) async throws -> SoakReport {
        let scheduler = services[services.count - 1]
        let watched = services.map { WatchedProcess(name: $0.product, pid: $0.processIdentifier) }
        let idle = watched.map { $0.sample(at: 0) }
        // The load has a client of its own, shut down after the run so that its connections are gone when the
        // drained descriptors are counted.
        let generator = HTTPClientService(readTimeout: .seconds(120), maxConnectionsPerHost: 256)
        let client = generator.client
        let bodies = try Self.requestBodies(maxTokens: maxTokens)
        let total = Int(seconds * rate)
        let start = ContinuousClock.now
        func elapsed() -> Double { (ContinuousClock.now - start).seconds }
        if Double(predictorHistoryWindow) > rate * warmupSeconds {
            FileHandle.standardError.write(
                Data(
                    "soak: warning: the predictor's history window (\(predictorHistoryWindow) rows) does not fill during the warm-up (\(Int(rate * warmupSeconds)) requests); its memory grows by design until it does\n"
                        .utf8))
        }
        FileHandle.standardError.write(
            Data("soak: \(total) requests over \(Int(seconds)) s at \(rate)/s (warm-up \(Int(warmupSeconds)) s)\n".utf8)
        )

        let sampleEvery = sampleSeconds
        let runSeconds = seconds
        let sampler = Task { () -> [ResourceSample] in
            var samples: [ResourceSample] = []
            var next = 0.0
            while !Task.isCancelled, next <= runSeconds {
                try? await Task.sleep(until: start + .seconds(next), clock: .continuous)
                samples += watched.map { $0.sample(at: elapsed()) }
                next += sampleEvery
            }
            return samples
        }
        let warmup = warmupSeconds
        let baseline = Task { () -> [ResourceSample] in
            try? await Task.sleep(until: start + .seconds(warmup), clock: .continuous)
            return watched.map { $0.sample(at: elapsed()) }
        }

        let url = scheduler.baseURL + "/v1/chat/completions"
        // A discarding group frees each finished request at once; the outcomes go to an actor.
        let recorder = SoakRecorder(capacity: total)
        let sendLag = await withDiscardingTaskGroup { group -> Double in
            var worstLag = 0.0
            for index in 0..<total {
                let offset = Double(index) / rate
                try? await Task.sleep(until: start + .seconds(offset), clock: .continuous)
                worstLag = max(worstLag, elapsed() - offset)
                let body = bodies[index % bodies.count]
                group.addTask {
                    await recorder.add(await Self.send(url: url, body: body, offset: offset, client: client))
                }
                if index > 0, index % Int(max(rate * 30, 1)) == 0 {
                    FileHandle.standardError.write(
                        Data(String(format: "soak: %.0f s, sent %d\n", elapsed(), index).utf8))
                }
            }
            return worstLag
        }
        let outcomes = await recorder.outcomes
        let warm = await baseline.value
        let end = watched.map { $0.sample(at: elapsed()) }
        sampler.cancel()
        let samples = await sampler.value
        try? await generator.client.shutdown()
        if drainSeconds > 0 {
            FileHandle.standardError.write(
                Data("soak: load done; waiting \(Int(drainSeconds)) s for idle connections to close\n".utf8))
            try? await Task.sleep(for: .seconds(drainSeconds))
        }
        let drained = watched.map { $0.sample(at: elapsed()) }

        let limits = SoakLimits(
            maxRssGrowthPercent: maxRssGrowthPercent, fdSlack: fdSlack, maxP99Ratio: maxP99Ratio,
            p99FloorMs: p99FloorMs,
            p99Informational: p99Informational)
        return SoakReport(
            command: (["maitre-bench"] + CommandLine.arguments.dropFirst()).joined(separator: " "),
            settings: [
                "seconds": String(seconds), "rate_per_s": String(rate), "warmup_seconds": String(warmupSeconds),
                "max_tokens": String(maxTokens), "time_scale": String(timeScale), "embedder": embedder,
                "predictor_history_window": String(predictorHistoryWindow), "drain_seconds": String(drainSeconds),
                "wall_seconds": String(format: "%.1f", elapsed()),
            ],
            outcomes: outcomes, idle: idle, warm: warm, end: end, drained: drained, samples: samples,
            warmupSeconds: warmupSeconds, seconds: seconds,
            windowCount: windows, maxSendLagSeconds: sendLag, limits: limits)
    }

    /// A handful of short chat requests, cycled through so the predictor sees more than one prompt.
    static func requestBodies(maxTokens: Int) throws -> [ByteBuffer] {
        let topics = [
            "the tides", "a binary heap", "sourdough starters", "TCP slow start", "the Krebs cycle", "haiku structure",
            "Rust lifetimes", "why the sky is blue", "a B-tree split", "compound interest", "photosynthesis",
            "Raft elections",
            "the Doppler effect", "JSON vs YAML", "garbage collection", "the Monty Hall problem",
        ]
        let encoder = JSONEncoder()
        return try topics.map { topic in
            let request = ChatCompletionRequest(
                model: "gpt-4o-mini",
                messages: [ChatMessage(role: "user", content: "Explain \(topic) in one sentence.")],
                maxTokens: maxTokens)
            return ByteBuffer(bytes: try encoder.encode(request))
        }
    }

    /// One request through the front door, followed to its end: completed, refused (429/503 with a reason) or failed.
    static func send(url: String, body: ByteBuffer, offset: Double, client: HTTPClient) async -> SoakOutcome {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: MaitreHeader.requestClass, value: "interactive")
        // One tenant: the predictor's per-tenant history window then fills as fast as the global one.
        request.headers.add(name: MaitreHeader.tenant, value: "soak")
        request.body = .bytes(body)
        let sent = ContinuousClock.now
        do {
            let response = try await client.execute(request, timeout: .seconds(120))
            let bytes = try await response.body.collect(upTo: 1 << 20)
            let latencyMs = (ContinuousClock.now - sent).seconds * 1000
            let status = Int(response.status.code)
            if status == 200 {
                return SoakOutcome(offset: offset, latencyMs: latencyMs, kind: .completed, status: status, reason: nil)
            }
            let envelope = try? JSONDecoder().decode(ErrorEnvelope.self, from: Data(bytes.readableBytesView))
            let reason = envelope.map { $0.error.code ?? $0.error.type } ?? "HTTP \(status) without an error envelope"
            let refused = (status == 429 || status == 503) && envelope != nil
            return SoakOutcome(
                offset: offset, latencyMs: latencyMs, kind: refused ? .rejected : .failed, status: status,
                reason: reason)
        } catch {
            let latencyMs = (ContinuousClock.now - sent).seconds * 1000
            return SoakOutcome(
                offset: offset, latencyMs: latencyMs, kind: .failed, status: nil, reason: "transport: \(error)")
        }
    }
}

/// Collects the outcome of every soak request.
actor SoakRecorder {
    private(set) var outcomes: [SoakOutcome] = []

    init(capacity: Int) { outcomes.reserveCapacity(capacity) }

    func add(_ outcome: SoakOutcome) { outcomes.append(outcome) }
}

/// One process watched through `/proc`: resident memory and open descriptors.
struct WatchedProcess: Sendable {
    var name: String
    var pid: Int32

    func sample(at elapsedSeconds: Double) -> ResourceSample {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd"))?.count
        return ResourceSample(
            elapsedSeconds: elapsedSeconds, service: name, rssKB: residentKB() ?? -1, openFDs: fds ?? -1)
    }

    /// VmRSS from `/proc/<pid>/status`, in kB.
    func residentKB() -> Int? {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        return status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { line in
                line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }
            }
    }

    /// Resident memory in MB (0 when unreadable).
    func residentMegabytes() -> Double { Double(residentKB() ?? 0) / 1024 }
}
