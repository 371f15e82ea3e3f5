import Foundation

/// Gradient-boosted trees for a yes/no outcome (logistic loss): each tree is grown on the gradient histograms like
/// `QuantileBoostedTrees`' and its leaves take one Newton step, Σ(y − p) / Σ p(1 − p). Predicts a probability.
public struct LogisticBoostedTrees: Sendable, Equatable, Codable {
    public let parameters: BoostingParameters
    public private(set) var base: Double
    public private(set) var trees: [[QuantileBoostedTrees.Node]]

    /// Trains on `features` (rows × columns) and outcomes `labels`; `parameters.quantile` is unused.
    public init(features: [[Double]], labels: [Bool], parameters: BoostingParameters) {
        precondition(features.count == labels.count && !labels.isEmpty, "need as many feature rows as labels")
        self.parameters = parameters
        let y = labels.map { $0 ? 1.0 : 0.0 }
        let rate = min(max(y.reduce(0, +) / Double(y.count), 1e-3), 1 - 1e-3)
        base = log(rate / (1 - rate))
        trees = []
        let binned = BinnedFeatures(features: features, bins: parameters.bins)
        var margin = [Double](repeating: base, count: y.count)
        var random = SplitMix64(seed: parameters.seed)
        for _ in 0..<parameters.rounds {
            let rows = parameters.sampleRows(y.count, random: &random)
            let probability = margin.map { 1 / (1 + exp(-$0)) }
            let gradient = (0..<y.count).map { y[$0] - probability[$0] }
            var builder = TreeBuilder(binned: binned, gradient: gradient, parameters: parameters)
            var tree = builder.grow(rows: rows)
            for (node, leafRows) in builder.leafRows {
                let numerator = leafRows.reduce(0.0) { $0 + gradient[$1] }
                let denominator = leafRows.reduce(0.0) { $0 + probability[$1] * (1 - probability[$1]) }
                tree[node].value = parameters.learningRate * numerator / max(denominator, 1e-6)
            }
            for index in 0..<y.count { margin[index] += QuantileBoostedTrees.evaluate(tree, features[index]) }
            trees.append(tree)
        }
    }

    /// A model that answers its base rate of one half (a placeholder until one is trained).
    public static let empty = LogisticBoostedTrees(base: 0, parameters: BoostingParameters(quantile: 0.5, rounds: 0))

    init(base: Double, parameters: BoostingParameters) {
        self.parameters = parameters
        self.base = base
        self.trees = []
    }

    /// The log-odds of a yes for one feature row.
    public func margin(_ row: [Double]) -> Double {
        trees.reduce(base) { $0 + QuantileBoostedTrees.evaluate($1, row) }
    }

    /// The probability of a yes for one feature row.
    public func probability(_ row: [Double]) -> Double {
        1 / (1 + exp(-margin(row)))
    }
}

/// A monotone map from raw scores to calibrated probabilities, fitted by pool-adjacent-violators on held-out
/// (score, outcome) pairs and read by linear interpolation between the pooled blocks.
public struct IsotonicCalibration: Sendable, Equatable, Codable {
    /// Block centres (mean score) and their observed rates, increasing in both.
    public private(set) var scores: [Double]
    public private(set) var rates: [Double]

    public init(scores raw: [Double], outcomes: [Bool]) {
        precondition(raw.count == outcomes.count, "need as many outcomes as scores")
        let order = raw.indices.sorted { raw[$0] < raw[$1] }
        var blocks: [(score: Double, rate: Double, weight: Double)] = []
        for index in order {
            blocks.append((raw[index], outcomes[index] ? 1 : 0, 1))
            while blocks.count > 1 && blocks[blocks.count - 2].rate >= blocks[blocks.count - 1].rate {
                let last = blocks.removeLast()
                let previous = blocks.removeLast()
                let weight = previous.weight + last.weight
                blocks.append(
                    (
                        (previous.score * previous.weight + last.score * last.weight) / weight,
                        (previous.rate * previous.weight + last.rate * last.weight) / weight, weight
                    ))
            }
        }
        scores = blocks.map(\.score)
        rates = blocks.map(\.rate)
    }

    /// The calibrated probability of a raw score, kept inside [0.01, 0.99] so no answer claims certainty.
    public func probability(_ score: Double) -> Double {
        guard let first = scores.first, let last = scores.last else { return 0.5 }
        let value: Double
        if score <= first {
            value = rates[0]
        } else if score >= last {
            value = rates[rates.count - 1]
        } else {
            var high = 1
            while scores[high] < score { high += 1 }
            let low = high - 1
            let fraction = (score - scores[low]) / max(scores[high] - scores[low], 1e-12)
            value = rates[low] + fraction * (rates[high] - rates[low])
        }
        return min(max(value, 0.01), 0.99)
    }
}
