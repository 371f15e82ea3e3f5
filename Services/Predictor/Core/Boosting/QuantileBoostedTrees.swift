/// Hyper-parameters of `QuantileBoostedTrees`.
public struct BoostingParameters: Sendable, Equatable, Codable {
    public var quantile: Double
    public var rounds: Int
    public var learningRate: Double
    public var maxDepth: Int
    public var minSamplesLeaf: Int
    public var bins: Int
    /// Fraction of rows each tree sees (seeded, so training is reproducible).
    public var subsample: Double
    public var seed: UInt64

    public init(
        quantile: Double, rounds: Int = 150, learningRate: Double = 0.05, maxDepth: Int = 3,
        minSamplesLeaf: Int = 20, bins: Int = 32, subsample: Double = 0.8, seed: UInt64 = 42
    ) {
        precondition(quantile > 0 && quantile < 1, "quantile must be in (0, 1)")
        self.quantile = quantile
        self.rounds = rounds
        self.learningRate = learningRate
        self.maxDepth = maxDepth
        self.minSamplesLeaf = minSamplesLeaf
        self.bins = bins
        self.subsample = subsample
        self.seed = seed
    }
}

extension BoostingParameters {
    /// The rows one tree is grown on: a seeded `subsample` share, or all of them when that would be too few.
    func sampleRows(_ count: Int, random: inout SplitMix64) -> [Int] {
        var rows = [Int]()
        rows.reserveCapacity(count)
        for index in 0..<count where subsample >= 1 || random.nextUnit() < subsample { rows.append(index) }
        return rows.count < 2 * minSamplesLeaf ? Array(0..<count) : rows
    }
}

/// Gradient-boosted regression trees minimising the pinball (quantile) loss, histogram-based: features are
/// binned at their quantiles, each tree is grown on gradient histograms, and each leaf is then set to the
/// requested quantile of the residuals it holds (as the classic quantile GBM does).
public struct QuantileBoostedTrees: Sendable, Equatable, Codable {
    /// One node; a leaf has `feature == -1`. Coded as a short array, as files hold thousands of them: a split as
    /// `[feature, threshold, left, right]`, a leaf as `[value]`.
    public struct Node: Sendable, Equatable, Codable {
        public var feature: Int
        public var threshold: Double
        public var left: Int
        public var right: Int
        public var value: Double

        init(feature: Int, threshold: Double, left: Int, right: Int, value: Double) {
            self.feature = feature
            self.threshold = threshold
            self.left = left
            self.right = right
            self.value = value
        }

        public init(from decoder: any Decoder) throws {
            var container = try decoder.unkeyedContainer()
            switch container.count {
            case 1:
                self.init(feature: -1, threshold: 0, left: -1, right: -1, value: try container.decode(Double.self))
            case 4:
                let feature = try container.decode(Int.self)
                let threshold = try container.decode(Double.self)
                let left = try container.decode(Int.self)
                let right = try container.decode(Int.self)
                guard feature >= 0, left > 0, right > 0 else {
                    throw DecodingError.dataCorruptedError(
                        in: container, debugDescription: "a split needs a feature and two children")
                }
                self.init(feature: feature, threshold: threshold, left: left, right: right, value: 0)
            default:
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "a node is [value] or [feature, threshold, left, right]")
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.unkeyedContainer()
            if feature < 0 {
                try container.encode(value)
            } else {
                try container.encode(feature)
                try container.encode(threshold)
                try container.encode(left)
                try container.encode(right)
            }
        }
    }

    public let parameters: BoostingParameters
    public private(set) var base: Double
    public private(set) var trees: [[Node]]
    public let featureCount: Int

    /// Trains on `features` (rows × columns) and targets `y`.
    public init(features: [[Double]], targets y: [Double], parameters: BoostingParameters) {
        precondition(features.count == y.count && !y.isEmpty, "need as many feature rows as targets, at least one")
        self.parameters = parameters
        self.featureCount = features[0].count
        self.base = Quantiles.of(y, parameters.quantile)
        self.trees = []
        let binned = BinnedFeatures(features: features, bins: parameters.bins)
        var prediction = [Double](repeating: base, count: y.count)
        var random = SplitMix64(seed: parameters.seed)
        let alpha = parameters.quantile
        for _ in 0..<parameters.rounds {
            let rows = parameters.sampleRows(y.count, random: &random)
            let gradient = (0..<y.count).map { y[$0] > prediction[$0] ? alpha : alpha - 1 }
            var builder = TreeBuilder(binned: binned, gradient: gradient, parameters: parameters)
            var tree = builder.grow(rows: rows)
            for (node, leafRows) in builder.leafRows {
                let residuals = leafRows.map { y[$0] - prediction[$0] }
                tree[node].value = parameters.learningRate * Quantiles.of(residuals, alpha)
            }
            for index in 0..<y.count {
                prediction[index] += Self.evaluate(tree, features[index])
            }
            trees.append(tree)
        }
    }

    /// The predicted quantile for one feature row.
    public func predict(_ row: [Double]) -> Double {
        trees.reduce(base) { $0 + Self.evaluate($1, row) }
    }

    static func evaluate(_ tree: [Node], _ row: [Double]) -> Double {
        var index = 0
        while tree[index].feature >= 0 {
            let node = tree[index]
            index = row[node.feature] <= node.threshold ? node.left : node.right
        }
        return tree[index].value
    }
}

