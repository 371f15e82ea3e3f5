import Foundation

/// The real-model benchmark's figures per mode: time to first token and latency per kind of ask, makespan and
/// completion, with ratios against naive, every call, and the scheduler's request cap as it ran. Written with snake_case
/// keys (`JSONEncoder.KeyEncodingStrategy.convertToSnakeCase`).
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

    struct ModeResult: Sendable, Codable {
        var mode: String
        var short: Figures
        var long: Figures
        var makespanMs: Double
        var scheduler: SchedulerView?
        var calls: [Call]
    }

    var command: String
    var settings: [String: String]
    var seed: Seed?
    var modes: [ModeResult] = []

    mutating func add(
        mode: String, calls: [StreamedCall], prompts: [RealModelWorkload.Prompt], scheduler: SchedulerView?
    ) {
        let measured = zip(prompts, calls).map {
            Call(index: $0.index, kind: $0.kind, arrivalMs: $0.arrivalMs, call: $1)
        }
        let makespan = measured.map { $0.arrivalMs + $0.call.latencyMs }.max() ?? 0
        modes.append(
            ModeResult(
                mode: mode, short: Figures(measured.filter { $0.kind == "short" }),
                long: Figures(measured.filter { $0.kind == "long" }), makespanMs: makespan, scheduler: scheduler,
                calls: measured))
    }

    /// Latencies per kind for the CDF chart.
    var cdfSeries: [(mode: String, byClass: [String: [Double]])] {
        modes.map { mode in
            (
                mode.mode,
                ["short", "long"].reduce(into: [String: [Double]]()) { series, kind in
                    series[kind] = mode.calls.filter { $0.kind == kind && $0.completed }.map(\.call.latencyMs)
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
            "| mode | completed | short TTFT P50 / P95 s | short latency P50 / P95 s | long latency P50 / P95 s | makespan s | request cap |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for mode in modes {
            let cap: String
            if let view = mode.scheduler {
                cap =
                    view.kneeEngaged
                    ? "engaged, \(view.capRange.map { "\($0[0])–\($0[1])" } ?? "?"), peak \(view.peakInflightEngaged ?? 0) in flight"
                    : "not engaged, peak \(view.peakInflight) in flight"
            } else {
                cap = "none"
            }
            lines.append(
                "| \(mode.mode) | \(mode.short.completed + mode.long.completed)/\(mode.short.count + mode.long.count) | "
                    + "\(seconds(mode.short.ttftP50Ms)) / \(seconds(mode.short.ttftP95Ms)) | "
                    + "\(seconds(mode.short.latencyP50Ms))\(ratio(mode.short.latencyP50Ms, naive?.short.latencyP50Ms)) / "
                    + "\(seconds(mode.short.latencyP95Ms))\(ratio(mode.short.latencyP95Ms, naive?.short.latencyP95Ms)) | "
                    + "\(seconds(mode.long.latencyP50Ms)) / \(seconds(mode.long.latencyP95Ms)) | "
                    + "\(seconds(mode.makespanMs))\(ratio(mode.makespanMs, naive?.makespanMs)) | \(cap) |")
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
