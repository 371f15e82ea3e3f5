import Foundation

/// The real-model benchmark's figures per mode: time to first token and latency per kind of ask (over every round),
/// makespan (mean over rounds) and completion, with ratios against naive; and per round, every call, the server's
/// time per streamed chunk and the scheduler's request cap as it ran. Written with snake_case keys
/// (`JSONEncoder.KeyEncodingStrategy.convertToSnakeCase`).
struct RealModelReport: Sendable, Codable {
    /// What the seed set taught the predictor.
    struct Seed: Sendable, Codable {
        var sent: Int
        var answered: Int
        var stored: Int
        var meanShortTokens: Double
        var meanLongTokens: Double
    }

    /// The scheduler's request cap while the burst ran.
    struct SchedulerView: Sendable, Codable {
        var kneeEngaged = false
        var capRange: [Int]?
        var peakInflight = 0
        var peakInflightEngaged: Int?
        var queueDelayMs: Double?
        var baselineTtftMs: Double?
        var baselineMsPerOutputToken: Double?
    }

    /// One measured call with its prompt's kind and arrival.
    struct Call: Sendable, Codable {
        var index: Int
        var kind: String
        var arrivalMs: Double
        var call: StreamedCall

        var completed: Bool { call.status == 200 && call.error == nil && call.contentChunks > 0 }
    }

    /// Figures of one kind of ask (or all), in ms.
    struct Figures: Sendable, Codable {
        var count: Int
        var completed: Int
        var ttftP50Ms: Double
        var ttftP95Ms: Double
        var latencyP50Ms: Double
        var latencyP95Ms: Double
        var meanTokens: Double

        init(_ calls: [Call]) {
            let done = calls.filter(\.completed)
            count = calls.count
            completed = done.count
            ttftP50Ms = Statistics.percentile(done.compactMap(\.call.ttftMs), 0.5)
            ttftP95Ms = Statistics.percentile(done.compactMap(\.call.ttftMs), 0.95)
            latencyP50Ms = Statistics.percentile(done.map(\.call.latencyMs), 0.5)
            latencyP95Ms = Statistics.percentile(done.map(\.call.latencyMs), 0.95)
            let tokens = done.map { Double($0.call.completionTokens ?? $0.call.contentChunks) }
            meanTokens = tokens.isEmpty ? 0 : tokens.reduce(0, +) / Double(tokens.count)
        }
    }

    /// One mode's burst in one round.
    struct Run: Sendable, Codable {
        var mode: String
        var round: Int
        var makespanMs: Double
        /// Median over completed calls of (latency − time to first token) / (content chunks − 1): how fast the server
        /// decoded during this run.
        var msPerChunkP50: Double
        var scheduler: SchedulerView?
        var calls: [Call]
    }

    /// A mode over every round.
    struct ModeResult: Sendable, Codable {
        var mode: String
        var short: Figures
        var long: Figures
        /// Mean over rounds.
        var makespanMs: Double
        var rounds: [Run]
    }

    var command: String
    var settings: [String: String]
    var seed: Seed?
    var modes: [ModeResult] = []

    mutating func add(
        mode: String, round: Int, calls: [StreamedCall], prompts: [RealModelWorkload.Prompt], scheduler: SchedulerView?
    ) {
        let measured = zip(prompts, calls).map {
            Call(index: $0.index, kind: $0.kind, arrivalMs: $0.arrivalMs, call: $1)
        }
        let perChunk = measured.filter(\.completed).compactMap { call -> Double? in
            guard let ttft = call.call.ttftMs, call.call.contentChunks > 1 else { return nil }
            return (call.call.latencyMs - ttft) / Double(call.call.contentChunks - 1)
        }
        let run = Run(
            mode: mode, round: round, makespanMs: measured.map { $0.arrivalMs + $0.call.latencyMs }.max() ?? 0,
            msPerChunkP50: Statistics.percentile(perChunk, 0.5), scheduler: scheduler, calls: measured)
        let runs = (modes.first { $0.mode == mode }?.rounds ?? []) + [run]
        let all = runs.flatMap(\.calls)
        let result = ModeResult(
            mode: mode, short: Figures(all.filter { $0.kind == "short" }),
            long: Figures(all.filter { $0.kind == "long" }),
            makespanMs: runs.map(\.makespanMs).reduce(0, +) / Double(runs.count), rounds: runs)
        if let index = modes.firstIndex(where: { $0.mode == mode }) {
            modes[index] = result
        } else {
            modes.append(result)
        }
    }

