import ArgumentParser
import AsyncHTTPClient
import Contracts
import Foundation
import NIOCore
import PredictorCore
import ProcessLauncher
import ServiceRuntime
import TextEngine

/// `maitre-bench real-model`: maitre in front of a real OpenAI-compatible model server (`scripts/real-model-benchmark`
/// starts llama-cpp-python's server with SmolLM2-135M). The predictor learns this model's lengths from the proxy's
/// outcome reports on a seed set, then one burst of streamed requests is replayed in each mode: naive (straight
/// through the proxy), blind (the scheduler without predictions) and scheduler. The modes run in rounds, in reverse
/// order every other round, so a drift of the machine's speed during the run weighs on every mode alike.
struct RealModelBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "real-model",
        abstract: "Burst of streamed ShareGPT prompts against a real model server: naive vs blind vs scheduler."
    )

    @Option(help: "The model server's OpenAI base URL, e.g. http://127.0.0.1:8081/v1.") var upstreamURL: String
    @Option(help: "Model name sent upstream.") var model = "smollm2"
    @Option(help: "Requests in the measured burst (about half ask for one short sentence).") var totalRequests = 40
    @Option(help: "Seed prompts sent through the proxy first, so the predictor learns this model's lengths.")
    var seedRequests = 60
    @Option(help: "Seed of the ShareGPT shuffle and of which prompts ask for short answers.") var seed: UInt64 = 0
    @Option(help: "ShareGPT records of the burst, A:B (default: the evaluation pool).") var records = "10000:13671"
    @Option(help: "Milliseconds between two arrivals of the burst.") var spacingMs = 100.0
    @Option(help: "max_tokens of every request.") var maxTokens = 320
    @Option(
        help:
            "OpenAI's `seed` in every request, so that every mode samples the same answer to a prompt (the server samples; makespans then compare like for like). -1: none."
    )
    var samplingSeed = 1
    @Option(help: "Longest prompt, in characters, before the ask is appended.") var maxPromptCharacters = 600
    @Option(help: "Modes, comma-separated: naive, blind, scheduler.") var modes = "naive,blind,scheduler"
    @Option(
        help:
            "Rounds of the modes, every other one in reverse order (naive, blind, scheduler, then scheduler, blind, naive), so the machine's drift weighs on every mode alike."
    )
    var rounds = 2
    @Option(help: "Concurrent seed requests.") var seedConcurrency = 2
    @Option(help: "The model server's settings, as the report should state them.") var serverSettings = ""
    @Option(help: "JSON results file; the SVG chart goes next to it.") var out = "real-model.json"
    @Option(help: "Folder of the maitre executables (default: the folder of this executable).") var binDir: String?
    @Option(help: "Folder for logs and service data (default: a new temporary folder).") var workDir: String?
    @Option(help: "Predictor embedder: auto, minilm or hashed.") var embedder = "auto"

    func run() async throws {
        let wanted = modes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        for mode in wanted where !["naive", "blind", "scheduler"].contains(mode) {
            throw ValidationError("unknown mode \(mode) (naive, blind, scheduler)")
        }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
        guard let range = ShareGPTRecords.parse(records) else {
            throw ValidationError("--records expects A:B, got \(records)")
        }
        let bin = URL(
            fileURLWithPath: binDir
                ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
                .path)
        let work = URL(
            fileURLWithPath: workDir ?? NSTemporaryDirectory() + "maitre-real-model-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let workload = try RealModelWorkload(
            seedCount: seedRequests, total: totalRequests, seed: seed, records: range, spacingMs: spacingMs,
            maxPromptCharacters: maxPromptCharacters, tokenizer: try CL100KTokenizer.loadDefault())
        var report = RealModelReport(
            command: (["maitre-bench"] + CommandLine.arguments.dropFirst()).joined(separator: " "),
            settings: [
                "upstream": upstreamURL, "model": model, "server": serverSettings,
                "total_requests": String(totalRequests),
                "seed_requests": String(seedRequests), "seed": String(seed), "records": records,
                "spacing_ms": String(spacingMs), "max_tokens": String(maxTokens),
                "sampling_seed": String(samplingSeed), "rounds": String(rounds),
            ])

        let http = HTTPClientService(readTimeout: .seconds(3600), maxConnectionsPerHost: 1024)
        var started: [LaunchedService] = []
        do {
            func launch(_ product: String, _ folder: String, _ environment: [String: String]) async throws
                -> LaunchedService
            {
                let service = try await LaunchedService.start(
                    product, binDirectory: bin, environment: environment,
                    dataDirectory: work.appendingPathComponent(folder),
                    logLevel: benchServiceLogLevel, timeout: .seconds(120))
                started.append(service)
                return service
            }
            let proxyEnvironment = { (predictor: LaunchedService?) in
                [
                    "PROXY_DEFAULT_UPSTREAM": upstreamURL, "PREDICTOR_BASE_URL": predictor?.baseURL ?? "",
                    "PROXY_QUEUE_SIZE": "10000",
                    "PROXY_DEFAULT_DEADLINE_MS": "3600000", "PROXY_READ_TIMEOUT_MS": "3600000",
                ]
            }
            // One predictor for every mode, taught by the seed set only: the bursts' proxies send it no outcome
            // reports, or a later mode would be predicted from the very answers an earlier one got to the same prompts.
            let predictor = try await launch("maitre-predictor", "predictor", ["EMBEDDER": embedder])
            let seedProxy = try await launch("maitre-proxy", "seed-proxy", proxyEnvironment(predictor))
            report.seed = try await seedPredictor(
                workload.seedSet, proxy: seedProxy, predictor: predictor, client: http.client)
            seedProxy.stop()
            for round in 1...rounds {
                for mode in round % 2 == 1 ? wanted : wanted.reversed() {
                    let label = rounds > 1 ? "\(mode) (round \(round))" : mode
                    FileHandle.standardError.write(Data("\(label): starting services…\n".utf8))
                    let folder = "\(mode)-\(round)"
                    let proxy = try await launch("maitre-proxy", "\(folder)-proxy", proxyEnvironment(nil))
                    var scheduler: LaunchedService?
                    if mode != "naive" {
                        scheduler = try await launch(
                            "maitre-scheduler", "\(folder)-scheduler",
                            [
                                "PROXY_URLS": proxy.baseURL, "PREDICTOR_BASE_URL": predictor.baseURL,
                                "DISPATCH_TIMEOUT_MS": "3600000",
                                "PREDICTIONS": mode == "blind" ? "constant" : "predictor",
                            ])
                    }
                    let run = try await burst(
                        workload.burst, target: scheduler?.baseURL ?? proxy.baseURL, scheduler: scheduler,
                        label: label, client: http.client)
                    report.add(
                        mode: mode, round: round, calls: run.calls, prompts: workload.burst, scheduler: run.scheduler)
                    scheduler?.stop()
                    proxy.stop()
                }
            }
        } catch {
            for service in started.reversed() { service.stop() }
            try? await http.client.shutdown()
            throw error
        }
        for service in started.reversed() { service.stop() }
        try await http.client.shutdown()

        print(report.text())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        try encoder.encode(report).write(to: URL(fileURLWithPath: out))
        let svgPath = (out.hasSuffix(".json") ? String(out.dropLast(5)) : out) + ".svg"
        try LatencyCDFChart.svg(
            title: "Latency CDF, \(totalRequests) streamed requests to \(model)", series: report.cdfSeries,
            classes: ["short", "long"]
        ).write(toFile: svgPath, atomically: true, encoding: .utf8)
        print("wrote \(out) and \(svgPath); logs in \(work.path)")
    }

    /// Sends the seed prompts through the proxy, `seedConcurrency` at a time, and waits until the predictor has
    /// stored the proxy's outcome reports.
    private func seedPredictor(
        _ prompts: [RealModelWorkload.Prompt], proxy: LaunchedService, predictor: LaunchedService, client: HTTPClient
    ) async throws -> RealModelReport.Seed {
        let before = try await historySize(predictor, client: client)
        let progress = ReplayProgress(total: prompts.count, label: "seed")
        let start = ContinuousClock.now
        let calls = await withTaskGroup(of: (String, StreamedCall).self, returning: [(String, StreamedCall)].self) {
            group in
            var next = 0
            var results: [(String, StreamedCall)] = []
            func add() {
                guard next < prompts.count else { return }
                let prompt = prompts[next]
                next += 1
                group.addTask {
                    await progress.sent()
                    let call = await StreamedCall.post(
                        proxy.baseURL + "/v1/chat/completions", body: request(prompt), samplingSeed: samplingSeedSent,
                        headers: [:], client: client, timeoutSeconds: 3600)
                    await progress.finished(ok: call.status == 200)
                    await progress.print(elapsed: (ContinuousClock.now - start).seconds)
                    return (prompt.kind, call)
                }
            }
            for _ in 0..<max(1, seedConcurrency) { add() }
            for await result in group {
                results.append(result)
                add()
            }
            return results
        }
        await progress.print(elapsed: (ContinuousClock.now - start).seconds, final: true)
        let answered = calls.filter { $0.1.status == 200 }.count
        let deadline = Date().addingTimeInterval(60)
        var stored = try await historySize(predictor, client: client) - before
        while stored < answered, Date() < deadline {
            try await Task.sleep(for: .milliseconds(200))
            stored = try await historySize(predictor, client: client) - before
        }
        func meanTokens(_ kind: String) -> Double {
            let tokens = calls.filter { $0.0 == kind && $0.1.status == 200 }.map {
                Double($0.1.completionTokens ?? $0.1.contentChunks)
            }
            return tokens.isEmpty ? 0 : tokens.reduce(0, +) / Double(tokens.count)
        }
        return RealModelReport.Seed(
            sent: prompts.count, answered: answered, stored: stored, meanShortTokens: meanTokens("short"),
            meanLongTokens: meanTokens("long"))
    }

    private func historySize(_ predictor: LaunchedService, client: HTTPClient) async throws -> Int {
        try await client.getJSON(ModelProfilesResponse.self, from: predictor.baseURL + "/models").historySize
    }

    private var samplingSeedSent: Int? { samplingSeed >= 0 ? samplingSeed : nil }

    private func request(_ prompt: RealModelWorkload.Prompt) -> ChatCompletionRequest {
        ChatCompletionRequest(model: model, messages: RealModelWorkload.messages(prompt), maxTokens: maxTokens)
    }

    /// Replays the burst against `target` (the proxy, or the scheduler's front door) and, for the scheduled modes,
    /// watches the scheduler's request cap while it runs.
    private func burst(
        _ prompts: [RealModelWorkload.Prompt], target: String, scheduler: LaunchedService?, label: String,
        client: HTTPClient
    ) async throws -> (calls: [StreamedCall], scheduler: RealModelReport.SchedulerView?) {
        let progress = ReplayProgress(total: prompts.count, label: label)
        let watcher = scheduler.map { SchedulerWatcher(baseURL: $0.baseURL, client: client) }
        let watching = Task { await watcher?.watch() }
        let start = ContinuousClock.now
        let calls = await withTaskGroup(of: (Int, StreamedCall).self, returning: [StreamedCall].self) { group in
            for prompt in prompts {
                group.addTask {
                    try? await Task.sleep(until: start + .milliseconds(Int64(prompt.arrivalMs)), clock: .continuous)
                    await progress.sent()
                    let call = await StreamedCall.post(
                        target + "/v1/chat/completions", body: request(prompt), samplingSeed: samplingSeedSent,
                        headers: [MaitreHeader.deadlineMs: "3600000", MaitreHeader.tenant: "bench"], client: client,
                        timeoutSeconds: 3600)
                    await progress.finished(ok: call.status == 200)
                    return (prompt.index, call)
                }
            }
            group.addTask {
                while await !progress.isDone {
                    await progress.print(elapsed: (ContinuousClock.now - start).seconds)
                    try? await Task.sleep(for: .seconds(1))
                }
                return (-1, StreamedCall(status: 0, latencyMs: 0, contentChunks: 0))
            }
            var byIndex: [Int: StreamedCall] = [:]
            for await (index, call) in group where index >= 0 { byIndex[index] = call }
            return prompts.map { byIndex[$0.index]! }
        }
        await progress.print(elapsed: (ContinuousClock.now - start).seconds, final: true)
        watching.cancel()
        _ = await watching.value
        return (calls, await watcher?.view)
    }
}

