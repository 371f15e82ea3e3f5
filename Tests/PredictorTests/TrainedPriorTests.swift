import Foundation
import Testing
import TextEngine

@testable import PredictorCore

@Suite struct TrainedPriorTests {
    /// Prompts on two topics with different answer lengths: topic A short (about 40 tokens), topic B long (about
    /// 600); the embedding says the topic, with noise.
    static func examples(count: Int, seed: UInt64) -> [PriorExample] {
        var random = SplitMix64(seed: seed)
        return (0..<count).map { index in
            let long = index % 2 == 0
            var vector = (0..<16).map { _ in Float(random.nextUnit() - 0.5) * 0.3 }
            vector[long ? 0 : 1] += 1
            let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let output = long ? 450 + Int(random.nextUnit() * 300) : 20 + Int(random.nextUnit() * 40)
            return PriorExample(
                embedding: vector.map { $0 / norm }, surface: [Float](repeating: 0, count: PromptSurface.count),
                promptTokens: 20 + index % 7, outputTokens: output)
        }
    }

    static func smallParameters() -> PriorTrainingParameters {
        var parameters = PriorTrainingParameters()
        parameters.rounds = 40
        parameters.wideK = 20
        return parameters
    }

    static func query(_ example: PriorExample) -> PredictionQuery {
        PredictionQuery(
            embedding: example.embedding, surface: example.surface, promptTokens: example.promptTokens, maxTokens: nil,
            model: "m")
    }

    @Test func separatesShortFromLongTopicsWithCalibratedQuantiles() {
        let prior = PriorTrainer(parameters: Self.smallParameters()).train(
            Self.examples(count: 400, seed: 1), version: "t", source: "synthetic")
        let held = Self.examples(count: 100, seed: 2)
        let distributions = held.map { prior.distribution(Self.query($0)) }
        for (example, distribution) in zip(held, distributions) {
            #expect(distribution.logP10 <= distribution.logP50 && distribution.logP50 <= distribution.logP90)
            #expect(distribution.logP90 <= distribution.logP99)
            if example.outputTokens > 256 {
                #expect(distribution.pShort < 0.2)
                #expect(expm1(distribution.logP50) > 300)
            } else {
                #expect(distribution.pShort > 0.8)
                #expect(expm1(distribution.logP50) < 100)
            }
        }
        let covered = zip(held, distributions).filter { log1p(Double($0.outputTokens)) <= $1.logP90 }.count
        #expect(covered >= 80)
    }

    @Test func examplesNotRememberedTrainTheModelsButStayOutOfTheMemory() {
        // Conversations of four turns on one topic each; only the first turn of each joins the memory.
        let examples = Self.examples(count: 600, seed: 11).enumerated().map { index, example in
            var example = example
            example.group = index / 8 * 2 + index % 2
            example.representative = index % 8 < 2
            return example
        }
        let prior = PriorTrainer(parameters: Self.smallParameters()).train(examples, version: "t", source: "synthetic")
        #expect(prior.memory.count == examples.filter(\.representative).count)
        #expect(prior.memoryOutputs.count == prior.memory.count)
        let held = Self.examples(count: 100, seed: 12)
        let separated = held.filter { example in
            let pShort = prior.distribution(Self.query(example)).pShort
            return example.outputTokens > 256 ? pShort < 0.2 : pShort > 0.8
        }
        #expect(separated.count >= 95)
    }

