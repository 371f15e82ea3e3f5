import Foundation
import TextEngine

/// The predictor's prior, trained offline on public conversations and shipped with it, so that it answers well
/// from its first request: an embedding regression, neighbour statistics over the training prompts (its memory,
/// to which the live history is added), quantile trees for p10/p50/p90/p99 with held-out offsets that calibrate
/// them, and a classifier for "short reply" that, weighed with the p50 tree, is calibrated by isotonic regression.
public struct TrainedPrior: Sendable {
    public var version: String
    /// What the prior was trained on, for `/health` and `/models`.
    public var source: String
    /// The embedder whose vectors it was trained on; it answers only queries embedded by the same one.
    public var embedder: String
    public var shortMaxTokens: Int
    public var wideK: Int
    public var regression: RidgeRegression
    /// Embedding regressions on the rank of the output length (0…1) and on "the reply is short" (0 or 1).
    public var rankRegression: RidgeRegression
    public var shortRegression: RidgeRegression
    /// Word TF-IDF regressions on the rank of the output length and on "the reply is short".
    public var textRankRegression: HashedTextRegression
    public var textShortRegression: HashedTextRegression
    /// The heads the encoder's layers were tuned with (`MiniLMEncoder.lengthHeads`), empty without them.
    public var heads: [LinearHead]
    /// One model per `LengthDistribution.levels`, and the log offset added to each.
    public var quantileTrees: [QuantileBoostedTrees]
    public var quantileOffsets: [Double]
    public var shortTrees: LogisticBoostedTrees
    /// How p_short's score weighs the classifier's log-odds and the p50 tree's log length (the p50 tree, fitted on
    /// the whole length and not on a yes/no, ranks short replies better than the classifier alone).
    public var shortBlend: ScoreBlend
    public var shortCalibration: IsotonicCalibration
    /// The training prompts' embeddings and log1p output lengths.
    public var memory: NeighborIndex
    public var memoryOutputs: [Double]

    public static let featureNames =
        [
            "log_prompt_tokens", "embedding_regression", "embedding_rank_regression", "embedding_short_regression",
            "text_rank_regression", "text_short_regression", "head_log_length", "head_short_logit",
        ]
        + PromptSurface.names + NeighborStatistics.names

    var shortLog: Double { log1p(Double(shortMaxTokens)) }

    /// The best `wideK` neighbours of `embedding` in memory (leaving out slot `excluding`), best first.
    func memoryNeighbors(scores: [Float], excluding: Int? = nil) -> [(similarity: Float, logOutput: Double)] {
        NeighborIndex.topK(scores, k: wideK, excluding: excluding).map { ($0.similarity, memoryOutputs[$0.slot]) }
    }

    /// The feature row of a query with its neighbours (best first) and its embedding regression.
    static func features(
        promptTokens: Int, surface: [Float], regressions: [Double],
        neighbors: [(similarity: Float, logOutput: Double)], shortLog: Double
    ) -> [Double] {
        [log1p(Double(promptTokens))] + regressions + surface.map(Double.init)
            + NeighborStatistics.features(neighbors, shortLog: shortLog)
    }

    /// The embedding and word regressions of a query (the word ones at their mean without a text), and the
    /// encoder's heads.
    func regressions(embedding: [Float], promptTokens: Int, text: String?) -> [Double] {
        let input = OutputLengthTrainer.regressionInput(embedding: embedding, promptTokens: promptTokens)
        let words = text.map { HashedTextRegression.row($0, idf: textRankRegression.idf) }
        return [
            regression.predict(input), rankRegression.predict(input), shortRegression.predict(input),
            words.map { textRankRegression.predict($0) } ?? textRankRegression.intercept,
            words.map { textShortRegression.predict($0) } ?? textShortRegression.intercept,
        ] + Self.headValues(heads, embedding)
    }

    /// The first two heads' values (zero for a head the encoder does not have).
    static func headValues(_ heads: [LinearHead], _ embedding: [Float]) -> [Double] {
        (0..<2).map { $0 < heads.count ? heads[$0].apply(embedding) : 0 }
    }

