import Foundation
import PredictorCore
import Testing
import TextEngine

/// A strict replay over a committed ShareGPT slice (600 first exchanges, cl100k counts from tiktoken) with the
/// hashed embedder: small and fast, but real prompts and real answer lengths.
@Suite struct ShareGPTSliceTests {
    struct Line: Decodable {
        var prompt: String
        var prompt_tokens: Int
        var output_tokens: Int
    }

    static func rows() throws -> [HistoryRow] {
        let text = try String(contentsOf: FixturePaths.url("sharegpt-slice.jsonl"), encoding: .utf8)
        let lines = try text.split(separator: "\n").map { try JSONDecoder().decode(Line.self, from: Data($0.utf8)) }
        let embedder = HashedNGramEmbedder()
        let vectors = try embedder.embed(lines.map(\.prompt))
        return zip(lines, vectors).enumerated().map { i, pair in
            HistoryRow(
                id: Int64(i + 1), embedding: pair.1, surface: PromptSurface.of(pair.0.prompt).values,
                promptTokens: pair.0.prompt_tokens, outputTokens: pair.0.output_tokens, maxTokens: nil,
                model: "gpt-3.5-turbo", taskType: nil, tenantId: nil, success: true, finishReason: "stop", time: Double(i))
        }
    }

    @Test func replayBeatsTheGlobalMedianOnRealPrompts() throws {
        let rows = try Self.rows()
        #expect(rows.count == 600)
        let evaluator = ReplayEvaluator(
            settings: PredictionSettings(), training: TrainingParameters(minimumRows: 100, rounds: 60), warmup: 200, retrainEvery: 100)
        let report = evaluator.run(rows)
        let median = report.baselines.first { $0.name == "global_median" }!
        #expect(report.predictor.count == 400)
        #expect(report.predictor.mae < median.mae)
        #expect(report.predictor.kendallTau > 0.1)
        #expect(report.predictor.p90Coverage > 0.75)
    }
}
