import Contracts
import Foundation

/// Strict replay: walks the history in time order and predicts each request only from the rows before it
/// (retraining every `retrainEvery` rows, as the service does), then scores the predictor and its baselines.
public struct ReplayEvaluator: Sendable {
    public var settings: PredictionSettings
    public var training: TrainingParameters
    public var warmup: Int
    public var retrainEvery: Int
    public var windowSize: Int
    /// The trained prior the predictor answers with (nil: history only, as a predictor without one).
    public var prior: TrainedPrior?
    /// Cold start: nothing replayed is added to the history, so every request is predicted as the first one.
    public var coldStart = false

    public init(
        settings: PredictionSettings, training: TrainingParameters = TrainingParameters(), warmup: Int = 500,
        retrainEvery: Int = 250, windowSize: Int = 10_000, prior: TrainedPrior? = nil
    ) {
        self.prior = prior
        self.settings = settings
        self.training = training
        self.warmup = warmup
        self.retrainEvery = max(1, retrainEvery)
        self.windowSize = windowSize
    }

    /// One scored request: what the predictor said before seeing it, and the truth.
    public struct ReplayedPrediction: Sendable, Equatable, Codable {
        public var promptTokens: Int
        public var outputTokens: Int
        public var p50: Int
        public var p90: Int
        public var p10: Int?
        public var p99: Int?
        public var pShort: Double?

        public init(
            promptTokens: Int, outputTokens: Int, p50: Int, p90: Int, p10: Int? = nil, p99: Int? = nil,
            pShort: Double? = nil
        ) {
            self.promptTokens = promptTokens
            self.outputTokens = outputTokens
            self.p50 = p50
            self.p90 = p90
            self.p10 = p10
            self.p99 = p99
            self.pShort = pShort
        }

        enum CodingKeys: String, CodingKey {
            case p50, p90, p10, p99
            case pShort = "p_short"
            case promptTokens = "prompt_tokens"
            case outputTokens = "output_tokens"
        }
    }

    /// The result of a replay: the predictor first, then each baseline.
    public struct Report: Sendable {
        public var predictor: PredictionMetrics
        /// Every scored request in replay order.
        public var predictions: [ReplayedPrediction] = []
        public var baselines: [PredictionMetrics]
        /// Mean predicted risk and observed rate of "above the bucket or at max_tokens".
        public var meanRisk: Double
        public var observedRiskRate: Double
        public var levels: [String: Int]
        /// The predictor's p_short against "the reply was at most the short threshold", when it gave one.
        public var shortProbability: ShortProbabilityMetrics?

        public var text: String {
            ([predictor] + baselines).map(\.report).joined(separator: "\n")
                + (shortProbability.map { "\n" + $0.report } ?? "")
                + String(format: "\nrisk: mean predicted %.3f, observed %.3f", meanRisk, observedRiskRate)
                + "\nfallback levels: "
                + levels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
    }

