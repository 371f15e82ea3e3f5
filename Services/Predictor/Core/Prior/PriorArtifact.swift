import Foundation
import TextEngine

/// The file a `TrainedPrior` is shipped as (JSON): the models as they are, the memory's unit vectors quantised to
/// int8 (base64) with their log output lengths. Written by `maitre-predictor train-prior`, read at start.
public struct PriorArtifact: Codable, Sendable {
    public static let formatName = "maitre-trained-prior/1"

    public var format: String
    public var version: String
    public var source: String
    /// The embedder whose vectors the prior was trained on (`EmbedderDescriptor.name`); absent in files written
    /// before it was recorded, which were all trained on the base model.
    public var embedder: String?
    public var shortMaxTokens: Int
    public var wideK: Int
    public var featureNames: [String]
    public var levels: [Double]
    public var regression: RidgeRegression
    public var rankRegression: RidgeRegression
    public var shortRegression: RidgeRegression
    /// The word regressions: one idf table and two weight vectors, little-endian Float16, base64.
    public var textIDF: String
    public var textRankWeights: String
    public var textRankIntercept: Double
    public var textShortWeights: String
    public var textShortIntercept: Double
    /// The encoder's length heads the prior reads (absent: none).
    public var lengthHeads: [LinearHead]?
    public var quantileTrees: [QuantileBoostedTrees]
    public var quantileOffsets: [Double]
    public var shortTrees: LogisticBoostedTrees
    /// How p_short's score weighs the classifier and the p50 tree (absent: the classifier alone).
    public var shortBlend: ScoreBlend?
    public var shortCalibration: IsotonicCalibration
    public var memoryDimension: Int
    /// Row-major int8 vectors, each component × 127, base64.
    public var memoryVectors: String
    public var memoryLogOutputs: [Double]

    enum CodingKeys: String, CodingKey {
        case format, version, source, embedder, levels, regression
        case rankRegression = "rank_regression"
        case shortRegression = "short_regression"
        case textIDF = "text_idf"
        case textRankWeights = "text_rank_weights"
        case textRankIntercept = "text_rank_intercept"
        case textShortWeights = "text_short_weights"
        case textShortIntercept = "text_short_intercept"
        case lengthHeads = "length_heads"
        case shortMaxTokens = "short_max_tokens"
        case wideK = "wide_k"
        case featureNames = "feature_names"
        case quantileTrees = "quantile_trees"
        case quantileOffsets = "quantile_offsets"
        case shortTrees = "short_trees"
        case shortBlend = "short_blend"
        case shortCalibration = "short_calibration"
        case memoryDimension = "memory_dimension"
        case memoryVectors = "memory_vectors"
        case memoryLogOutputs = "memory_log_outputs"
    }

    public init(_ prior: TrainedPrior) {
        format = Self.formatName
        version = prior.version
        source = prior.source
        embedder = prior.embedder
        shortMaxTokens = prior.shortMaxTokens
        wideK = prior.wideK
        featureNames = TrainedPrior.featureNames
        levels = LengthDistribution.levels
        regression = prior.regression
        rankRegression = prior.rankRegression
        shortRegression = prior.shortRegression
        textIDF = Self.base64(prior.textRankRegression.idf)
        textRankWeights = Self.base64(prior.textRankRegression.weights)
        textRankIntercept = prior.textRankRegression.intercept
        textShortWeights = Self.base64(prior.textShortRegression.weights)
        textShortIntercept = prior.textShortRegression.intercept
        lengthHeads = prior.heads
        quantileTrees = prior.quantileTrees
        quantileOffsets = prior.quantileOffsets
        shortTrees = prior.shortTrees
        shortBlend = prior.shortBlend
        shortCalibration = prior.shortCalibration
        memoryDimension = prior.memory.dimension
        let quantised = prior.memory.matrix.prefix(prior.memory.count * prior.memory.dimension).map {
            UInt8(bitPattern: Int8(max(-127, min(127, ($0 * 127).rounded()))))
        }
        memoryVectors = Data(quantised).base64EncodedString()
        memoryLogOutputs = prior.memoryOutputs
    }