/// Features cut into at most `bins` quantile bins per column; `codes[column][row]` is the bin of a value.
struct BinnedFeatures {
    var codes: [[UInt8]]
    /// Upper edge of each bin per column (a value ≤ edge[b] falls in bin ≤ b).
    var edges: [[Double]]

    init(features: [[Double]], bins: Int) {
        let columns = features.first?.count ?? 0
        codes = []
        edges = []
        for column in 0..<columns {
            let values = features.map { $0[column] }
            let sorted = values.sorted()
            var cuts: [Double] = []
            for b in 1..<max(bins, 2) {
                let cut = sorted[min(sorted.count - 1, b * sorted.count / bins)]
                if cuts.last.map({ cut > $0 }) ?? true { cuts.append(cut) }
            }
            if cuts.last != sorted.last { cuts.append(sorted.last!) }
            // Edges are the cut values; bin b holds values in (edge[b-1], edge[b]].
            let columnCodes = values.map { value -> UInt8 in
                var low = 0
                var high = cuts.count - 1
                while low < high {
                    let mid = (low + high) / 2
                    if value <= cuts[mid] { high = mid } else { low = mid + 1 }
                }
                return UInt8(low)
            }
            codes.append(columnCodes)
            edges.append(cuts)
        }
    }
}

/// Grows one least-squares tree on gradients from histograms of the binned features.
struct TreeBuilder {
    let binned: BinnedFeatures
    let gradient: [Double]
    let parameters: BoostingParameters
    var nodes: [QuantileBoostedTrees.Node] = []
    var leafRows: [(Int, [Int])] = []

    init(binned: BinnedFeatures, gradient: [Double], parameters: BoostingParameters) {
        self.binned = binned
        self.gradient = gradient
        self.parameters = parameters
    }

    mutating func grow(rows: [Int]) -> [QuantileBoostedTrees.Node] {
        nodes = []
        leafRows = []
        _ = split(rows: rows, depth: 0)
        return nodes
    }

    private mutating func split(rows: [Int], depth: Int) -> Int {
        let index = nodes.count
        nodes.append(.init(feature: -1, threshold: 0, left: -1, right: -1, value: 0))
        guard depth < parameters.maxDepth, rows.count >= 2 * parameters.minSamplesLeaf,
            let best = bestSplit(rows: rows)
        else {
            leafRows.append((index, rows))
            return index
        }
        let codes = binned.codes[best.feature]
        let left = rows.filter { Int(codes[$0]) <= best.bin }
        let right = rows.filter { Int(codes[$0]) > best.bin }
        let leftIndex = split(rows: left, depth: depth + 1)
        let rightIndex = split(rows: right, depth: depth + 1)
        nodes[index] = .init(
            feature: best.feature, threshold: binned.edges[best.feature][best.bin],
            left: leftIndex, right: rightIndex, value: 0
        )
        return index
    }

    private func bestSplit(rows: [Int]) -> (feature: Int, bin: Int)? {
        let total = rows.reduce(0.0) { $0 + gradient[$1] }
        let n = Double(rows.count)
        var best: (feature: Int, bin: Int)?
        var bestGain = 1e-12
        for feature in 0..<binned.codes.count {
            let binCount = binned.edges[feature].count
            guard binCount > 1 else { continue }
            var sums = [Double](repeating: 0, count: binCount)
            var counts = [Int](repeating: 0, count: binCount)
            let codes = binned.codes[feature]
            for row in rows {
                let code = Int(codes[row])
                sums[code] += gradient[row]
                counts[code] += 1
            }
            var leftSum = 0.0
            var leftCount = 0
            for bin in 0..<(binCount - 1) {
                leftSum += sums[bin]
                leftCount += counts[bin]
                let rightCount = rows.count - leftCount
                guard leftCount >= parameters.minSamplesLeaf, rightCount >= parameters.minSamplesLeaf else { continue }
                let rightSum = total - leftSum
                let gain =
                    leftSum * leftSum / Double(leftCount) + rightSum * rightSum / Double(rightCount) - total * total / n
                if gain > bestGain {
                    bestGain = gain
                    best = (feature, bin)
                }
            }
        }
        return best
    }
}

/// A small deterministic generator (SplitMix64), so seeded shuffles and subsamples repeat across runs.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform double in [0, 1).
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) / Double(1 << 53)
    }
}

/// Quantiles of plain and weighted samples.
public enum Quantiles {
    /// The `q`-quantile by linear interpolation between order statistics; 0 for no data.
    public static func of(_ values: [Double], _ q: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let position = q * Double(sorted.count - 1)
        let low = Int(position.rounded(.down))
        let high = min(low + 1, sorted.count - 1)
        let fraction = position - Double(low)
        return sorted[low] + (sorted[high] - sorted[low]) * fraction
    }

    /// The weighted `q`-quantile: the smallest value whose cumulative weight reaches `q` of the total.
    public static func weighted(_ values: [Double], weights: [Double], _ q: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let order = values.indices.sorted { values[$0] < values[$1] }
        let total = weights.reduce(0, +)
        guard total > 0 else { return of(values, q) }
        var cumulative = 0.0
        for index in order {
            cumulative += weights[index]
            if cumulative >= q * total { return values[index] }
        }
        return values[order.last!]
    }
}
