import Foundation

/// What the predictor knows about a request before it runs.
public struct PredictionQuery: Sendable {
    public var embedding: [Float]
    public var surface: [Float]
    public var promptTokens: Int
    public var maxTokens: Int?
    public var model: String
    public var taskType: String?
    public var tenantId: String?
    /// The user's words, for the trained prior's word features (nil: those features take their average).
    public var text: String?

    public init(
        embedding: [Float], surface: [Float], promptTokens: Int, maxTokens: Int?, model: String,
        taskType: String? = nil, tenantId: String? = nil, text: String? = nil
    ) {
        self.text = text
        self.embedding = embedding
        self.surface = surface
        self.promptTokens = promptTokens
        self.maxTokens = maxTokens
        self.model = model
        self.taskType = taskType
        self.tenantId = tenantId
    }

    public init(row: HistoryRow) {
        self.init(
            embedding: row.embedding, surface: row.surface, promptTokens: row.promptTokens, maxTokens: row.maxTokens,
            model: row.model, taskType: row.taskType, tenantId: row.tenantId
        )
    }
}

/// Similarity-weighted statistics of the log output lengths of a query's nearest neighbours.
public struct NeighborSummary: Sendable, Equatable {
    public var count: Int
    /// Neighbours at or above the similarity threshold.
    public var closeCount: Int
    public var topSimilarity: Double
    public var meanSimilarity: Double
    public var weightedMean: Double
    public var weightedStd: Double
    public var q25: Double
    public var q50: Double
    public var q75: Double
    public var q90: Double
    /// Mean log output of the `topK` nearest (the reference system's "median of k" rung, as a mean of logs).
    public var nearestMean: Double
    public var nearestMedian: Double
    /// Weighted mean over the close neighbours only (NaN when there are none).
    public var closeMean: Double
    public var limitShare: Double

    public static let empty = NeighborSummary(
        count: 0, closeCount: 0, topSimilarity: 0, meanSimilarity: 0, weightedMean: 0, weightedStd: 0, q25: 0, q50: 0,
        q75: 0, q90: 0, nearestMean: 0, nearestMedian: 0, closeMean: .nan, limitShare: 0
    )
}

/// Turns a query and the history into the feature row the boosted trees read: prompt length, limits, model and
/// task priors, neighbour statistics over a wide k, and prompt surface features. Log outputs are `log1p`.
public struct FeatureExtractor: Sendable {
    public var topK: Int
    public var wideK: Int
    public var similarityThreshold: Float
    /// Exponent sharpening similarity weights (`max(sim, 0)^power`).
    public var weightPower: Double

    public init(topK: Int = 5, wideK: Int = 50, similarityThreshold: Float = 0.8, weightPower: Double = 4) {
        self.topK = max(1, topK)
        self.wideK = max(self.topK, wideK)
        self.similarityThreshold = similarityThreshold
        self.weightPower = weightPower
    }

    public static let names =
        [
            "log_prompt_tokens", "log_max_tokens", "has_max_tokens", "model_log_median", "task_log_median",
            "nn_count_log", "nn_close_count", "nn_top_sim", "nn_mean_sim", "nn_wmean", "nn_wstd", "nn_q25", "nn_q50",
            "nn_q75", "nn_q90", "nn_nearest_mean", "nn_nearest_median", "nn_limit_share", "embedding_regression",
        ] + PromptSurface.names

    /// Neighbour statistics of `query` in `pool`, leaving out `excluding` (a row's own slot during training).
    public func summarize(_ pool: HistoryPool, scores: [Float], excluding: Int? = nil) -> NeighborSummary {
        let neighbors = NeighborIndex.topK(scores, k: wideK, excluding: excluding)
        return summarize(neighbors: neighbors, rows: pool.rows)
    }

    public func summarize(neighbors: [Neighbor], rows: [HistoryRow]) -> NeighborSummary {
        guard !neighbors.isEmpty else { return .empty }
        let values = neighbors.map { log1p(Double(rows[$0.slot].outputTokens)) }
        let weights = neighbors.map { pow(Double(max($0.similarity, 0)), weightPower) + 1e-6 }
        let total = weights.reduce(0, +)
        let mean = zip(values, weights).reduce(0) { $0 + $1.0 * $1.1 } / total
        let variance = zip(values, weights).reduce(0) { $0 + $1.1 * ($1.0 - mean) * ($1.0 - mean) } / total
        let nearest = Array(values.prefix(topK))
        let close = neighbors.indices.filter { neighbors[$0].similarity >= similarityThreshold }
        let closeWeights = close.map { weights[$0] }
        let closeMean =
            close.isEmpty ? Double.nan : close.reduce(0) { $0 + values[$1] * weights[$1] } / closeWeights.reduce(0, +)
        return NeighborSummary(
            count: neighbors.count,
            closeCount: close.count,
            topSimilarity: Double(neighbors[0].similarity),
            meanSimilarity: neighbors.prefix(topK).reduce(0) { $0 + Double($1.similarity) }
                / Double(min(topK, neighbors.count)),
            weightedMean: mean,
            weightedStd: variance.squareRoot(),
            q25: Quantiles.weighted(values, weights: weights, 0.25),
            q50: Quantiles.weighted(values, weights: weights, 0.5),
            q75: Quantiles.weighted(values, weights: weights, 0.75),
            q90: Quantiles.weighted(values, weights: weights, 0.9),
            nearestMean: nearest.reduce(0, +) / Double(nearest.count),
            nearestMedian: Quantiles.of(nearest, 0.5),
            closeMean: closeMean,
            limitShare: Double(neighbors.filter { rows[$0.slot].hitLimit }.count) / Double(neighbors.count)
        )
    }

    /// The feature row of `query` given its neighbour summary, priors and the embedding regression's estimate.
    public func features(
        _ query: PredictionQuery, neighbors s: NeighborSummary, modelMedian: Double, taskMedian: Double,
        embeddingRegression: Double
    ) -> [Double] {
        var row: [Double] = [
            log1p(Double(query.promptTokens)),
            log1p(Double(query.maxTokens ?? 0)),
            query.maxTokens == nil ? 0 : 1,
            modelMedian, taskMedian,
            log1p(Double(s.count)), Double(s.closeCount), s.topSimilarity, s.meanSimilarity, s.weightedMean,
            s.weightedStd, s.q25, s.q50, s.q75, s.q90, s.nearestMean, s.nearestMedian, s.limitShare,
            embeddingRegression,
        ]
        row += query.surface.map(Double.init)
        return row
    }
}