/// Polls the scheduler's `/metrics` while a burst runs: the request cap, whether it comes from the provider's
/// measured knee, and the peak in flight once it does.
actor SchedulerWatcher {
    let baseURL: String
    let client: HTTPClient
    private(set) var view = RealModelReport.SchedulerView()

    init(baseURL: String, client: HTTPClient) {
        self.baseURL = baseURL
        self.client = client
    }

    private struct Metrics: Decodable {
        var state: SchedulerMetricsSnapshot
    }

    func watch() async {
        while !Task.isCancelled {
            await sample()
            try? await Task.sleep(for: .milliseconds(250))
        }
        await sample()
    }

    private func sample() async {
        guard let metrics = try? await client.getJSON(Metrics.self, from: baseURL + "/metrics", timeout: .seconds(10))
        else { return }
        let state = metrics.state
        let inflight = state.inflightRequests ?? 0
        view.peakInflight = max(view.peakInflight, inflight)
        if state.kneeEngaged == true {
            view.kneeEngaged = true
            view.peakInflightEngaged = max(view.peakInflightEngaged ?? 0, inflight)
            if let cap = state.inflightRequestCap {
                view.capRange = [min(view.capRange?.first ?? cap, cap), max(view.capRange?.last ?? cap, cap)]
            }
        }
        view.queueDelayMs = state.queueDelayMs
        view.baselineTtftMs = state.baselineTtftMs
        view.baselineMsPerOutputToken = state.baselineMsPerOutputToken
    }
}
