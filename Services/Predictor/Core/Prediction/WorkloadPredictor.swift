import Contracts
import Foundation

/// Settings of the prediction itself (the pure part of the predictor's configuration).
public struct PredictionSettings: Sendable, Equatable {
    public var topK: Int
    public var wideK: Int
    public var similarityThreshold: Float
    public var buckets: SizeBuckets
    public var prices: PriceTable
    /// History rows below which neighbours are not trusted and the model prior answers.
    public var minimumNeighborHistory: Int

    public init(
        topK: Int = 5, wideK: Int = 50, similarityThreshold: Float = 0.8, buckets: SizeBuckets = SizeBuckets(),
        prices: PriceTable = PriceTable(), minimumNeighborHistory: Int = 10
    ) {
        self.topK = topK
        self.wideK = wideK
        self.similarityThreshold = similarityThreshold
        self.buckets = buckets
        self.prices = prices
        self.minimumNeighborHistory = minimumNeighborHistory
    }

    public var extractor: FeatureExtractor {
        FeatureExtractor(topK: topK, wideK: wideK, similarityThreshold: similarityThreshold)
    }
}

/// Log-space p50 and p90 before rounding and capping, and how they were made.
public struct RawPrediction: Sendable, Equatable {
    public var logP50: Double
    public var logP90: Double
    /// The trained prior's p10 and p99 and calibrated probability of a short reply, when one is loaded.
    public var logP10: Double?
    public var logP99: Double?
    public var pShort: Double?
    public var level: FallbackLevel
    public var neighborsUsed: Int
    public var summary: NeighborSummary
    public var historySize: Int
}

/// Predicts one request's output length. With a trained prior (the default): the prior's distribution, its
/// neighbours drawn from the shipped memory and the live history together. Without one: retrieval, features,
/// trees trained on the history, the blend with close neighbours. Then the response fields (bucket, cost, risk,
/// confidence).
public struct WorkloadPredictor: Sendable {
    public var settings: PredictionSettings
    public var prior: TrainedPrior?

    public init(settings: PredictionSettings, prior: TrainedPrior? = nil) {
        self.settings = settings
        self.prior = prior
    }

    /// Log-space quantiles of `query`, using the tenant pool first and the global pool second.
    public func raw(_ query: PredictionQuery, pools: HistoryPools, model: OutputLengthModel?, priors: PriorTable)
        -> RawPrediction
    {
        if let prior { return raw(query, pools: pools, prior: prior) }
        return rawFromHistory(query, pools: pools, model: model, priors: priors)
    }

    /// The trained prior's answer, with the live history's rows among its neighbours.
    func raw(_ query: PredictionQuery, pools: HistoryPools, prior: TrainedPrior) -> RawPrediction {
        let global = pools.global
        let scores = global.count > 0 ? global.index.similarities(to: query.embedding) : []
        let distribution = prior.distribution(query, history: global.count > 0 ? global : nil, historyScores: scores)
        let summary = global.count > 0 ? settings.extractor.summarize(global, scores: scores) : .empty
        var tenantClose = false
        if let tenant = query.tenantId, let pool = pools.tenants[tenant], pool.count > 0 {
            tenantClose =
                settings.extractor.summarize(pool, scores: pool.index.similarities(to: query.embedding)).closeCount > 0
        }
        let level: FallbackLevel =
            tenantClose
            ? .tenantNeighbors : (global.count >= settings.minimumNeighborHistory ? .globalNeighbors : .trainedPrior)
        return RawPrediction(
            logP50: distribution.logP50, logP90: distribution.logP90, logP10: distribution.logP10,
            logP99: distribution.logP99, pShort: distribution.pShort, level: level,
            neighborsUsed: min(prior.wideK, prior.memoryOutputs.count + global.count), summary: summary,
            historySize: global.count)
    }

