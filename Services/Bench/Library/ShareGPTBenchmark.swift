import ArgumentParser
import AsyncHTTPClient
import Contracts
import Foundation
import NIOCore
import PredictorCore
import ServiceRuntime
import TextEngine

/// `maitre-bench sharegpt`: the end-to-end benchmark. Real executables on loopback (simulated upstream replaying the
/// ShareGPT trace with congestion on, predictor, proxy, scheduler), one fixed seeded-Poisson arrival sequence
/// replayed in each mode against a fresh stack: naive (straight through the proxy), scheduler, oracle.
struct ShareGPTBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sharegpt",
        abstract: "End-to-end ShareGPT benchmark: naive vs scheduler vs oracle on a congested simulated provider."
    )

    @Option(help: "Measured requests.") var totalRequests = 200
    @Option(help: "ShareGPT conversations seeded into the predictor's history (disjoint from the measured ones).")
    var seedCount = 300
    @Option(help: "Seed of the ShareGPT shuffle, the class labels and the arrival sequence.") var seed: UInt64 = 0
    @Option(help: "Arrival rate, requests per second of model time (Poisson); default: the rate that offers --load.")
    var rate: Double?
    @Option(
        help:
            "Offered load when --rate is not given: mean reply × rate over the provider's saturated tokens/s (1.10: the simulator's high_congestion regime)."
    )
    var load = 1.10
    @Option(
        help:
            "Modes to run, comma-separated: naive, blind (the scheduler with every request predicted alike), scheduler, oracle."
    )
    var modes = "naive,blind,scheduler,oracle"
    @Option(
        help:
            "Clients: labelled (each sends its use case's class, max_tokens and deadline) or unlabelled (no class, one max_tokens and deadline budget for all, as the simulator's regime)."
    )
    var clients = "labelled"
    @Option(
        help:
            "ShareGPT records to measure, A:B (default: the evaluation pool 10000:13671; prompts also in the training records are left out). The predictor's seed history comes from the training records."
    )
    var records = "10000:13671"
    @Option(help: "JSON results file (every request's timings). The SVG chart goes next to it.") var out =
        "results.json"
    @Option(help: "Wall seconds per model second (0.5 = twice as fast as the modelled provider).")
    var timeScale = 0.5
    @Option(help: "Folder of the maitre executables (default: the folder of this executable).") var binDir: String?
    @Option(help: "Folder for logs, trace and service data (default: a new temporary folder).") var workDir: String?
    @Option(help: "Model name sent upstream.") var model = "gpt-4o-mini"
    @Option(help: "Predictor embedder: auto, minilm or hashed.") var embedder = "auto"
    @Option(help: "Share of requests whose client label is the other class's (see the class rule).") var labelNoise =
        0.05
    @OptionGroup var upstream: UpstreamModelOptions

    /// The congested provider's slope past the knee: the value of {1, 1.5, 2, 3, 4, 6} at which naive dispatch in the
    /// simulator met the deadline share closest to the reference system's naive 50.5% (44.7% at 4), chosen before any
    /// end-to-end run with it; the rule and the calibration table are in docs/benchmarks/sharegpt.md.
    static let congestedAlpha = 4.0

    func run() async throws {
        var rule = DeadlineRule()
        rule.labelNoise = labelNoise
        let provider = upstream.model(defaultAlpha: Self.congestedAlpha)
        let bin = URL(
            fileURLWithPath: binDir
                ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
                .path)
        let work = URL(
            fileURLWithPath: workDir ?? NSTemporaryDirectory() + "maitre-sharegpt-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let wanted = modes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        for mode in wanted where !["naive", "blind", "scheduler", "oracle"].contains(mode) {
            throw ValidationError("unknown mode \(mode) (naive, blind, scheduler, oracle)")
        }
        guard ["labelled", "unlabelled"].contains(clients) else {
            throw ValidationError("--clients is labelled or unlabelled, not \(clients)")
        }
        guard let range = ShareGPTRecords.parse(records) else {
            throw ValidationError("--records expects A:B, got \(records)")
        }

        FileHandle.standardError.write(
            Data("preparing ShareGPT (\(seedCount) seed + \(totalRequests) measured)…\n".utf8))
        let tokenizer = try CL100KTokenizer.loadDefault()
        let workload = try ShareGPTWorkload(
            seedCount: seedCount, total: totalRequests, seed: seed, records: range, rate: rate, load: load, rule: rule,
            model: provider, labelled: clients == "labelled", tokenizer: tokenizer)
        let rate = workload.rate
        let trace = work.appendingPathComponent("trace.jsonl")
        try workload.traceLines().write(to: trace, atomically: true, encoding: .utf8)

        let shortShare =
            Double(workload.measured.filter { $0.outputTokens <= rule.shortMaxOutputTokens }.count)
            / Double(max(totalRequests, 1))
        let interactiveLabels =
            Double(workload.requests.filter { $0.clientClass == .interactive }.count) / Double(max(totalRequests, 1))
        let meanOutput = Double(workload.measured.reduce(0) { $0 + $1.outputTokens }) / Double(max(totalRequests, 1))
        var report = ShareGPTReport(
            command: (["maitre-bench"] + CommandLine.arguments.dropFirst()).joined(separator: " "),
            settings: [
                "total_requests": String(totalRequests), "seed_count": String(seedCount), "seed": String(seed),
                "rate_per_s": String(format: "%.3f", rate), "time_scale": String(timeScale), "model": model,
                "embedder": embedder,
                "offered_load": String(format: "%.2f", rate * meanOutput / provider.saturatedTokensPerSecond),
                "mean_output_tokens": String(format: "%.1f", meanOutput), "clients": clients, "records": records,
            ],
            deadlineRule: rule, ruleText: Self.ruleText(rule, provider: provider, labelled: clients == "labelled"),
            upstream: provider,
            classShares: [
                "short (reference ≤ \(rule.shortMaxOutputTokens))": shortShare, "heavy": 1 - shortShare,
                "labelled interactive": interactiveLabels, "labelled heavy": 1 - interactiveLabels,
            ])
        report.shortNoWaitMs = ShareGPTReport.noWait(
            workload.measured.filter { $0.outputTokens <= rule.shortMaxOutputTokens }.map {
                ($0.promptTokens, $0.outputTokens)
            }, on: provider)
        FileHandle.standardError.write(Data("rule: \(report.ruleText)\n".utf8))

        let http = HTTPClientService(readTimeout: .seconds(3600), maxConnectionsPerHost: 4096)
        do {
            for mode in wanted {
                let stack = ServiceStack(
                    binDirectory: bin, workDirectory: work.appendingPathComponent(mode), client: http.client,
                    provider: provider,
                    timeScale: timeScale, trace: trace, embedder: embedder)
                let requests = try await stack.run(mode: mode, workload: workload, model: model)
                report.add(mode: mode, requests: requests)
            }
        } catch {
            try? await http.client.shutdown()
            throw error
        }
        try await http.client.shutdown()

        print(report.text())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(report).write(to: URL(fileURLWithPath: out))
        let svgPath = (out.hasSuffix(".json") ? String(out.dropLast(5)) : out) + ".svg"
        let series = report.modes.map { mode in
            (
                mode: mode.mode,
                byClass: [
                    "short": mode.requests.filter { $0.referenceOutputTokens <= rule.shortMaxOutputTokens }.compactMap(
                        \.latencyMs),
                    "heavy": mode.requests.filter { $0.referenceOutputTokens > rule.shortMaxOutputTokens }.compactMap(
                        \.latencyMs),
                ]
            )
        }
        try LatencyCDFChart.svg(
            title:
                "Latency CDF, ShareGPT \(totalRequests) requests at \(String(format: "%.2f", rate))/s (seed \(seed))",
            series: series
        )
        .write(toFile: svgPath, atomically: true, encoding: .utf8)
        print("wrote \(out) and \(svgPath); logs in \(work.path)")
    }

    static func ruleText(_ rule: DeadlineRule, provider: KneeLatencyModel, labelled: Bool = true) -> String {
        let deadline =
            "deadline = arrival + \(rule.slack) × (ttft(prompt) + (max_tokens − 1) × \(provider.tpotMs) ms), the "
            + "provider's uncongested time for max_tokens — about "
        guard labelled else {
            return "no class (one use case for every client); max_tokens = \(rule.heavyMaxTokens); " + deadline
                + String(format: "%.1f s", rule.budgetMs(clientClass: .heavy, promptTokens: 0, model: provider) / 1000)
                + "; never the true length"
        }
        return
            "class = the client's use case (ShareGPT stand-in: reference reply ≤ \(rule.shortMaxOutputTokens) tokens → interactive, "
            + "else heavy; \(Int(rule.labelNoise * 100))% of labels flipped); max_tokens = \(rule.interactiveMaxTokens) interactive / "
            + "\(rule.heavyMaxTokens) heavy; " + deadline
            + String(
                format: "%.1f s interactive, %.1f s heavy",
                rule.budgetMs(clientClass: .interactive, promptTokens: 0, model: provider) / 1000,
                rule.budgetMs(clientClass: .heavy, promptTokens: 0, model: provider) / 1000)
            + "; never the true length"
    }
}
