import Foundation

/// A predicted output-length distribution: log1p tokens at fixed quantile levels, and the calibrated probability
/// that the reply is short (at most the short threshold).
public struct LengthDistribution: Sendable, Equatable {
    /// The quantile levels of `logQuantiles`: p10, p50, p90, p99.
    public static let levels = [0.1, 0.5, 0.9, 0.99]

    /// log1p(tokens) at `levels`, non-decreasing.
    public var logQuantiles: [Double]
    public var pShort: Double

    public init(logQuantiles: [Double], pShort: Double) {
        precondition(logQuantiles.count == Self.levels.count, "one value per level")
        var sorted = logQuantiles
        for index in sorted.indices.dropFirst() { sorted[index] = max(sorted[index], sorted[index - 1]) }
        self.logQuantiles = sorted
        self.pShort = min(max(pShort, 0), 1)
    }

    public var logP10: Double { logQuantiles[0] }
    public var logP50: Double { logQuantiles[1] }
    public var logP90: Double { logQuantiles[2] }
    public var logP99: Double { logQuantiles[3] }
}

/// Statistics of a query's nearest neighbours (by cosine similarity) and their log output lengths: the part of
/// the prior's feature row that memory supplies.
public enum NeighborStatistics {
    public static let names = [
        "nn_wmean", "nn_wstd", "nn_q10", "nn_q25", "nn_q50", "nn_q75", "nn_q90", "nn_top1", "nn_top5_mean",
        "nn_top_sim", "nn_top5_sim", "nn_close80", "nn_close90", "nn_short_share", "nn_sharp_mean", "nn_sharp_short",
        "nn_close95", "nn_close95_mean",
    ]

    /// `neighbors` sorted by similarity, best first; `shortLog` is log1p of the short threshold.
    public static func features(_ neighbors: [(similarity: Float, logOutput: Double)], shortLog: Double) -> [Double] {
        guard !neighbors.isEmpty else { return [Double](repeating: 0, count: names.count) }
        let values = neighbors.map(\.logOutput)
        let weights = neighbors.map { pow(Double(max($0.similarity, 0)), 4) + 1e-6 }
        let total = weights.reduce(0, +)
        let mean = zip(values, weights).reduce(0) { $0 + $1.0 * $1.1 } / total
        let variance = zip(values, weights).reduce(0) { $0 + $1.1 * ($1.0 - mean) * ($1.0 - mean) } / total
        let top = neighbors.prefix(5)
        let shortWeight = zip(values, weights).reduce(0) { $0 + ($1.0 <= shortLog ? $1.1 : 0) }
        // Weights relative to the best match: the nearest few count, whatever the absolute similarities.
        let best = Double(neighbors[0].similarity)
        let sharp = neighbors.map { exp((Double($0.similarity) - best) / 0.05) }
        let sharpTotal = sharp.reduce(0, +)
        let close95 = neighbors.filter { $0.similarity >= 0.95 }
        return [
            mean, variance.squareRoot(),
            Quantiles.weighted(values, weights: weights, 0.1), Quantiles.weighted(values, weights: weights, 0.25),
            Quantiles.weighted(values, weights: weights, 0.5), Quantiles.weighted(values, weights: weights, 0.75),
            Quantiles.weighted(values, weights: weights, 0.9),
            values[0], top.reduce(0) { $0 + $1.logOutput } / Double(top.count),
            Double(neighbors[0].similarity), top.reduce(0) { $0 + Double($1.similarity) } / Double(top.count),
            Double(neighbors.filter { $0.similarity >= 0.8 }.count),
            Double(neighbors.filter { $0.similarity >= 0.9 }.count),
            shortWeight / total,
            zip(values, sharp).reduce(0) { $0 + $1.0 * $1.1 } / sharpTotal,
            zip(values, sharp).reduce(0) { $0 + ($1.0 <= shortLog ? $1.1 : 0) } / sharpTotal,
            Double(close95.count),
            close95.isEmpty ? mean : close95.reduce(0) { $0 + $1.logOutput } / Double(close95.count),
        ]
    }

    /// The best `k` of two neighbour lists, best first.
    public static func merge(
        _ a: [(similarity: Float, logOutput: Double)], _ b: [(similarity: Float, logOutput: Double)], k: Int
    ) -> [(similarity: Float, logOutput: Double)] {
        Array((a + b).sorted { $0.similarity > $1.similarity }.prefix(k))
    }
}
