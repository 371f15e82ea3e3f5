import ArgumentParser
import Contracts
import Foundation
import PredictorCore
import SchedulerCore
import TextEngine

/// `maitre-bench simulate`: the policy simulator. Virtual time, ShareGPT lengths, the unchanged scheduler core; sweeps
/// of allocation policies, the information ladder and predictor noise over four regimes and several seeds.
struct SimulateBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Virtual-time policy simulator: the real scheduler core against a simulated congested provider."
    )

    @Option(help: "Requests per run.") var requests = 1000
    @Option(help: "Seeds per cell (mean ± std over them).") var seeds = 5
    @Option(help: "Sweeps to run, comma-separated: policies, information, noise.") var sweeps =
        "policies,information,noise"
    @Option(help: "Regimes to run, comma-separated (balanced, high_congestion, heavy_dominated, unlabelled).")
    var regimes = "balanced,high_congestion,heavy_dominated,unlabelled"
    @Option(
        help:
            "Offered load for every selected regime instead of its own (e.g. 1.5, the end-to-end benchmark's); the regime's name gets '@load'."
    )
    var load: Double?
    @Option(help: "Multiplicative prediction error of the 'predicted' rung (log-normal σ = ln(1 + error)).")
    var predictedError = 0.5
    @Option(help: "Prediction errors of the noise sweep, comma-separated.") var noiseLevels = "0,0.2,0.4,0.6,0.8"
    @Option(
        help:
            "Extra rungs of the information sweep: the true size × log-normal noise of these σ (comma-separated, e.g. 0.5,1), each with its calibrated p_short."
    )
    var replayNoise = ""
    @Option(help: "ShareGPT conversations in the seed history (medians for the lower rungs); disjoint from the pool.")
    var historyCount = 1000
    @Option(help: "ShareGPT conversations workloads are drawn from.") var poolCount = 4000
    @Option(help: "Seed of the ShareGPT shuffle.") var dataSeed: UInt64 = 0
    @Option(
        help:
            "Draw workloads from this `maitre-predictor evaluate --dump` file instead of the ShareGPT pool, and add the information rung 'replayed': each request predicted as the real predictor predicted it in strict replay."
    )
    var replay: String?
    @Option(help: "Markdown report path.") var out = "docs/benchmarks/simulator.md"
    @Option(help: "Also write every cell's figures as JSON here.") var json: String?
    @Option(
        name: .customLong("set"),
        help:
            "A scheduler policy knob for every scheduled variant, key=value by its configuration name (repeatable), e.g. --set heavy_feasible_size_weight=0.5."
    )
    var policySettings: [String] = []
    @OptionGroup var upstream: UpstreamModelOptions

    func run() async throws {
        let started = ContinuousClock.now
        let tokenizer = try CL100KTokenizer.loadDefault()
        let samples = try ShareGPTDataset.samples(count: historyCount + poolCount, seed: dataSeed, tokenizer: tokenizer)
        let history = samples.prefix(historyCount).map(\.lengths)
        var pool = samples.dropFirst(historyCount).map(\.lengths)
        print(
            "ShareGPT: \(history.count) history + \(pool.count) pool conversations (\(ContinuousClock.now - started))")
        if let replay {
            pool = try Self.replayedPool(replay)
            print("pool: \(pool.count) conversations with their replayed predictions from \(replay)")
        }

        var config = SimulatorConfig(
            model: upstream.model(defaultAlpha: 1), rule: DeadlineRule(), requests: requests, seeds: seeds,
            regimes: Regime.standard.filter { regimes.split(separator: ",").map(String.init).contains($0.name) }.map {
                regime in
                guard let load else { return regime }
                var loaded = regime
                loaded.load = load
                loaded.name = "\(regime.name)@\(load)"
                return loaded
            },
            predictedError: predictedError,
            noiseLevels: noiseLevels.split(separator: ",").compactMap { Double($0) })
        config.replayNoise = try replayNoise.split(separator: ",").map { text in
            guard let sigma = Double(text.trimmingCharacters(in: .whitespaces)), sigma >= 0 else {
                throw ValidationError("--replay-noise takes σ values ≥ 0, got '\(text)'")
            }
            return sigma
        }
        config.replaySource = replay.map { URL(fileURLWithPath: $0).lastPathComponent }
        for setting in policySettings {
            let parts = setting.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2, parts[0] == "ordering_policy" {
                config.orderingPolicy = parts[1]
                continue
            }
            guard parts.count == 2, let value = Double(parts[1]) else {
                throw ValidationError("--set takes key=number, got '\(setting)'")
            }
            config.policyOverrides[parts[0]] = value
        }
        var runner: SimulatorSweeps
        do {
            runner = try SimulatorSweeps(config: config, pool: pool, history: history)
        } catch {
            throw ValidationError("--set: \(error)")
        }
        let wanted = Set(sweeps.split(separator: ",").map(String.init))
        var report = SimulatorReport(config: config, policy: runner.base, historyMedians: runner.medians)
        if wanted.contains("policies") { report.policies = runner.policySweep() }
        if wanted.contains("information") { report.information = runner.informationSweep() }
        if wanted.contains("noise") { report.noise = runner.noiseSweep() }
        report.wallSeconds = (ContinuousClock.now - started).seconds
        report.simulatedRequests = runner.simulatedRequests
        let markdown = report.markdown()
        print(markdown)
        try FileManager.default.createDirectory(
            at: URL(fileURLWithPath: out).deletingLastPathComponent(), withIntermediateDirectories: true)
        try markdown.write(toFile: out, atomically: true, encoding: .utf8)
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: json))
        }
        print("wrote \(out)")
    }

    /// The lines of an `evaluate --dump` file (`ReplayEvaluator.ReplayedPrediction`), as samples carrying their
    /// replayed prediction.
    static func replayedPool(_ path: String) throws -> [LengthSample] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let decoder = JSONDecoder()
        let pool = try text.split(separator: "\n").enumerated().map { index, line in
            do {
                let replayed = try decoder.decode(ReplayEvaluator.ReplayedPrediction.self, from: Data(line.utf8))
                return LengthSample(
                    promptTokens: replayed.promptTokens, outputTokens: replayed.outputTokens, replayedP50: replayed.p50,
                    replayedP90: replayed.p90, replayedPShort: replayed.pShort)
            } catch {
                throw ValidationError("\(path) line \(index + 1): not a replayed prediction (\(error))")
            }
        }
        guard !pool.isEmpty else { throw ValidationError("\(path): no replayed predictions") }
        return pool
    }
}

