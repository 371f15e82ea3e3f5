import Foundation

/// One measured run of `/submit` load: what the load generator saw and where the CPU went.
struct SubmitRun {
    var result: WrkResult
    var cpu: CPUAccount
}

/// The runs of one replica count at one number of connections, and the table that compares the counts.
struct SubmitCell {
    var replicas: Int
    var connections: Int
    var runs: [SubmitRun] = []

    var medianRate: Double { SchedulerBenchmark.median(runs.map(\.result.rate)) }

    /// Every run's latencies together.
    var latencies: LoadLatencyHistogram {
        var all = LoadLatencyHistogram()
        for run in runs { all.merge(run.result.latencies) }
        return all
    }

    /// Median rate over the one-replica cell's at the same connections, nil without one.
    func ratio(to cells: [SubmitCell]) -> Double? {
        guard let single = cells.first(where: { $0.replicas == 1 && $0.connections == connections }),
            single.medianRate > 0
        else { return nil }
        return medianRate / single.medianRate
    }

    /// The cell with the highest median rate of each replica count (its capacity among the connections measured),
    /// by replica count.
    static func peaks(_ cells: [SubmitCell]) -> [SubmitCell] {
        Dictionary(grouping: cells, by: \.replicas).values
            .compactMap { $0.max { $0.medianRate < $1.medianRate } }
            .sorted { $0.replicas < $1.replicas }
    }

    /// One line per replica count and connections: median req/s (every run's), p50 and p99 of all runs' latencies,
    /// the ratio to one replica at the same connections, and the CPU account (mean of the runs); then, when several
    /// connection counts were measured, each replica count's highest rate and its ratio to one replica's.
    static func table(_ cells: [SubmitCell]) -> [String] {
        var lines = [
            "replicas  conns  req/s (median)  runs                        p50 ms   p99 ms  vs 1 replica  CPU, cores"
        ]
        for cell in cells {
            let runs = cell.runs.map { String(format: "%.0f", $0.result.rate) }.joined(separator: ", ")
            let ratio = cell.ratio(to: cells).map { String(format: "%.2fx", $0) } ?? "-"
            lines.append(
                [
                    String(format: "%8d", cell.replicas),
                    String(format: "%6d", cell.connections),
                    String(format: "%15.0f", cell.medianRate),
                    " " + runs.padding(toLength: max(26, runs.count), withPad: " ", startingAt: 0),
                    String(format: "%7.2f", cell.latencies.quantile(0.5) * 1000),
                    String(format: "%8.2f", cell.latencies.quantile(0.99) * 1000),
                    ratio.leftPadded(to: 13),
                    " " + CPUAccount.mean(cell.runs.map(\.cpu)).summary,
                ].joined(separator: " "))
        }
        guard Set(cells.map(\.connections)).count > 1 else { return lines }
        let peaks = peaks(cells)
        let single = peaks.first { $0.replicas == 1 }
        for peak in peaks {
            let ratio = single.map { String(format: ", %.2fx one replica's highest", peak.medianRate / $0.medianRate) }
            lines.append(
                String(
                    format: "highest, %d replica(s): %.0f req/s at %d connections", peak.replicas,
                    peak.medianRate, peak.connections) + (ratio ?? ""))
        }
        return lines
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
