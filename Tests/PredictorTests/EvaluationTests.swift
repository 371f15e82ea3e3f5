import Contracts
import Foundation
import PredictorCore
import Testing

@Suite struct EvaluationTests {
    @Test func kendallTauBCountsConcordantPairsAndTies() {
        #expect(abs(PredictionMetrics.kendallTauB([1, 2, 3], [1, 3, 2]) - 1.0 / 3) < 1e-12)
        #expect(PredictionMetrics.kendallTauB([1, 2, 3], [3, 2, 1]) == -1)
        // x = [1, 1, 2], y = [1, 2, 3]: pairs (1,2) tie in x, (1,3) and (2,3) concordant → 2 / sqrt(2 · 3).
        #expect(abs(PredictionMetrics.kendallTauB([1, 1, 2], [1, 2, 3]) - 2 / 6.0.squareRoot()) < 1e-12)
    }

    @Test func ranksAverageTies() {
        #expect(PredictionMetrics.ranks([10, 20, 20, 5]) == [2, 3.5, 3.5, 1])
    }

    @Test func metricsOnATinyCase() {
        let buckets = SizeBuckets(shortMax: 10, mediumMax: 100)
        let metrics = PredictionMetrics(
            name: "t", p50: [5, 50, 500, 50], p90: [8, 90, 900, 60], truth: [6, 40, 700, 70], buckets: buckets)
        #expect(metrics.mae == 231.0 / 4)
        #expect(metrics.p90Coverage == 0.75)  // 6 ≤ 8, 40 ≤ 90, 700 ≤ 900, 70 > 60
        #expect(metrics.confusion == [[1, 0, 0], [0, 2, 0], [0, 0, 1]])
        #expect(metrics.macroF1 == 1)
        // One tie in the predictions (50, 50), every other pair concordant: 5 / sqrt(6 · 5).
        #expect(abs(metrics.kendallTau - 5 / 30.0.squareRoot()) < 1e-12)
        #expect(metrics.spearman > 0.9)
        #expect(metrics.predictedShares == [0.25, 0.5, 0.25])
    }

    /// Rows on two topics with different lengths; the replay must learn the split from the past only.
    static func topicRows(count: Int) -> [HistoryRow] {
        var random = SplitMix64(seed: 11)
        return (0..<count).map { i in
            let long = random.nextUnit() < 0.5
            var vector = (0..<8).map { _ in Float(random.nextUnit() * 0.3) }
            vector[long ? 0 : 1] += 1
            let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let output = long ? 400 + Int(random.nextUnit() * 200) : 20 + Int(random.nextUnit() * 20)
            return HistoryRow(
                id: Int64(i + 1), embedding: vector.map { $0 / norm }, surface: PromptSurface.of("hello").values,
                promptTokens: 10, outputTokens: output, maxTokens: nil, model: "m", taskType: nil, tenantId: nil,
                success: true, finishReason: "stop", time: Double(i))
        }
    }

    @Test func strictReplayLearnsTopicsAndBeatsTheGlobalMedian() {
        let evaluator = ReplayEvaluator(
            settings: PredictionSettings(), training: TrainingParameters(minimumRows: 50, rounds: 30), warmup: 60,
            retrainEvery: 50)
        let report = evaluator.run(Self.topicRows(count: 200))
        #expect(report.predictor.count == 140)
        // The per-request record (what `evaluate --dump` writes) is the scored requests, in order, with the truth.
        let rows = Self.topicRows(count: 200)
        #expect(report.predictions.count == 140)
        #expect(report.predictions.map(\.outputTokens) == rows.dropFirst(60).map(\.outputTokens))
        #expect(report.predictions.allSatisfy { $0.p90 >= $0.p50 && $0.p50 > 0 })
        let median = report.baselines.first { $0.name == "global_median" }!
        #expect(report.predictor.mae < 0.5 * median.mae)
        #expect(report.predictor.kendallTau > 0.5)
        #expect(report.predictor.macroF1 > 0.5)
    }