    /// The distribution for a query; `history` (the live window) adds its rows to the memory's neighbours.
    /// `historyScores`, the query's similarities to the window when the caller has them already, saves a scan.
    public func distribution(
        _ query: PredictionQuery, history: HistoryPool? = nil, historyScores: [Float]? = nil
    ) -> LengthDistribution {
        var neighbors = memoryNeighbors(scores: memory.similarities(to: query.embedding))
        if let history, history.count > 0 {
            let scores = historyScores ?? history.index.similarities(to: query.embedding)
            let live = NeighborIndex.topK(scores, k: wideK).map {
                ($0.similarity, log1p(Double(history.rows[$0.slot].outputTokens)))
            }
            neighbors = NeighborStatistics.merge(neighbors, live, k: wideK)
        }
        let row = Self.features(
            promptTokens: query.promptTokens, surface: query.surface,
            regressions: regressions(embedding: query.embedding, promptTokens: query.promptTokens, text: query.text),
            neighbors: neighbors, shortLog: shortLog)
        return distribution(row: row)
    }

    /// The distribution for a feature row.
    func distribution(row: [Double]) -> LengthDistribution {
        let raw = quantileTrees.map { $0.predict(row) }
        let quantiles = zip(raw, quantileOffsets).map { max(0, $0 + $1) }
        let score = shortBlend.score(Self.shortScores(margin: shortTrees.margin(row), rawLogP50: raw[Self.medianLevel]))
        return LengthDistribution(logQuantiles: quantiles, pShort: shortCalibration.probability(score))
    }

    /// The position of p50 in `LengthDistribution.levels`.
    static let medianLevel = LengthDistribution.levels.firstIndex(of: 0.5)!

    /// What `shortBlend` weighs: the classifier's log-odds and the p50 tree's answer before its offset.
    static func shortScores(margin: Double, rawLogP50: Double) -> [Double] { [margin, rawLogP50] }
}

/// One training example of the prior: what is known before the request runs, and its output length.
public struct PriorExample: Sendable {
    public var embedding: [Float]
    public var surface: [Float]
    public var promptTokens: Int
    public var outputTokens: Int
    public var text: String
    /// Examples of one group (turns of one conversation) share a cross-validation fold, so that no out-of-fold
    /// answer is learned from a sibling. Nil: a group of its own.
    public var group: Int?
    /// Whether the example is like the queries the prior will answer: it joins the memory (the neighbours the prior
    /// ships) and the calibration of its quantiles and `p_short`. The others only train the models.
    public var representative: Bool
    /// Whether the example trains the models. Not when the embedder was fine-tuned on it: its vector already knows
    /// its answer, and models fitted on such rows would trust the vectors more than new prompts deserve. It can
    /// still be remembered (a neighbour's answer is its true one either way).
    public var fitted: Bool

    public init(
        embedding: [Float], surface: [Float], promptTokens: Int, outputTokens: Int, text: String = "",
        group: Int? = nil, representative: Bool = true, fitted: Bool = true
    ) {
        self.text = text
        self.group = group
        self.representative = representative
        self.fitted = fitted
        self.embedding = embedding
        self.surface = surface
        self.promptTokens = promptTokens
        self.outputTokens = outputTokens
    }
}

/// Hyper-parameters of prior training.
public struct PriorTrainingParameters: Sendable, Equatable {
    public var wideK = 50
    public var ridgeLambda = 3.0
    /// Penalty of the word regressions (over L2-normalised TF-IDF rows).
    public var textLambda = 1.0
    public var folds = 5
    public var rounds = 600
    public var learningRate = 0.03
    public var maxDepth = 3
    public var minSamplesLeaf = 40
    public var shortMaxTokens = 256
    public var seed: UInt64 = 7

    public init() {}
}

/// Trains a `TrainedPrior`: out-of-fold embedding regressions and leave-one-out neighbours make every training row
/// look like an unseen query; out-of-fold trees set the calibration (quantile offsets, the isotonic map of p_short),
/// and the final trees are fitted on every row.
public struct PriorTrainer: Sendable {
    public var parameters: PriorTrainingParameters

    public init(parameters: PriorTrainingParameters = PriorTrainingParameters()) {
        self.parameters = parameters
    }

