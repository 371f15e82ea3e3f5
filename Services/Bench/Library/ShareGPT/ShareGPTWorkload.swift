import Contracts
import Foundation
import PredictorCore
import TextEngine

/// The end-to-end benchmark's data: a seed set for the predictor's history and a disjoint measured set replayed as
/// one fixed seeded-Poisson arrival sequence.
struct ShareGPTWorkload: Sendable {
    var seedSet: [ShareGPTSample]
    var measured: [ShareGPTSample]
    /// One per measured sample, same order: arrival (model ms), class, max_tokens, deadline.
    var requests: [WorkloadRequest]
    /// Arrivals per second of model time.
    var rate: Double

    /// Shuffles ShareGPT with `seed`: `seedCount` conversations of the training records for the predictor's history,
    /// `total` of `records` (by default the evaluation pool, without prompts that occur in the training records) to
    /// measure. The arrival rate is `rate`, or else the one that offers `load` times the provider's saturated
    /// throughput (mean reference reply of the measured set × rate = load × tokens/s at the knee): an experiment
    /// setting, fixed before any mode runs, never shown to the scheduler. `labelled` false: clients send no class
    /// (see `DeadlineRule.request`).
    init(
        seedCount: Int, total: Int, seed: UInt64, records: Range<Int>, rate: Double?, load: Double, rule: DeadlineRule,
        model: KneeLatencyModel, labelled: Bool, tokenizer: CL100KTokenizer
    ) throws {
        let exchanges = try ShareGPTDataset.exchanges()
        seedSet =
            seedCount == 0
            ? []
            : try ShareGPTDataset.samples(
                count: seedCount, seed: seed, records: ShareGPTRecords.training, tokenizer: tokenizer, from: exchanges)
        measured = try ShareGPTDataset.samples(
            count: total, seed: seed, records: records, unseenBy: ShareGPTRecords.training, tokenizer: tokenizer,
            from: exchanges)
        let meanOutput = Double(measured.reduce(0) { $0 + $1.outputTokens }) / Double(max(measured.count, 1))
        let rate = rate ?? load * model.saturatedTokensPerSecond / max(meanOutput, 1)
        self.rate = rate
        var generator = SeededGenerator(seed: seed &+ 0xA11_1BA1)
        var clock = 0.0
        requests = measured.enumerated().map { index, sample in
            clock += generator.exponential(mean: 1000 / rate)
            return rule.request(
                index: index, sample: sample.lengths, arrivalMs: clock, model: model, generator: &generator,
                labelled: labelled)
        }
    }

    /// The chat messages a request sends (the first human turn).
    static func messages(_ sample: ShareGPTSample) -> [ChatMessage] {
        [ChatMessage(role: "user", content: sample.prompt)]
    }

    /// The mock's trace: every prompt of both sets with its reference output length.
    func traceLines() throws -> String {
        try (seedSet + measured).map {
            try TraceEntry(
                fingerprint: PromptFingerprint(prompt: nil, messages: Self.messages($0)), outputTokens: $0.outputTokens
            )
            .jsonLine()
        }.joined(separator: "\n") + "\n"
    }

    /// The predictor's seed history, as outcome reports.
    func seedRecords(model: String) -> [OutcomeReport] {
        seedSet.map {
            OutcomeReport(
                messages: Self.messages($0), outputTokens: $0.outputTokens, promptTokens: $0.promptTokens, model: model,
                success: true, finishReason: "stop")
        }
    }
}