    @Test func examplesTheEmbedderWasTunedOnAreRememberedButTrainNoModel() {
        let fitted = Self.examples(count: 300, seed: 21)
        // Rows that would mislead the models: short-topic vectors with very long answers.
        let misleading = Self.examples(count: 200, seed: 22).map { example -> PriorExample in
            var example = example
            example.outputTokens = 3000
            example.fitted = false
            return example
        }
        let trainer = PriorTrainer(parameters: Self.smallParameters())
        let alone = trainer.train(fitted, version: "t", source: "synthetic", embedder: "e")
        let hidden = trainer.train(
            fitted
                + misleading.map {
                    var example = $0; example.representative = false; return example
                },
            version: "t", source: "synthetic", embedder: "e")
        let remembered = trainer.train(fitted + misleading, version: "t", source: "synthetic", embedder: "e")
        #expect(remembered.embedder == "e")
        // Unfitted and not remembered: the same prior as without them.
        #expect(hidden.memory.count == 300)
        for example in Self.examples(count: 20, seed: 23) {
            #expect(hidden.distribution(Self.query(example)) == alone.distribution(Self.query(example)))
        }
        // Remembered: they are neighbours whose answers count (a neighbour's answer is true either way).
        #expect(remembered.memory.count == 500)
        #expect(remembered.memoryOutputs.filter { $0 > log1p(2999) }.count == 200)
    }

