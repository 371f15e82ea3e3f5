import Contracts

/// Cumulative latency histograms by name (queue wait and total latency per class), for `/metrics` JSON.
struct LatencyHistograms: Sendable {
    static let boundsMs: [Double] = [50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 120_000, 300_000]
    private var counts: [String: [Int]] = [:]
    private var totals: [String: (count: Int, sum: Double)] = [:]

    mutating func record(_ name: String, ms: Double) {
        var bucketCounts = counts[name] ?? Array(repeating: 0, count: Self.boundsMs.count)
        if let index = Self.boundsMs.firstIndex(where: { ms <= $0 }) { bucketCounts[index] += 1 }
        counts[name] = bucketCounts
        let total = totals[name] ?? (0, 0)
        totals[name] = (total.count + 1, total.sum + ms)
    }

    var snapshot: [String: LatencyHistogram] {
        var result: [String: LatencyHistogram] = [:]
        for (name, bucketCounts) in counts {
            var running = 0
            let cumulative = bucketCounts.map { count -> Int in
                running += count
                return running
            }
            let total = totals[name] ?? (0, 0)
            result[name] = LatencyHistogram(
                upperBoundsMs: Self.boundsMs, cumulativeCounts: cumulative, count: total.count, sumMs: total.sum)
        }
        return result
    }
}