    /// `embedder` names the vectors' embedder (`EmbedderDescriptor.name`), `heads` its length heads. The models
    /// learn from the `fitted` examples; the memory holds every representative one.
    public func train(
        _ all: [PriorExample], version: String, source: String, embedder: String = MiniLMEncoder.baseName,
        heads: [LinearHead] = []
    ) -> TrainedPrior {
        // The memory: the representative examples, and for every fitted example its slot there (left out of its
        // neighbours), or its conversation's remembered turn.
        precondition(!all.isEmpty, "need examples")
        let dimension = all[0].embedding.count
        let remembered = all.indices.filter { all[$0].representative }
        var memory = NeighborIndex(dimension: dimension, capacity: remembered.count)
        var slotOf = [Int: Int]()
        var groupSlot: [Int: Int] = [:]
        for (slot, index) in remembered.enumerated() {
            memory.insert(all[index].embedding)
            slotOf[index] = slot
            if let group = all[index].group { groupSlot[group] = groupSlot[group] ?? slot }
        }
        let fittedIndices = all.indices.filter { all[$0].fitted }
        let examples = fittedIndices.map { all[$0] }
        let memorySlot = fittedIndices.map { slotOf[$0] ?? all[$0].group.flatMap { groupSlot[$0] } }
        precondition(examples.count >= 100, "need at least 100 fitted examples")
        let n = examples.count
        let targets = examples.map { log1p(Double($0.outputTokens)) }
        let ranks = PredictionMetrics.ranks(targets).map { ($0 - 0.5) / Double(n) }
        let shortTargets = examples.map { $0.outputTokens <= parameters.shortMaxTokens ? 1.0 : 0.0 }
        let inputs = examples.map {
            OutputLengthTrainer.regressionInput(embedding: $0.embedding, promptTokens: $0.promptTokens)
        }
        let folds = max(2, parameters.folds)
        let fold = examples.indices.map { abs(examples[$0].group ?? $0) % folds }
        let foldRows = (0..<folds).map { f in (0..<n).filter { fold[$0] == f } }
        // Out of fold, so that the trees see each regression as good as it is on prompts it never saw.
        // The heads never saw a fitted example (their layers were tuned on the others), so they need no folds.
        var outOfFold = examples.map { [0, 0, 0, 0, 0] + TrainedPrior.headValues(heads, $0.embedding) }
        for (f, held) in foldRows.enumerated() where !held.isEmpty {
            let train = (0..<n).filter { fold[$0] != f }
            for (column, y) in [targets, ranks, shortTargets].enumerated() {
                let model = RidgeRegression(
                    rows: train.map { inputs[$0] }, targets: train.map { y[$0] }, lambda: parameters.ridgeLambda)
                for i in held { outOfFold[i][column] = model.predict(inputs[i]) }
            }
        }
        // The word regressions read the text, not the embedding, so every example trains them (the fitted ones are
        // a third of them when the encoder was tuned on the rest), out of fold by conversation as above.
        let idf = HashedTextRegression.idf(all.map(\.text))
        let words = all.map { HashedTextRegression.row($0.text, idf: idf) }
        let allRanks = PredictionMetrics.ranks(all.map { log1p(Double($0.outputTokens)) }).map {
            ($0 - 0.5) / Double(all.count)
        }
        let allShort = all.map { $0.outputTokens <= parameters.shortMaxTokens ? 1.0 : 0.0 }
        let wordFold = all.indices.map { abs(all[$0].group ?? $0) % folds }
        let fittedPosition = Dictionary(uniqueKeysWithValues: fittedIndices.enumerated().map { ($1, $0) })
        for f in 0..<folds {
            let held = all.indices.filter { wordFold[$0] == f }.compactMap { fittedPosition[$0] }
            guard !held.isEmpty else { continue }
            let train = all.indices.filter { wordFold[$0] != f }
            for (column, y) in [allRanks, allShort].enumerated() {
                let model = HashedTextRegression(
                    rows: train.map { words[$0] }, targets: train.map { y[$0] }, idf: idf, lambda: parameters.textLambda
                )
                for i in held { outOfFold[i][3 + column] = model.predict(words[fittedIndices[i]]) }
            }
        }
        let representative = examples.indices.filter { examples[$0].representative }
        var prior = TrainedPrior(
            version: version, source: source, embedder: embedder, shortMaxTokens: parameters.shortMaxTokens,
            wideK: parameters.wideK,
            regression: RidgeRegression(rows: inputs, targets: targets, lambda: parameters.ridgeLambda),
            rankRegression: RidgeRegression(rows: inputs, targets: ranks, lambda: parameters.ridgeLambda),
            shortRegression: RidgeRegression(rows: inputs, targets: shortTargets, lambda: parameters.ridgeLambda),
            textRankRegression: HashedTextRegression(
                rows: words, targets: allRanks, idf: idf, lambda: parameters.textLambda),
            textShortRegression: HashedTextRegression(
                rows: words, targets: allShort, idf: idf, lambda: parameters.textLambda),
            heads: heads,
            quantileTrees: [], quantileOffsets: [], shortTrees: LogisticBoostedTrees.empty,
            shortBlend: ScoreBlend(weights: [1, 0]), shortCalibration: IsotonicCalibration(scores: [], outcomes: []),
            memory: memory,
            memoryOutputs: remembered.map { log1p(Double(all[$0].outputTokens)) })
        var features = [[Double]]()
        features.reserveCapacity(n)
        for start in stride(from: 0, to: n, by: 256) {
            let end = min(n, start + 256)
            let scores = memory.similarities(toBatch: examples[start..<end].map(\.embedding))
            for (offset, slotScores) in scores.enumerated() {
                let slot = start + offset
                features.append(
                    TrainedPrior.features(
                        promptTokens: examples[slot].promptTokens, surface: examples[slot].surface,
                        regressions: outOfFold[slot],
                        neighbors: prior.memoryNeighbors(scores: slotScores, excluding: memorySlot[slot]),
                        shortLog: prior.shortLog))
            }
        }
        // Calibration from out-of-fold answers: each row scored by trees that never saw it, so the offsets and the
        // isotonic map describe the final trees on new prompts.
        let labels = examples.map { $0.outputTokens <= parameters.shortMaxTokens }
        let all = Array(0..<n)
        var residuals = [[Double]](repeating: [Double](repeating: 0, count: n), count: LengthDistribution.levels.count)
        var shortScores = [[Double]](repeating: [], count: n)
        for (f, held) in foldRows.enumerated() where !held.isEmpty {
            let train = all.filter { fold[$0] != f }
            for (index, level) in LengthDistribution.levels.enumerated() {
                let partial = quantileModel(level, features: features, targets: targets, rows: train)
                for row in held { residuals[index][row] = targets[row] - partial.predict(features[row]) }
            }
            let partial = shortModel(features: features, labels: labels, rows: train)
            for row in held {
                shortScores[row] = TrainedPrior.shortScores(
                    margin: partial.margin(features[row]),
                    rawLogP50: targets[row] - residuals[TrainedPrior.medianLevel][row])
            }
        }
        // Calibrated on the representative rows only: the others (later turns of a conversation) answer otherwise.
        for (index, level) in LengthDistribution.levels.enumerated() {
            prior.quantileOffsets.append(Quantiles.of(representative.map { residuals[index][$0] }, level))
            prior.quantileTrees.append(quantileModel(level, features: features, targets: targets, rows: all))
        }
        prior.shortBlend = ScoreBlend(
            rows: representative.map { shortScores[$0] }, labels: representative.map { labels[$0] })
        prior.shortCalibration = IsotonicCalibration(
            scores: representative.map { prior.shortBlend.score(shortScores[$0]) },
            outcomes: representative.map { labels[$0] })
        prior.shortTrees = shortModel(features: features, labels: labels, rows: all)
        return prior
    }

    func boosting(_ quantile: Double) -> BoostingParameters {
        BoostingParameters(
            quantile: quantile, rounds: parameters.rounds, learningRate: parameters.learningRate,
            maxDepth: parameters.maxDepth, minSamplesLeaf: parameters.minSamplesLeaf, seed: parameters.seed)
    }

    func quantileModel(_ level: Double, features: [[Double]], targets: [Double], rows: [Int]) -> QuantileBoostedTrees {
        QuantileBoostedTrees(
            features: rows.map { features[$0] }, targets: rows.map { targets[$0] }, parameters: boosting(level))
    }

    func shortModel(features: [[Double]], labels: [Bool], rows: [Int]) -> LogisticBoostedTrees {
        LogisticBoostedTrees(
            features: rows.map { features[$0] }, labels: rows.map { labels[$0] }, parameters: boosting(0.5))
    }
}
