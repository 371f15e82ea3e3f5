import Contracts
import Foundation

/// Accuracy of one predictor over a replay: point error, rank agreement, p90 calibration and size buckets.
public struct PredictionMetrics: Sendable, Equatable {
    public var name: String
    public var count: Int
    public var mae: Double
    public var rmse: Double
    public var kendallTau: Double
    public var spearman: Double
    public var p90Coverage: Double
    /// Mean pinball loss of p50 (at 0.5) and p90 (at 0.9), in tokens.
    public var pinballP50: Double
    public var pinballP90: Double
    /// Shares of predicted buckets (short, medium, long) and of true buckets.
    public var predictedShares: [Double]
    public var trueShares: [Double]
    public var macroF1: Double
    /// `confusion[true][predicted]` over short, medium, long.
    public var confusion: [[Int]]

    /// Computes every metric from predictions and truths (`p90` may equal `p50` for point predictors).
    public init(name: String, p50: [Double], p90: [Double], truth: [Double], buckets: SizeBuckets) {
        precondition(p50.count == truth.count && p90.count == truth.count, "predictions and truths must align")
        self.name = name
        count = truth.count
        let n = Double(max(truth.count, 1))
        mae = zip(p50, truth).reduce(0) { $0 + abs($1.0 - $1.1) } / n
        rmse = (zip(p50, truth).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / n).squareRoot()
        kendallTau = Self.kendallTauB(p50, truth)
        spearman = Self.pearson(Self.ranks(p50), Self.ranks(truth))
        p90Coverage = zip(p90, truth).reduce(0) { $0 + ($1.1 <= $1.0 ? 1 : 0) } / n
        pinballP50 = zip(p50, truth).reduce(0) { $0 + Self.pinball($1.0, $1.1, 0.5) } / n
        pinballP90 = zip(p90, truth).reduce(0) { $0 + Self.pinball($1.0, $1.1, 0.9) } / n
        var confusion = Array(repeating: Array(repeating: 0, count: 3), count: 3)
        for (prediction, actual) in zip(p50, truth) {
            confusion[buckets.index(of: actual)][buckets.index(of: prediction)] += 1
        }
        self.confusion = confusion
        predictedShares = (0..<3).map { column in Double((0..<3).reduce(0) { $0 + confusion[$1][column] }) / n }
        trueShares = (0..<3).map { Double(confusion[$0].reduce(0, +)) / n }
        macroF1 =
            (0..<3).reduce(0.0) { sum, c in
                let tp = Double(confusion[c][c])
                let predicted = Double((0..<3).reduce(0) { $0 + confusion[$1][c] })
                let actual = Double(confusion[c].reduce(0, +))
                let precision = predicted > 0 ? tp / predicted : 0
                let recall = actual > 0 ? tp / actual : 0
                return sum + (precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0)
            } / 3
    }

    static func pinball(_ prediction: Double, _ truth: Double, _ q: Double) -> Double {
        truth >= prediction ? q * (truth - prediction) : (1 - q) * (prediction - truth)
    }

    /// Kendall's τ-b (tie-corrected).
    public static func kendallTauB(_ x: [Double], _ y: [Double]) -> Double {
        RankCorrelation.kendallTauB(x, y)
    }

    /// Average ranks (ties share the mean rank), 1-based.
    public static func ranks(_ values: [Double]) -> [Double] {
        let order = values.indices.sorted { values[$0] < values[$1] }
        var ranks = [Double](repeating: 0, count: values.count)
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count && values[order[end + 1]] == values[order[start]] { end += 1 }
            let rank = Double(start + end) / 2 + 1
            for k in start...end { ranks[order[k]] = rank }
            start = end + 1
        }
        return ranks
    }

    static func pearson(_ x: [Double], _ y: [Double]) -> Double {
        let n = Double(x.count)
        guard n > 1 else { return 0 }
        let mx = x.reduce(0, +) / n
        let my = y.reduce(0, +) / n
        var sxy = 0.0
        var sxx = 0.0
        var syy = 0.0
        for (a, b) in zip(x, y) {
            sxy += (a - mx) * (b - my)
            sxx += (a - mx) * (a - mx)
            syy += (b - my) * (b - my)
        }
        return sxx > 0 && syy > 0 ? sxy / (sxx * syy).squareRoot() : 0
    }

    /// A human-readable report block.
    public var report: String {
        func f(_ value: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)f", value) }
        let shares = zip(predictedShares, trueShares).map { "\(f($0.0, 2))/\(f($0.1, 2))" }.joined(separator: " ")
        return """
            \(name): n=\(count) MAE=\(f(mae, 1)) RMSE=\(f(rmse, 1)) tau_b=\(f(kendallTau)) spearman=\(f(spearman)) \
            p90_coverage=\(f(p90Coverage)) pinball50=\(f(pinballP50, 1)) pinball90=\(f(pinballP90, 1)) \
            macroF1=\(f(macroF1)) shares(pred/true short medium long)=\(shares) confusion=\(confusion)
            """
    }
}