    /// Replays `rows` (oldest first); `texts`, one per row, feed the prior's word features.
    public func run(_ rows: [HistoryRow], texts: [String]? = nil) -> Report {
        guard let dimension = rows.first?.embedding.count else {
            let empty = PredictionMetrics(name: "predictor", p50: [], p90: [], truth: [], buckets: settings.buckets)
            return Report(
                predictor: empty, predictions: [], baselines: [], meanRisk: 0, observedRiskRate: 0, levels: [:],
                shortProbability: nil)
        }
        let predictor = WorkloadPredictor(settings: settings, prior: prior)
        var shortProbabilities: [Double] = []
        var shortOutcomes: [Bool] = []
        let trainer = OutputLengthTrainer(extractor: settings.extractor, parameters: training)
        var pools = HistoryPools(dimension: dimension, windowSize: windowSize)
        var model: OutputLengthModel?
        var priors = PriorTable(pools)
        var series: [String: (p50: [Double], p90: [Double])] = [:]
        let names = [
            "predictor", "global_median", "model_prior", "neighbors_median_k", "neighbors_weighted_wide",
            "boosting_only",
        ]
        for name in names { series[name] = ([], []) }
        var truth: [Double] = []
        var risks: [Double] = []
        var riskEvents = 0
        var levels: [String: Int] = [:]
        var replayed: [ReplayedPrediction] = []
        func record(_ name: String, _ p50: Double, _ p90: Double) {
            series[name]!.p50.append(p50)
            series[name]!.p90.append(max(p50, p90))
        }
        for (index, row) in rows.enumerated() {
            if index >= warmup {
                if prior == nil && (model == nil || (index - warmup) % retrainEvery == 0) {
                    model = trainer.train(pools, version: "replay-\(index)") ?? model
                }
                var query = PredictionQuery(row: row)
                query.text = texts?[index]
                let raw = predictor.raw(query, pools: pools, model: model, priors: priors)
                let response = predictor.respond(query, raw, version: "")
                let actual = Double(row.outputTokens)
                truth.append(actual)
                record("predictor", Double(response.expectedOutputTokensP50), Double(response.expectedOutputTokensP90))
                replayed.append(
                    ReplayedPrediction(
                        promptTokens: row.promptTokens, outputTokens: row.outputTokens,
                        p50: response.expectedOutputTokensP50,
                        p90: max(response.expectedOutputTokensP50, response.expectedOutputTokensP90),
                        p10: response.expectedOutputTokensP10, p99: response.expectedOutputTokensP99,
                        pShort: response.pShort))
                if let pShort = response.pShort, let prior {
                    shortProbabilities.append(pShort)
                    shortOutcomes.append(row.outputTokens <= prior.shortMaxTokens)
                }
                levels[raw.level.rawValue, default: 0] += 1
                risks.append(response.riskScore)
                let bound = settings.buckets.upperBound(of: response.sizeBucket).map(Double.init) ?? .infinity
                if actual > bound || (row.maxTokens.map { row.outputTokens >= $0 } ?? false) { riskEvents += 1 }

                let history = pools.global.rows.map { Double($0.outputTokens) }
                record("global_median", Quantiles.of(history, 0.5), Quantiles.of(history, 0.9))
                let modelOutputs = pools.modelOutputs[row.model] ?? history
                record("model_prior", Quantiles.of(modelOutputs, 0.5), Quantiles.of(modelOutputs, 0.9))
                let scores = pools.global.index.similarities(to: row.embedding)
                let nearest = NeighborIndex.topK(scores, k: settings.topK).map {
                    Double(pools.global.rows[$0.slot].outputTokens)
                }
                record("neighbors_median_k", Quantiles.of(nearest, 0.5), Quantiles.of(nearest, 0.9))
                let wide = raw.summary
                record("neighbors_weighted_wide", expm1(wide.weightedMean), expm1(wide.q90))
                if let model {
                    let features = settings.extractor.features(
                        query, neighbors: settings.extractor.summarize(pools.global, scores: scores),
                        modelMedian: priors.logMedian(model: row.model, taskType: nil),
                        taskMedian: priors.logMedian(model: row.model, taskType: row.taskType),
                        embeddingRegression: model.regression.predict(
                            OutputLengthTrainer.regressionInput(
                                embedding: row.embedding, promptTokens: row.promptTokens))
                    )
                    record("boosting_only", expm1(model.p50.predict(features)), expm1(model.p90.predict(features)))
                } else {
                    record("boosting_only", Quantiles.of(history, 0.5), Quantiles.of(history, 0.9))
                }
            }
            if !coldStart {
                pools.insert(row)
                priors = PriorTable(pools)
            }
        }
        let metrics = names.map { name in
            PredictionMetrics(
                name: name, p50: series[name]!.p50, p90: series[name]!.p90, truth: truth, buckets: settings.buckets)
        }
        return Report(
            predictor: metrics[0], predictions: replayed, baselines: Array(metrics.dropFirst()),
            meanRisk: risks.isEmpty ? 0 : risks.reduce(0, +) / Double(risks.count),
            observedRiskRate: truth.isEmpty ? 0 : Double(riskEvents) / Double(truth.count), levels: levels,
            shortProbability: shortProbabilities.isEmpty
                ? nil : ShortProbabilityMetrics(probabilities: shortProbabilities, outcomes: shortOutcomes)
        )
    }
}