    @Test func strictReplayNeverSeesTheRowItPredicts() {
        // Every row is identical except its output: a leak of the row's own output would make MAE 0.
        let surface = PromptSurface.of("x").values
        let rows: [HistoryRow] = (0..<80).map { (i: Int) -> HistoryRow in
            let output: Int = i % 2 == 0 ? 10 : 1000
            return HistoryRow(
                id: Int64(i + 1), embedding: [1, 0], surface: surface, promptTokens: 5,
                outputTokens: output, maxTokens: nil, model: "m", taskType: nil, tenantId: nil,
                success: true, finishReason: nil, time: Double(i))
        }
        let report = ReplayEvaluator(
            settings: PredictionSettings(), training: TrainingParameters(minimumRows: 1000), warmup: 20
        ).run(rows)
        #expect(report.predictor.mae > 100)
    }

    @Test func shareGPTParserKeepsCompleteRecordsOfACutFile() throws {
        let data = try Data(contentsOf: FixturePaths.url("sharegpt-cut.json"))
        let exchanges = ShareGPTCorpus.exchanges(from: data)
        #expect(exchanges.count == 5)
        #expect(exchanges.allSatisfy { !$0.prompt.isEmpty && !$0.reply.isEmpty })
        // Every turn: each record's first exchange is the one above, and later ones follow in order.
        let all = ShareGPTCorpus.exchanges(from: data, allTurns: true)
        #expect(all.count > exchanges.count)
        #expect(all.filter { $0.turn == 0 } == exchanges)
        #expect(
            all.allSatisfy { exchange in
                exchange.turn == 0 || all.contains { $0.record == exchange.record && $0.turn == exchange.turn - 1 }
            })
    }

    @Test func everyTurnReadsEachHumanTurnThatAReplyFollows() {
        let json = """
            [{"id": "x", "conversations": [{"from": "gpt", "value": "hello"}, {"from": "human", "value": "q1"},
              {"from": "gpt", "value": "a1"}, {"from": "human", "value": "q2"}, {"from": "human", "value": "q3"},
              {"from": "gpt", "value": "a3"}, {"from": "human", "value": "q4"}]},
             {"id": "y", "conversations": [{"from": "human", "value": "only"}]},
             {"id": "z", "conversations": [{"from": "human", "value": "z1"}, {"from": "gpt", "value": "b1"}]}]
            """
        let all = ShareGPTCorpus.exchanges(from: Data(json.utf8), allTurns: true)
        #expect(all.map(\.prompt) == ["q1", "q3", "z1"])
        #expect(all.map(\.reply) == ["a1", "a3", "b1"])
        #expect(all.map(\.turn) == [0, 1, 0])
        #expect(all.map(\.record) == [0, 0, 2])
        #expect(ShareGPTCorpus.exchanges(from: Data(json.utf8)).map(\.prompt) == ["q1", "z1"])
    }

    @Test func shareGPTSampleAppliesVLLMFilters() {
        let exchanges = [
            ShareGPTCorpus.Exchange(id: "a", prompt: "one two three four five", reply: "a b c d e"),
            ShareGPTCorpus.Exchange(id: "b", prompt: "hi", reply: "a b c d e"),
            ShareGPTCorpus.Exchange(id: "c", prompt: "one two three four", reply: "no"),
            ShareGPTCorpus.Exchange(id: "d", prompt: String(repeating: "w ", count: 1100), reply: "a b c d"),
            ShareGPTCorpus.Exchange(
                id: "e", prompt: String(repeating: "w ", count: 1000), reply: String(repeating: "r ", count: 1100)),
        ]
        let counter: (String) -> Int = { $0.split(separator: " ").count }
        let sample = ShareGPTCorpus.sample(exchanges, count: 10, seed: 1, tokenCount: counter)
        #expect(sample.map(\.id) == ["a"])
        let again = ShareGPTCorpus.sample(
            exchanges + exchanges.map { .init(id: $0.id + "2", prompt: $0.prompt, reply: $0.reply) }, count: 2, seed: 3,
            tokenCount: counter)
        #expect(Set(again.map(\.id)) == ["a", "a2"])
    }
}

enum FixturePaths {
    static func url(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/predictor/\(name)")
    }
}
