import Contracts
import Foundation
import SchedulerCore

/// The simulator's results and their markdown rendering (`docs/benchmarks/simulator.md`).
public struct SimulatorReport: Sendable, Codable {
    public var config: SimulatorConfig
    /// The scheduler policy the scheduled variants started from (the defaults with `config.policyOverrides`).
    public var policy: SchedulerConfigDocument
    public var historyMedians: [String: Int]
    public var policies: [SweepCell] = []
    public var information: [SweepCell] = []
    public var noise: [SweepCell] = []
    public var wallSeconds = 0.0
    public var simulatedRequests = 0

    public init(config: SimulatorConfig, policy: SchedulerPolicy, historyMedians: [String: Int]) {
        self.config = config
        self.policy = policy.document
        self.historyMedians = historyMedians
    }

    enum CodingKeys: String, CodingKey {
        case config, policy, policies, information, noise
        case historyMedians = "history_medians"
        case wallSeconds = "wall_seconds"
        case simulatedRequests = "simulated_requests"
    }

    public func markdown() -> String {
        var lines: [String] = []
        lines.append("# Policy simulator")
        lines.append("")
        lines.append(
            "Virtual-time simulation of a congested provider driving the unchanged `SchedulerCore` engine. "
                + "\(config.requests) requests per run, \(config.seeds) seeds per cell (mean ± std; workloads are paired: "
                + "every variant of a regime sees the same requests and arrivals for a given seed). "
                + String(
                    format: "%d simulated requests in %.1f s of wall time (%.0f requests/s).", simulatedRequests,
                    wallSeconds,
                    Double(simulatedRequests) / max(wallSeconds, 1e-9)))
        lines.append("")
        lines += section(
            "Allocation policies", policies,
            note: "Information: predicted magnitude at \(percent(config.predictedError)) multiplicative error.")
        lines += section(
            "Information ladder (full stack)", information,
            note: "Short P95 × is the rung's short P95 over the oracle's.", ratioToVariant: "oracle")
        lines += section(
            "Predictor noise (full stack, predicted magnitude)", noise, note: "Δ deadline is against 0% error.",
            deltaAgainst: "0%")
        lines.append("## Configuration")
        lines.append("")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let configJSON = (try? encoder.encode(config)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
        let policyJSON = (try? encoder.encode(policy)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
        lines.append(
            "Simulator (`heavy_share` −1 means ShareGPT's own mix; history medians \(historyMedians.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) tokens):"
        )
        lines.append("")
        lines.append("```json\n\(configJSON)\n```")
        lines.append("")
        let origin =
            config.policyOverrides.isEmpty
            ? "defaults of `SchedulerPolicy`"
            : "defaults of `SchedulerPolicy` with "
                + config.policyOverrides.sorted { $0.key < $1.key }.map { "`\($0.key)` = \($0.value)" }.joined(
                    separator: ", ")
        lines.append(
            "Scheduler policy (\(origin); the policy sweep changes only `allocation_policy`, and `ordering_policy` to `fifo` for the FIFO row):"
        )
        lines.append("")
        lines.append("```json\n\(policyJSON)\n```")
        lines.append("")
        return lines.joined(separator: "\n")
    }

    private func section(
        _ title: String, _ cells: [SweepCell], note: String, ratioToVariant: String? = nil, deltaAgainst: String? = nil
    ) -> [String] {
        guard !cells.isEmpty else { return [] }
        var lines = ["## \(title)", "", note, ""]
        for regime in config.regimes {
            let rows = cells.filter { $0.regime == regime.name }
            guard let first = rows.first else { continue }
            lines.append(
                String(format: "### %@ (%.2f requests/s, load %.2f)", regime.name, first.ratePerSecond, regime.load))
            lines.append("")
            var header =
                "| variant | completion % | deadline % | goodput req/s | short P90 s | short P95 s | heavy avg s | long overhead vs FIFO |"
            var rule = "| --- | --- | --- | --- | --- | --- | --- | --- |"
            if ratioToVariant != nil { header += " short P95 × |"; rule += " --- |" }
            if deltaAgainst != nil { header += " Δ deadline pts |"; rule += " --- |" }
            lines += [header, rule]
            let reference = rows.first { $0.variant == ratioToVariant }
            let baseline = rows.first { $0.variant == deltaAgainst }
            for cell in rows {
                var row =
                    "| \(cell.variant) | "
                    + [
                        stat(cell.runs.map { $0.completionRate * 100 }, digits: 1),
                        stat(cell.runs.map { $0.deadlineSatisfaction * 100 }, digits: 1),
                        stat(cell.runs.map(\.goodputPerSecond), digits: 3),
                        stat(cell.runs.map { $0.shortP90Ms / 1000 }, digits: 2),
                        stat(cell.runs.map { $0.shortP95Ms / 1000 }, digits: 2),
                        stat(cell.runs.map { $0.heavyAverageMs / 1000 }, digits: 1),
                        stat(cell.longOverheadVsFIFO.map { $0 * 100 }, digits: 0, suffix: "%", signed: true),
                    ].joined(separator: " | ") + " |"
                if let reference {
                    row +=
                        " "
                        + stat(
                            zip(cell.runs, reference.runs).map { $0.shortP95Ms / max($1.shortP95Ms, 1e-9) }, digits: 2)
                        + " |"
                }
                if let baseline {
                    row +=
                        " "
                        + stat(
                            zip(cell.runs, baseline.runs).map {
                                ($0.deadlineSatisfaction - $1.deadlineSatisfaction) * 100
                            }, digits: 1, signed: true) + " |"
                }
                lines.append(row)
            }
            lines.append("")
        }
        return lines
    }

    private func stat(_ values: [Double], digits: Int, suffix: String = "", signed: Bool = false) -> String {
        let format = "%\(signed ? "+" : "").\(digits)f"
        return String(format: format, Statistics.mean(values)) + suffix + " ± "
            + String(format: "%.\(digits)f", Statistics.standardDeviation(values)) + suffix
    }

    private func percent(_ value: Double) -> String { "\(Int((value * 100).rounded()))%" }
}