    /// Latencies per kind for the CDF chart.
    var cdfSeries: [(mode: String, byClass: [String: [Double]])] {
        modes.map { mode in
            (
                mode.mode,
                ["short", "long"].reduce(into: [String: [Double]]()) { series, kind in
                    series[kind] = mode.rounds.flatMap(\.calls).filter { $0.kind == kind && $0.completed }.map(
                        \.call.latencyMs)
                }
            )
        }
    }

    func text() -> String {
        var lines = ["# Real model server", "", "`\(command)`", ""]
        lines += settings.sorted { $0.key < $1.key }.map { "- \($0.key): \($0.value)" }
        if let seed {
            lines.append(
                "- seed: \(seed.answered)/\(seed.sent) answered, \(seed.stored) outcome reports stored; mean reply "
                    + String(
                        format: "%.0f tokens to short asks, %.0f to long ones", seed.meanShortTokens,
                        seed.meanLongTokens))
        }
        let naive = modes.first { $0.mode == "naive" }
        func seconds(_ ms: Double) -> String { String(format: "%.1f", ms / 1000) }
        func ratio(_ value: Double, _ base: Double?) -> String {
            guard let base, base > 0 else { return "" }
            return String(format: " (%.2f×)", value / base)
        }
        lines += [
            "",
            "| mode | completed | short TTFT P50 / P95 s | short latency P50 / P95 s | long latency P50 / P95 s | makespan s (mean) | makespan by round s | ms per chunk by round | request cap |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for mode in modes {
            let views = mode.rounds.compactMap(\.scheduler)
            let cap: String
            if views.isEmpty {
                cap = "none"
            } else if views.allSatisfy(\.kneeEngaged) {
                let low = views.compactMap { $0.capRange?.first }.min()
                let high = views.compactMap { $0.capRange?.last }.max()
                let peak = views.compactMap(\.peakInflightEngaged).max() ?? 0
                cap = "engaged, \(low.map(String.init) ?? "?")–\(high.map(String.init) ?? "?"), peak \(peak) in flight"
            } else {
                cap =
                    "engaged in \(views.filter(\.kneeEngaged).count) of \(views.count) rounds, peak "
                    + "\(views.map(\.peakInflight).max() ?? 0) in flight"
            }
            let completed = mode.short.completed + mode.long.completed
            lines.append(
                "| \(mode.mode) | \(completed)/\(mode.short.count + mode.long.count) | "
                    + "\(seconds(mode.short.ttftP50Ms)) / \(seconds(mode.short.ttftP95Ms)) | "
                    + "\(seconds(mode.short.latencyP50Ms))\(ratio(mode.short.latencyP50Ms, naive?.short.latencyP50Ms)) / "
                    + "\(seconds(mode.short.latencyP95Ms))\(ratio(mode.short.latencyP95Ms, naive?.short.latencyP95Ms)) | "
                    + "\(seconds(mode.long.latencyP50Ms)) / \(seconds(mode.long.latencyP95Ms)) | "
                    + "\(seconds(mode.makespanMs))\(ratio(mode.makespanMs, naive?.makespanMs)) | "
                    + mode.rounds.map { seconds($0.makespanMs) }.joined(separator: ", ") + " | "
                    + mode.rounds.map { String(format: "%.0f", $0.msPerChunkP50) }.joined(separator: ", ")
                    + " | \(cap) |")
        }
        lines.append("")
        lines.append(
            "Mean reply: "
                + modes.map {
                    String(format: "%@ %.0f short / %.0f long tokens", $0.mode, $0.short.meanTokens, $0.long.meanTokens)
                }
                .joined(separator: "; "))
        return lines.joined(separator: "\n")
    }
}
