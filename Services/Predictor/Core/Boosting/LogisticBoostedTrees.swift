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

/// A logistic regression on a few scores (Newton's method, a light ridge): how to weigh models of one yes/no
/// outcome against each other before one calibration maps the weighed score to a probability.
public struct ScoreBlend: Sendable, Equatable, Codable {
    public private(set) var weights: [Double]
    public private(set) var intercept: Double

    public init(weights: [Double], intercept: Double = 0) {
        self.weights = weights
        self.intercept = intercept
    }

    /// Fits `rows` (one score per model) to `labels`.
    public init(rows: [[Double]], labels: [Bool], lambda: Double = 1e-3, iterations: Int = 25) {
        precondition(!rows.isEmpty && rows.count == labels.count, "need as many score rows as labels")
        let width = rows[0].count + 1
        var beta = [Double](repeating: 0, count: width)
        for _ in 0..<iterations {
            // Gradient and Hessian of the penalised log-likelihood, intercept last (not penalised).
            var gradient = [Double](repeating: 0, count: width)
            var hessian = [[Double]](repeating: [Double](repeating: 0, count: width), count: width)
            for (row, label) in zip(rows, labels) {
                let x = row + [1]
                let margin = zip(x, beta).reduce(0) { $0 + $1.0 * $1.1 }
                let p = 1 / (1 + exp(-margin))
                let w = max(p * (1 - p), 1e-9)
                for i in 0..<width {
                    gradient[i] += ((label ? 1 : 0) - p) * x[i]
                    for j in 0..<width { hessian[i][j] += w * x[i] * x[j] }
                }
            }
            for i in 0..<(width - 1) {
                gradient[i] -= lambda * Double(rows.count) * beta[i]
                hessian[i][i] += lambda * Double(rows.count)
            }
            guard let step = Self.solve(hessian, gradient) else { break }
            beta = zip(beta, step).map { $0 + $1 }
            if step.map(abs).max() ?? 0 < 1e-9 { break }
        }
        weights = Array(beta.dropLast())
        intercept = beta[width - 1]
    }

    /// The weighed score (log-odds) of one row of scores.
    public func score(_ row: [Double]) -> Double {
        zip(weights, row).reduce(intercept) { $0 + $1.0 * $1.1 }
    }

    /// Solves `a x = b` by Gaussian elimination with partial pivoting; nil when `a` is singular.
    static func solve(_ a: [[Double]], _ b: [Double]) -> [Double]? {
        var m = zip(a, b).map { $0 + [$1] }
        let n = b.count
        for column in 0..<n {
            guard let pivot = (column..<n).max(by: { abs(m[$0][column]) < abs(m[$1][column]) }),
                abs(m[pivot][column]) > 1e-12
            else { return nil }
            m.swapAt(column, pivot)
            for row in 0..<n where row != column {
                let factor = m[row][column] / m[column][column]
                if factor != 0 { for k in column...n { m[row][k] -= factor * m[column][k] } }
            }
        }
        return (0..<n).map { m[$0][n] / m[$0][$0] }
    }
}
