import Foundation

/// Per-mode figures of the end-to-end benchmark, with Δ% against naive, every request's timings, and the text report.
struct ShareGPTReport: Sendable, Codable {
    struct ModeResult: Sendable, Codable {
        var mode: String
        var metrics: RunMetrics
        var deltaVsNaivePercent: [String: Double]
        var requests: [ReplayedRequest]

        enum CodingKeys: String, CodingKey {
            case mode, metrics, requests
            case deltaVsNaivePercent = "delta_vs_naive_percent"
        }
    }

    var command: String
    var settings: [String: String]
    var deadlineRule: DeadlineRule
    var ruleText: String
    var upstream: KneeLatencyModel
    var classShares: [String: Double]
    /// Short-request latency percentiles ("p50", "p90", "p95") if every short request started the moment it arrived,
    /// at the provider's uncongested speed: no schedule goes below them, so a ratio between two modes can approach
    /// these and no further.
    var shortNoWaitMs: [String: Double] = [:]
    var modes: [ModeResult] = []

    enum CodingKeys: String, CodingKey {
        case command, settings, upstream, modes
        case deadlineRule = "deadline_rule"
        case ruleText = "rule"
        case classShares = "class_shares"
        case shortNoWaitMs = "short_no_wait_ms"
    }

    /// `shortNoWaitMs` for short requests of these (prompt tokens, reply tokens) on `provider`.
    static func noWait(_ shorts: [(Int, Int)], on provider: KneeLatencyModel) -> [String: Double] {
        let durations = shorts.map { provider.nominalDurationMs(promptTokens: $0.0, outputTokens: $0.1) }
        return [
            "p50": Statistics.percentile(durations, 0.50), "p90": Statistics.percentile(durations, 0.90),
            "p95": Statistics.percentile(durations, 0.95),
        ]
    }

    static func metrics(_ requests: [ReplayedRequest], rule: DeadlineRule) -> RunMetrics {
        RunMetrics(
            requests.map {
                ($0.arrivalMs, $0.completed ? $0.finishedMs : nil, $0.deadlineMs, $0.referenceOutputTokens)
            },
            shortMaxOutputTokens: rule.shortMaxOutputTokens)
    }

    mutating func add(mode: String, requests: [ReplayedRequest]) {
        let metrics = Self.metrics(requests, rule: deadlineRule)
        var delta: [String: Double] = [:]
        if let naive = modes.first(where: { $0.mode == "naive" })?.metrics {
            func change(_ value: Double, _ base: Double) -> Double { base != 0 ? (value / base - 1) * 100 : 0 }
            delta = [
                "short_avg": change(metrics.shortAverageMs, naive.shortAverageMs),
                "short_p50": change(metrics.shortP50Ms, naive.shortP50Ms),
                "short_p90": change(metrics.shortP90Ms, naive.shortP90Ms),
                "short_p95": change(metrics.shortP95Ms, naive.shortP95Ms),
                "deadline_satisfaction_points": (metrics.deadlineSatisfaction - naive.deadlineSatisfaction) * 100,
                "completion_rate_points": (metrics.completionRate - naive.completionRate) * 100,
                "makespan": change(metrics.makespanMs, naive.makespanMs),
                "heavy_p95": change(metrics.heavyP95Ms, naive.heavyP95Ms),
                "global_p95": change(metrics.globalP95Ms, naive.globalP95Ms),
                "goodput": change(metrics.goodputPerSecond, naive.goodputPerSecond),
            ]
        }
        modes.append(ModeResult(mode: mode, metrics: metrics, deltaVsNaivePercent: delta, requests: requests))
    }

    /// The printed report: settings, rule, class shares, one table of the modes with Δ% against naive.
    func text() -> String {
        var lines: [String] = []
        lines.append("$ \(command)")
        lines.append("")
        lines.append(
            "settings: " + settings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        lines.append("rule: \(ruleText)")
        lines.append(
            "class shares: "
                + classShares.sorted { $0.key < $1.key }.map { String(format: "%@ %.1f%%", $0.key, $0.value * 100) }
                .joined(separator: ", "))
        lines.append("")
        let naive = modes.first { $0.mode == "naive" }
        let header = ["metric"] + modes.map(\.mode)
        var rows: [[String]] = []
        func row(
            _ name: String, _ value: (RunMetrics) -> Double, _ format: String, delta key: String?, points: Bool = false
        ) {
            var cells = [name]
            for mode in modes {
                var cell = String(format: format, value(mode.metrics))
                if naive != nil, mode.mode != "naive", let key, let change = mode.deltaVsNaivePercent[key] {
                    cell += String(format: points ? " (%+.1f pts)" : " (%+.1f%%)", change)
                }
                cells.append(cell)
            }
            rows.append(cells)
        }
        row("short avg ms", \.shortAverageMs, "%.0f", delta: "short_avg")
        row("short P50 ms", \.shortP50Ms, "%.0f", delta: "short_p50")
        row("short P90 ms", \.shortP90Ms, "%.0f", delta: "short_p90")
        row("short P95 ms", \.shortP95Ms, "%.0f", delta: "short_p95")
        row(
            "deadline satisfaction %", { $0.deadlineSatisfaction * 100 }, "%.1f", delta: "deadline_satisfaction_points",
            points: true)
        row("completion %", { $0.completionRate * 100 }, "%.1f", delta: "completion_rate_points", points: true)
        row("makespan s", { $0.makespanMs / 1000 }, "%.1f", delta: "makespan")
        row("heavy P95 ms", \.heavyP95Ms, "%.0f", delta: "heavy_p95")
        row("global P95 ms", \.globalP95Ms, "%.0f", delta: "global_p95")
        row("goodput req/s", \.goodputPerSecond, "%.3f", delta: "goodput")
        let widths = header.indices.map { column in max(header[column].count, rows.map { $0[column].count }.max() ?? 0)
        }
        func format(_ cells: [String]) -> String {
            "| "
                + cells.enumerated().map {
                    $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0)
                }.joined(separator: " | ") + " |"
        }
        lines.append(format(header))
        lines.append("|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|")
        lines += rows.map(format)
        lines.append("")
        if let p50 = shortNoWaitMs["p50"], let p90 = shortNoWaitMs["p90"], let p95 = shortNoWaitMs["p95"] {
            lines.append(
                String(
                    format: "No wait at all (each short request started on arrival, uncongested): short P50 %.0f, "
                        + "P90 %.0f, P95 %.0f ms; no mode goes below.", p50, p90, p95))
        }
        lines.append(
            "Times are model milliseconds (wall time ÷ time scale). Short/heavy: reference reply ≤ / > \(deadlineRule.shortMaxOutputTokens) tokens."
        )
        return lines.joined(separator: "\n")
    }
}