    /// The answer from the history alone (no trained prior): neighbours and trees trained online.
    func rawFromHistory(_ query: PredictionQuery, pools: HistoryPools, model: OutputLengthModel?, priors: PriorTable)
        -> RawPrediction
    {
        let extractor = settings.extractor
        let global = pools.global
        let globalSummary =
            global.count > 0
            ? extractor.summarize(global, scores: global.index.similarities(to: query.embedding)) : .empty
        var tenantSummary = NeighborSummary.empty
        if let tenant = query.tenantId, let pool = pools.tenants[tenant], pool.count > 0 {
            tenantSummary = extractor.summarize(pool, scores: pool.index.similarities(to: query.embedding))
        }
        let modelKey = HistoryPools.modelKeys(model: query.model, taskType: query.taskType)
        let modelCount = modelKey.compactMap { priors.counts[$0] }.max() ?? 0

        let level: FallbackLevel
        if tenantSummary.closeCount > 0 {
            level = .tenantNeighbors
        } else if global.count >= settings.minimumNeighborHistory {
            level = .globalNeighbors
        } else if modelCount > 0 {
            level = .modelPrior
        } else {
            level = .globalPrior
        }

        var logP50: Double
        var logP90: Double
        var used = 0
        switch level {
        case .globalPrior, .localPrior, .oracle, .trainedPrior:
            logP50 = log1p(OutputPrior.defaultP50)
            logP90 = log1p(OutputPrior.defaultP90)
        case .modelPrior:
            let outputs = modelKey.reversed().compactMap { pools.modelOutputs[$0] }.first ?? []
            logP50 = log1p(Quantiles.of(outputs, 0.5))
            logP90 = log1p(Quantiles.of(outputs, 0.9))
        case .tenantNeighbors, .globalNeighbors:
            used = globalSummary.count
            if let model {
                let regression = model.regression.predict(
                    OutputLengthTrainer.regressionInput(embedding: query.embedding, promptTokens: query.promptTokens))
                let row = extractor.features(
                    query, neighbors: globalSummary,
                    modelMedian: priors.logMedian(model: query.model, taskType: nil),
                    taskMedian: priors.logMedian(model: query.model, taskType: query.taskType),
                    embeddingRegression: regression
                )
                logP50 = model.p50.predict(row)
                logP90 = model.p90.predict(row) + model.p90Offset
            } else {
                logP50 = globalSummary.weightedMean
                logP90 = max(globalSummary.q90, logP50 + 0.9)
            }
            // Near-duplicates of past requests are the strongest evidence there is: lean on them by count and
            // closeness, the tenant's own first.
            let close = tenantSummary.closeCount > 0 ? tenantSummary : globalSummary
            if close.closeCount > 0 && !close.closeMean.isNaN {
                let closeness =
                    (close.topSimilarity - Double(settings.similarityThreshold))
                    / max(1e-6, 1 - Double(settings.similarityThreshold))
                let weight = min(0.8, Double(close.closeCount) / Double(close.closeCount + 4) * (0.5 + 0.5 * closeness))
                let shift = weight * (close.closeMean - logP50)
                logP50 += shift
                logP90 += shift
                used = max(used, close.closeCount)
                if level == .tenantNeighbors { used = tenantSummary.count }
            }
        }
        return RawPrediction(
            logP50: logP50, logP90: max(logP90, logP50), logP10: nil, logP99: nil, pShort: nil, level: level,
            neighborsUsed: used,
            summary: tenantSummary.closeCount > 0 ? tenantSummary : globalSummary, historySize: global.count
        )
    }

    /// The full response for `query`.
    public func predict(_ query: PredictionQuery, pools: HistoryPools, model: OutputLengthModel?, priors: PriorTable)
        -> PredictResponse
    {
        respond(query, raw(query, pools: pools, model: model, priors: priors), version: model?.version ?? "prior")
    }

    /// Rounds, caps and prices a raw prediction: 1 ≤ p50 ≤ p90 ≤ max_tokens.
    public func respond(_ query: PredictionQuery, _ raw: RawPrediction, version: String) -> PredictResponse {
        let cap = Double(query.maxTokens.map { max(1, $0) } ?? Int.max / 4)
        let p50 = min(cap, max(1, expm1(raw.logP50).rounded()))
        let p90 = min(cap, max(p50, expm1(raw.logP90).rounded()))
        let p10 = raw.logP10.map { min(p50, max(1, expm1($0).rounded())) }
        let p99 = raw.logP99.map { min(cap, max(p90, expm1($0).rounded())) }
        let bucket = settings.buckets.bucket(of: p50)
        return PredictResponse(
            sizeBucket: bucket,
            expectedOutputTokensP50: Int(p50),
            expectedOutputTokensP90: Int(p90),
            promptTokens: query.promptTokens,
            predictedCostP50: settings.prices.cost(
                model: query.model, promptTokens: query.promptTokens, outputTokens: p50),
            riskScore: risk(raw, bucket: bucket, maxTokens: query.maxTokens),
            confidenceScore: confidence(raw),
            fallbackLevel: raw.level,
            neighborsUsed: raw.neighborsUsed,
            modelVersion: prior.map { "\($0.version)+\(version)" } ?? version,
            expectedOutputTokensP10: p10.map { Int($0) },
            expectedOutputTokensP99: p99.map { Int($0) },
            pShort: raw.pShort.map { probability in
                // A reply capped at the short threshold is short whatever the prompt asks.
                if let limit = query.maxTokens, let prior, limit <= prior.shortMaxTokens { return 1 }
                return probability
            }
        )
    }

    /// Probability that the output exceeds its bucket's bound or reaches max_tokens, under a log-normal whose
    /// median and 90th percentile are the (calibrated) p50 and p90.
    public func risk(_ raw: RawPrediction, bucket: SizeBucket, maxTokens: Int?) -> Double {
        let bounds = [settings.buckets.upperBound(of: bucket).map(Double.init), maxTokens.map { Double($0) - 0.5 }]
            .compactMap { $0 }
        guard let bound = bounds.min() else { return 0 }
        let sigma = max(0.05, (raw.logP90 - raw.logP50) / 1.2816)
        let z = (log1p(bound) - raw.logP50) / sigma
        return min(1, max(0, 0.5 * erfc(z / 2.0.squareRoot())))
    }

    /// How much to trust the answer: neighbours that agree and are close, and a history of some size.
    public func confidence(_ raw: RawPrediction) -> Double {
        switch raw.level {
        case .globalPrior, .localPrior: return 0.05
        case .oracle: return 1
        case .modelPrior: return 0.2
        case .trainedPrior: return 0.3
        case .tenantNeighbors, .globalNeighbors:
            let s = raw.summary
            let agreement = 1 / (1 + s.weightedStd)
            let closeness = max(0, min(1, s.meanSimilarity))
            let size = Double(raw.historySize) / Double(raw.historySize + 500)
            return max(0.05, min(0.99, 0.2 + 0.8 * agreement * (0.5 + 0.5 * closeness) * size))
        }
    }
}