/// The simulated provider's latency model on the command line (shared by `simulate` and `sharegpt`).
struct UpstreamModelOptions: ParsableArguments {
    @Option(name: .customLong("upstream-base-ttft-ms"), help: "Time to first token before prefill.")
    var baseTTFTMs = 300.0
    @Option(name: .customLong("upstream-prefill-ms-per-token"), help: "Prefill time per prompt token.")
    var prefillMsPerToken = 0.2
    @Option(name: .customLong("upstream-tpot-ms"), help: "Time per output token at or below the knee.")
    var tpotMs = 20.0
    @Option(name: .customLong("upstream-knee"), help: "Concurrent requests the provider serves at full speed.")
    var knee = 16
    @Option(
        name: .customLong("upstream-alpha"),
        help:
            "Slowdown per knee-width of concurrency past the knee (default: simulate 1, sharegpt 4; see docs/benchmarks/sharegpt.md)."
    )
    var alpha: Double?
    @Option(name: .customLong("upstream-concurrency-cap"), help: "Requests served at once; more queue at the provider.")
    var concurrencyCap = 64
    @Option(
        name: .customLong("upstream-slots"),
        help:
            "A queueing provider instead: this many requests served at full speed, the rest waiting in its FIFO queue (as llama.cpp's slots or vLLM's waiting queue); overrides knee, alpha and the concurrency cap."
    )
    var slots: Int?

    /// The provider model, with `defaultAlpha` when `--upstream-alpha` is not given (each command has its own).
    func model(defaultAlpha: Double) -> KneeLatencyModel {
        if let slots {
            return KneeLatencyModel(
                baseTTFTMs: baseTTFTMs, prefillMsPerToken: prefillMsPerToken, tpotMs: tpotMs, knee: slots, alpha: 0,
                concurrencyCap: slots)
        }
        return KneeLatencyModel(
            baseTTFTMs: baseTTFTMs, prefillMsPerToken: prefillMsPerToken, tpotMs: tpotMs, knee: knee,
            alpha: alpha ?? defaultAlpha, concurrencyCap: concurrencyCap)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
