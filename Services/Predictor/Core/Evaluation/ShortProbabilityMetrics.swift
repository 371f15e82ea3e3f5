import Foundation

/// How good a `p_short` is: ranking (AUC: the chance a short reply gets a higher p_short than a long one) and
/// calibration (a reliability table over ten equal-width bins, and its expected calibration error).
public struct ShortProbabilityMetrics: Sendable, Equatable {
    public struct Bin: Sendable, Equatable {
        public var lower: Double
        public var upper: Double
        public var count: Int
        public var meanPredicted: Double
        public var observedRate: Double
    }

    public var count: Int
    public var auc: Double
    /// Σ over bins of (bin share × |mean predicted − observed rate|).
    public var calibrationError: Double
    public var bins: [Bin]

    public init(probabilities: [Double], outcomes: [Bool], binCount: Int = 10) {
        precondition(probabilities.count == outcomes.count, "one outcome per probability")
        count = probabilities.count
        auc = Self.auc(probabilities, outcomes)
        var bins: [Bin] = []
        var error = 0.0
        for b in 0..<binCount {
            let lower = Double(b) / Double(binCount)
            let upper = Double(b + 1) / Double(binCount)
            let members = probabilities.indices.filter {
                probabilities[$0] >= lower
                    && (probabilities[$0] < upper || (b == binCount - 1 && probabilities[$0] <= upper))
            }
            guard !members.isEmpty else {
                bins.append(Bin(lower: lower, upper: upper, count: 0, meanPredicted: 0, observedRate: 0))
                continue
            }
            let predicted = members.reduce(0) { $0 + probabilities[$1] } / Double(members.count)
            let observed = Double(members.filter { outcomes[$0] }.count) / Double(members.count)
            error += Double(members.count) / Double(max(count, 1)) * abs(predicted - observed)
            bins.append(
                Bin(lower: lower, upper: upper, count: members.count, meanPredicted: predicted, observedRate: observed))
        }
        self.bins = bins
        calibrationError = error
    }

    /// Area under the ROC curve by the rank-sum formula (ties count half).
    public static func auc(_ scores: [Double], _ outcomes: [Bool]) -> Double {
        let positives = outcomes.filter { $0 }.count
        let negatives = outcomes.count - positives
        guard positives > 0, negatives > 0 else { return 0.5 }
        let ranks = PredictionMetrics.ranks(scores)
        let sum = zip(ranks, outcomes).reduce(0.0) { $0 + ($1.1 ? $1.0 : 0) }
        return (sum - Double(positives) * Double(positives + 1) / 2) / (Double(positives) * Double(negatives))
    }

    public var report: String {
        var lines = [String(format: "p_short: AUC %.3f, calibration error %.3f over %d", auc, calibrationError, count)]
        lines.append("| p_short bin | requests | mean p_short | observed short share |")
        lines.append("|---|---|---|---|")
        for bin in bins where bin.count > 0 {
            lines.append(
                String(
                    format: "| %.1f–%.1f | %d | %.3f | %.3f |", bin.lower, bin.upper, bin.count, bin.meanPredicted,
                    bin.observedRate))
        }
        return lines.joined(separator: "\n")
    }
}
