import Foundation

/// One measured run of `/submit` load: what the load generator saw and where the CPU went.
struct SubmitRun {
    var result: WrkResult
    var cpu: CPUAccount
}

/// The runs of one replica count, and the table that compares the counts.
struct SubmitCell {
    var replicas: Int
    var runs: [SubmitRun] = []

    var medianRate: Double { SchedulerBenchmark.median(runs.map(\.result.rate)) }

    /// Every run's latencies together.
    var latencies: LoadLatencyHistogram {
        var all = LoadLatencyHistogram()
        for run in runs { all.merge(run.result.latencies) }
        return all
    }

    /// Median rate over the one-replica cell's, nil without a one-replica cell.
    func ratio(to cells: [SubmitCell]) -> Double? {
        guard let single = cells.first(where: { $0.replicas == 1 }), single.medianRate > 0 else { return nil }
        return medianRate / single.medianRate
    }

    /// One line per replica count: median req/s (every run's), p50 and p99 of all runs' latencies, the ratio to one
    /// replica, and the CPU account (mean of the runs).
    static func table(_ cells: [SubmitCell]) -> [String] {
        var lines = ["replicas  req/s (median)  runs                        p50 ms   p99 ms  vs 1 replica  CPU, cores"]
        for cell in cells {
            let runs = cell.runs.map { String(format: "%.0f", $0.result.rate) }.joined(separator: ", ")
            let ratio = cell.ratio(to: cells).map { String(format: "%.2fx", $0) } ?? "-"
            lines.append(
                [
                    String(format: "%8d", cell.replicas),
                    String(format: "%15.0f", cell.medianRate),
                    " " + runs.padding(toLength: max(26, runs.count), withPad: " ", startingAt: 0),
                    String(format: "%7.2f", cell.latencies.quantile(0.5) * 1000),
                    String(format: "%8.2f", cell.latencies.quantile(0.99) * 1000),
                    ratio.leftPadded(to: 13),
                    " " + CPUAccount.mean(cell.runs.map(\.cpu)).summary,
                ].joined(separator: " "))
        }
        return lines
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
