import Contracts
import Foundation
import PredictorCore
import TextEngine

/// The real-model benchmark's prompts: ShareGPT first turns, each asking either for a one-line answer or for a
/// detailed one, so that about half the burst is short work whatever the model. Nothing tells the scheduler which
/// is which: the predictor learns it from this model's own answers to the seed prompts (the proxy's outcome reports).
struct RealModelWorkload: Sendable {
    /// One request of the burst or of the seed set.
    struct Prompt: Sendable, Codable {
        var index: Int
        /// `short` (asks for one line) or `long` (asks for detail).
        var kind: String
        var text: String
        /// Model ms after the start of the burst.
        var arrivalMs: Double
    }

    static let shortAsk = "Answer in one short sentence."
    static let longAsk = "Answer in detail, with examples."

    var seedSet: [Prompt]
    var burst: [Prompt]

    /// `seedCount` prompts of the training records and `total` of `records` (prompts also in the training records left
    /// out), alternately short and long asks in a seeded order, cut to `maxPromptCharacters`; the burst arrives
    /// `spacingMs` apart.
    init(
        seedCount: Int, total: Int, seed: UInt64, records: Range<Int>, spacingMs: Double, maxPromptCharacters: Int,
        tokenizer: CL100KTokenizer
    ) throws {
        let exchanges = try ShareGPTDataset.exchanges()
        func prompts(_ samples: [ShareGPTSample], spacingMs: Double) -> [Prompt] {
            var generator = SeededGenerator(seed: seed &+ 0x5107)
            var kinds = (0..<samples.count).map { $0 % 2 == 0 ? "short" : "long" }
            kinds.shuffle(using: &generator)
            return samples.enumerated().map { index, sample in
                let ask = kinds[index] == "short" ? Self.shortAsk : Self.longAsk
                let text = String(sample.prompt.prefix(maxPromptCharacters)) + "\n\n" + ask
                return Prompt(index: index, kind: kinds[index], text: text, arrivalMs: Double(index) * spacingMs)
            }
        }
        seedSet = prompts(
            seedCount == 0
                ? []
                : try ShareGPTDataset.samples(
                    count: seedCount, seed: seed, records: ShareGPTRecords.training, tokenizer: tokenizer,
                    from: exchanges),
            spacingMs: 0)
        burst = prompts(
            try ShareGPTDataset.samples(
                count: total, seed: seed, records: records, unseenBy: ShareGPTRecords.training, tokenizer: tokenizer,
                from: exchanges),
            spacingMs: spacingMs)
    }

    static func messages(_ prompt: Prompt) -> [ChatMessage] {
        [ChatMessage(role: "user", content: prompt.text)]
    }
}