    /// The prior this file describes; throws when it was written for other features or is damaged.
    public func prior() throws -> TrainedPrior {
        guard format == Self.formatName else { throw PriorArtifactError("unknown format \(format)") }
        guard featureNames == TrainedPrior.featureNames, levels == LengthDistribution.levels else {
            throw PriorArtifactError("written for other features; retrain it with `maitre-predictor train-prior`")
        }
        guard quantileTrees.count == levels.count, quantileOffsets.count == levels.count else {
            throw PriorArtifactError("one quantile model per level expected")
        }
        guard shortBlend.map({ $0.weights.count == 2 && ($0.weights + [$0.intercept]).allSatisfy(\.isFinite) }) ?? true
        else { throw PriorArtifactError("short_blend must weigh two finite scores") }
        guard let bytes = Data(base64Encoded: memoryVectors), memoryDimension > 0,
            bytes.count == memoryLogOutputs.count * memoryDimension, !memoryLogOutputs.isEmpty
        else { throw PriorArtifactError("memory vectors do not match their outputs") }
        let buckets = HashedTextRegression.buckets
        guard let idf = Self.floats(textIDF, count: buckets), let rank = Self.floats(textRankWeights, count: buckets),
            let short = Self.floats(textShortWeights, count: buckets)
        else { throw PriorArtifactError("word regressions are not \(buckets) Float16 values each") }
        var memory = NeighborIndex(dimension: memoryDimension, capacity: memoryLogOutputs.count)
        let values = bytes.map { Float(Int8(bitPattern: $0)) / 127 }
        for row in 0..<memoryLogOutputs.count {
            var vector = Array(values[(row * memoryDimension)..<((row + 1) * memoryDimension)])
            let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if norm > 0 { vector = vector.map { $0 / norm } }
            memory.insert(vector)
        }
        return TrainedPrior(
            version: version, source: source, embedder: embedder ?? MiniLMEncoder.baseName,
            shortMaxTokens: shortMaxTokens, wideK: wideK, regression: regression,
            rankRegression: rankRegression, shortRegression: shortRegression,
            textRankRegression: HashedTextRegression(idf: idf, weights: rank, intercept: textRankIntercept),
            textShortRegression: HashedTextRegression(idf: idf, weights: short, intercept: textShortIntercept),
            heads: lengthHeads ?? [],
            quantileTrees: quantileTrees, quantileOffsets: quantileOffsets, shortTrees: shortTrees,
            shortBlend: shortBlend ?? ScoreBlend(weights: [1, 0]), shortCalibration: shortCalibration, memory: memory,
            memoryOutputs: memoryLogOutputs)
    }

    /// Little-endian Float16, base64: half the size of Float32, and the word weights need no more.
    static func base64(_ values: [Float]) -> String {
        var bytes = Data(capacity: values.count * 2)
        for value in values {
            withUnsafeBytes(of: Float16(value).bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        }
        return bytes.base64EncodedString()
    }

    /// `count` values from base64 little-endian Float16, or nil.
    static func floats(_ text: String, count: Int) -> [Float]? {
        guard let bytes = Data(base64Encoded: text), bytes.count == 2 * count else { return nil }
        return stride(from: 0, to: bytes.count, by: 2).map { offset in
            Float(Float16(bitPattern: UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8))
        }
    }

    public static func decode(_ data: Data) throws -> TrainedPrior {
        do {
            return try JSONDecoder().decode(PriorArtifact.self, from: data).prior()
        } catch let error as PriorArtifactError {
            throw error
        } catch {
            throw PriorArtifactError("not a prior file (\(error))")
        }
    }

    public static func encode(_ prior: TrainedPrior) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(PriorArtifact(prior))
    }
}

/// A prior file that cannot be used, and why.
public struct PriorArtifactError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