    @Test func aPriorOnlyAnswersForTheEmbedderItWasTrainedOn() throws {
        let prior = PriorTrainer(parameters: Self.smallParameters()).train(
            Self.examples(count: 300, seed: 3), version: "t", source: "synthetic",
            embedder: "all-MiniLM-L6-v2+layers-0123456789abcdef")
        let loaded = try PriorArtifact.decode(try PriorArtifact.encode(prior))
        #expect(loaded.embedder == "all-MiniLM-L6-v2+layers-0123456789abcdef")
        // A file that does not say (written before the field) was trained on the base model.
        var object = try #require(
            try JSONSerialization.jsonObject(with: try PriorArtifact.encode(prior)) as? [String: Any])
        object.removeValue(forKey: "embedder")
        let old = try PriorArtifact.decode(try JSONSerialization.data(withJSONObject: object))
        #expect(old.embedder == MiniLMEncoder.baseName)
    }

    @Test func theShippedFileGivesTheSameAnswersAsTheTrainedPrior() throws {
        let prior = PriorTrainer(parameters: Self.smallParameters()).train(
            Self.examples(count: 300, seed: 3), version: "t", source: "synthetic")
        let loaded = try PriorArtifact.decode(try PriorArtifact.encode(prior))
        #expect(loaded.version == "t" && loaded.memoryOutputs.count == 300)
        for example in Self.examples(count: 20, seed: 4) {
            let original = prior.distribution(Self.query(example))
            let reloaded = loaded.distribution(Self.query(example))
            // The memory is stored as int8, so neighbour similarities move in the third decimal.
            #expect(abs(original.logP50 - reloaded.logP50) < 0.15)
            #expect(abs(original.pShort - reloaded.pShort) < 0.1)
        }
        #expect(throws: PriorArtifactError.self) { try PriorArtifact.decode(Data("{\"format\":\"x\"}".utf8)) }
    }

    @Test func theEncodersHeadsAreFeaturesAndTravelWithTheFile() throws {
        // The answer's length is in one faint component of the vector, drowned by the others: a ridge on 300
        // examples barely finds it, a head that reads exactly that component ranks every answer.
        func faint(count: Int, seed: UInt64) -> [PriorExample] {
            var random = SplitMix64(seed: seed)
            return (0..<count).map { _ in
                let size = random.nextUnit()
                var vector = (0..<16).map { _ in Float(random.nextUnit() - 0.5) }
                vector[0] = Float(size) * 0.02
                return PriorExample(
                    embedding: vector, surface: [Float](repeating: 0, count: PromptSurface.count), promptTokens: 20,
                    outputTokens: 10 + Int(size * 1000))
            }
        }
        var head = [Float](repeating: 0, count: 16)
        head[0] = 50
        let heads = [LinearHead(weights: head, bias: 0), LinearHead(weights: head.map { -$0 }, bias: 0)]
        var parameters = Self.smallParameters()
        parameters.minSamplesLeaf = 5
        let trainer = PriorTrainer(parameters: parameters)
        let training = faint(count: 300, seed: 31)
        let with = trainer.train(training, version: "t", source: "synthetic", heads: heads)
        let without = trainer.train(training, version: "t", source: "synthetic")
        let held = faint(count: 200, seed: 32)
        let truth = held.map { log1p(Double($0.outputTokens)) }
        func tau(_ prior: TrainedPrior) -> Double {
            PredictionMetrics.kendallTauB(held.map { prior.distribution(Self.query($0)).logP50 }, truth)
        }
        #expect(tau(with) > 0.8)
        #expect(tau(with) > tau(without) + 0.2)
        let loaded = try PriorArtifact.decode(try PriorArtifact.encode(with))
        #expect(loaded.heads == heads)
        #expect(without.heads.isEmpty)
    }

    @Test func liveHistoryJoinsTheNeighbours() {
        let prior = PriorTrainer(parameters: Self.smallParameters()).train(
            Self.examples(count: 300, seed: 5), version: "t", source: "synthetic")
        // A new topic the memory never saw, always answered with about 2,000 tokens.
        var vector = [Float](repeating: 0, count: 16)
        vector[5] = 1
        let query = PredictionQuery(
            embedding: vector, surface: [Float](repeating: 0, count: PromptSurface.count), promptTokens: 20,
            maxTokens: nil,
            model: "m")
        var history = HistoryPool(dimension: 16, capacity: 100)
        for index in 0..<30 {
            history.insert(
                HistoryRow(
                    id: Int64(index), embedding: vector, surface: query.surface, promptTokens: 20, outputTokens: 2000,
                    maxTokens: nil, model: "m", taskType: nil, tenantId: nil, success: true, finishReason: nil, time: 0)
            )
        }
        let before = prior.distribution(query)
        let after = prior.distribution(query, history: history)
        #expect(after.logP50 > before.logP50)
        #expect(after.pShort <= before.pShort)
    }

    @Test func wordRegressionLearnsWhatTheWordsAsk() {
        let texts = (0..<200).map {
            $0 % 2 == 0 ? "please write an essay about topic \($0)" : "just answer yes or no about topic \($0)"
        }
        let targets = (0..<200).map { $0 % 2 == 0 ? 1.0 : 0.0 }
        let idf = HashedTextRegression.idf(texts)
        let model = HashedTextRegression(
            rows: texts.map { HashedTextRegression.row($0, idf: idf) }, targets: targets, idf: idf, lambda: 1)
        #expect(model.predict(text: "write an essay on rivers") > 0.6)
        #expect(model.predict(text: "just answer yes or no: is it raining") < 0.4)
        // Rows are L2-normalised and stable across calls.
        let row = HashedTextRegression.row("One two two three", idf: nil)
        #expect(abs(row.reduce(Float(0)) { $0 + $1.1 * $1.1 } - 1) < 1e-5)
        #expect(row.map(\.0) == HashedTextRegression.row("one TWO two, three!", idf: nil).map(\.0))
    }

    @Test func isotonicCalibrationIsMonotoneAndMatchesObservedRates() {
        let scores = (0..<1000).map { Double($0) / 1000 }
        // The true rate rises with the score, but not linearly.
        var random = SplitMix64(seed: 9)
        let outcomes = scores.map { random.nextUnit() < $0 * $0 }
        let calibration = IsotonicCalibration(scores: scores, outcomes: outcomes)
        let probes = stride(from: 0.0, through: 1.0, by: 0.05).map { calibration.probability($0) }
        #expect(zip(probes, probes.dropFirst()).allSatisfy { $0 <= $1 })
        #expect(abs(calibration.probability(0.5) - 0.25) < 0.1)
        #expect(calibration.probability(-5) >= 0.01 && calibration.probability(5) <= 0.99)
    }

    @Test func aScoreBlendRecoversTheWeightsOfALogisticModel() {
        var random = SplitMix64(seed: 21)
        let rows = (0..<4000).map { _ in [random.nextUnit() * 4 - 2, random.nextUnit() * 4 - 2] }
        let labels = rows.map { random.nextUnit() < 1 / (1 + exp(-(1.5 * $0[0] - 0.8 * $0[1] + 0.4))) }
        let blend = ScoreBlend(rows: rows, labels: labels, lambda: 0)
        #expect(abs(blend.weights[0] - 1.5) < 0.25 && abs(blend.weights[1] + 0.8) < 0.2, "\(blend)")
        #expect(abs(blend.intercept - 0.4) < 0.2)
        // A score no label depends on gets a weight near zero.
        let noise = rows.map { [$0[0], random.nextUnit()] }
        #expect(abs(ScoreBlend(rows: noise, labels: labels).weights[1]) < 0.4)
        #expect(ScoreBlend.solve([[1, 2], [2, 4]], [1, 2]) == nil)
    }

    @Test func aPriorFileWithoutAShortBlendReadsTheClassifierAloneAndABadBlendIsRefused() throws {
        let prior = PriorTrainer(parameters: Self.smallParameters()).train(
            Self.examples(count: 300, seed: 5), version: "t", source: "synthetic")
        #expect(prior.shortBlend.weights.count == 2)
        var object = try #require(
            try JSONSerialization.jsonObject(with: try PriorArtifact.encode(prior)) as? [String: Any])
        object["short_blend"] = nil
        let classifierAlone = try PriorArtifact.decode(try JSONSerialization.data(withJSONObject: object))
        #expect(classifierAlone.shortBlend == ScoreBlend(weights: [1, 0]))
        object["short_blend"] = ["weights": [1], "intercept": 0]
        #expect(throws: PriorArtifactError.self) {
            try PriorArtifact.decode(try JSONSerialization.data(withJSONObject: object))
        }
    }

    @Test func logisticTreesLearnAThreshold() {
        var random = SplitMix64(seed: 11)
        let rows = (0..<600).map { _ in [random.nextUnit(), random.nextUnit()] }
        let labels = rows.map { $0[0] > 0.6 }
        let model = LogisticBoostedTrees(
            features: rows, labels: labels, parameters: BoostingParameters(quantile: 0.5, rounds: 60, learningRate: 0.2)
        )
        #expect(model.probability([0.9, 0.5]) > 0.8)
        #expect(model.probability([0.2, 0.5]) < 0.2)
    }

    @Test func shortProbabilityMetricsScoreRankingAndCalibration() {
        let perfect = ShortProbabilityMetrics(
            probabilities: [0.9, 0.8, 0.2, 0.1], outcomes: [true, true, false, false])
        #expect(perfect.auc == 1)
        let reversed = ShortProbabilityMetrics(
            probabilities: [0.1, 0.2, 0.8, 0.9], outcomes: [true, true, false, false])
        #expect(reversed.auc == 0)
        // Always 0.5 on a half-short set: perfectly calibrated, no ranking.
        let flat = ShortProbabilityMetrics(probabilities: [0.5, 0.5, 0.5, 0.5], outcomes: [true, false, true, false])
        #expect(flat.auc == 0.5 && flat.calibrationError < 1e-9)
    }

    @Test func recordRangesParseAndRefuseNonsense() {
        #expect(ShareGPTRecords.parse("10000:13671") == 10_000..<13_671)
        #expect(ShareGPTRecords.parse(":100") == 0..<100)
        #expect(ShareGPTRecords.parse("5:")?.lowerBound == 5)
        for bad in ["", "10", "5:5", "9:3", "a:b", "-1:4"] { #expect(ShareGPTRecords.parse(bad) == nil) }
    }

    @Test func samplesKeepTheirRecordsAndLeaveOutTrainingPrompts() {
        // Record 4 repeats record 1's prompt word for word.
        let exchanges = (0..<6).map {
            ShareGPTCorpus.Exchange(
                id: "r\($0)", record: $0, prompt: "prompt \($0 == 4 ? 1 : $0) x y", reply: "a b c d e")
        }
        let counter: (String) -> Int = { $0.split(separator: " ").count + 2 }
        let sample = ShareGPTCorpus.sample(
            exchanges, count: 10, seed: 1, records: 3..<6, unseenBy: 0..<3, tokenCount: counter)
        #expect(Set(sample.map(\.record)) == [3, 5])
    }
}
