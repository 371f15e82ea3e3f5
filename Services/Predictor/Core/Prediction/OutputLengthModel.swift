import Foundation

/// The trained part of the predictor: an embedding regression, boosted p50 and p90 trees over the feature
/// rows, and a split-conformal correction that makes p90 cover 90% of held-out recent requests.
public struct OutputLengthModel: Sendable {
    public var regression: RidgeRegression
    public var p50: QuantileBoostedTrees
    public var p90: QuantileBoostedTrees
    /// Added to the p90 trees' log output so that 90% of the held-out residuals fall below it.
    public var p90Offset: Double
    public var trainedRows: Int
    public var version: String
}

/// Settings of training: when to train, how big the trees are, how the embedding regression is penalised.
public struct TrainingParameters: Sendable, Equatable {
    public var minimumRows: Int
    public var rounds: Int
    public var learningRate: Double
    public var maxDepth: Int
    public var minSamplesLeaf: Int
    public var ridgeLambda: Double
    public var folds: Int
    /// Share of the newest rows held out to calibrate p90.
    public var calibrationShare: Double

    public init(
        minimumRows: Int = 100, rounds: Int = 120, learningRate: Double = 0.06, maxDepth: Int = 3,
        minSamplesLeaf: Int = 15, ridgeLambda: Double = 3, folds: Int = 5, calibrationShare: Double = 0.2
    ) {
        self.minimumRows = minimumRows
        self.rounds = rounds
        self.learningRate = learningRate
        self.maxDepth = maxDepth
        self.minSamplesLeaf = minSamplesLeaf
        self.ridgeLambda = ridgeLambda
        self.folds = folds
        self.calibrationShare = calibrationShare
    }
}

/// Trains an `OutputLengthModel` from the global history, with leave-one-out neighbour features and
/// out-of-fold embedding regressions so that training rows look like the queries the model will see.
public struct OutputLengthTrainer: Sendable {
    public var extractor: FeatureExtractor
    public var parameters: TrainingParameters

    public init(extractor: FeatureExtractor, parameters: TrainingParameters = TrainingParameters()) {
        self.extractor = extractor
        self.parameters = parameters
    }

    /// Regression inputs: the embedding with the log prompt length appended.
    public static func regressionInput(embedding: [Float], promptTokens: Int) -> [Float] {
        embedding + [Float(log1p(Double(promptTokens)))]
    }

    /// A model from `pools`' global window, or nil when it holds fewer than `minimumRows` rows.
    public func train(_ pools: HistoryPools, version: String) -> OutputLengthModel? {
        let pool = pools.global
        let n = pool.count
        guard n >= parameters.minimumRows else { return nil }
        let rows = pool.rows
        let targets = rows.map { log1p(Double($0.outputTokens)) }
        let inputs = rows.map { Self.regressionInput(embedding: $0.embedding, promptTokens: $0.promptTokens) }
        let folds = max(2, parameters.folds)
        var outOfFold = [Double](repeating: 0, count: n)
        for fold in 0..<folds {
            let train = (0..<n).filter { $0 % folds != fold }
            let model = RidgeRegression(
                rows: train.map { inputs[$0] }, targets: train.map { targets[$0] }, lambda: parameters.ridgeLambda
            )
            for i in stride(from: fold, to: n, by: folds) { outOfFold[i] = model.predict(inputs[i]) }
        }
        let regression = RidgeRegression(rows: inputs, targets: targets, lambda: parameters.ridgeLambda)
        let priors = PriorTable(pools)
        var features = [[Double]]()
        features.reserveCapacity(n)
        let chunk = 256
        for start in stride(from: 0, to: n, by: chunk) {
            let end = min(n, start + chunk)
            let scores = pool.index.similarities(toBatch: rows[start..<end].map(\.embedding))
            for (offset, slotScores) in scores.enumerated() {
                let slot = start + offset
                let summary = extractor.summarize(pool, scores: slotScores, excluding: slot)
                let row = rows[slot]
                features.append(
                    extractor.features(
                        PredictionQuery(row: row), neighbors: summary,
                        modelMedian: priors.logMedian(model: row.model, taskType: nil),
                        taskMedian: priors.logMedian(model: row.model, taskType: row.taskType),
                        embeddingRegression: outOfFold[slot]
                    ))
            }
        }
        let boost = { (quantile: Double, indices: [Int]) in
            QuantileBoostedTrees(
                features: indices.map { features[$0] }, targets: indices.map { targets[$0] },
                parameters: BoostingParameters(
                    quantile: quantile, rounds: parameters.rounds, learningRate: parameters.learningRate,
                    maxDepth: parameters.maxDepth, minSamplesLeaf: parameters.minSamplesLeaf
                ))
        }
        // Calibrate p90 on the newest rows with trees that never saw them (split conformal).
        let order = (0..<n).sorted { rows[$0].id < rows[$1].id }
        let held = max(20, Int(Double(n) * parameters.calibrationShare))
        let fitted = boost(0.9, Array(order.dropLast(held)))
        let residuals = order.suffix(held).map { targets[$0] - fitted.predict(features[$0]) }
        let level = min(1, ceil(Double(residuals.count + 1) * 0.9) / Double(residuals.count))
        let offset = Quantiles.of(residuals, level)
        let all = Array(0..<n)
        return OutputLengthModel(
            regression: regression, p50: boost(0.5, all), p90: boost(0.9, all), p90Offset: offset,
            trainedRows: n, version: version
        )
    }
}

/// Log-median output lengths per model and per model + task type, from the history's windows.
public struct PriorTable: Sendable {
    public var medians: [String: Double]
    public var counts: [String: Int]
    public var globalMedian: Double

    public init(_ pools: HistoryPools) {
        var medians: [String: Double] = [:]
        var counts: [String: Int] = [:]
        for (key, outputs) in pools.modelOutputs {
            medians[key] = log1p(Quantiles.of(outputs, 0.5))
            counts[key] = outputs.count
        }
        self.medians = medians
        self.counts = counts
        let all = pools.global.rows.map { Double($0.outputTokens) }
        globalMedian = all.isEmpty ? log1p(OutputPrior.defaultP50) : log1p(Quantiles.of(all, 0.5))
    }

    /// The log median for the model (and task type), falling back to the model alone, then to everything.
    public func logMedian(model: String, taskType: String?) -> Double {
        let keys = HistoryPools.modelKeys(model: model, taskType: taskType)
        return medians[keys.last!] ?? medians[model] ?? globalMedian
    }
}

/// What the predictor says when it has no history at all: typical chat answers.
public enum OutputPrior {
    public static let defaultP50 = 250.0
    public static let defaultP90 = 750.0
}
