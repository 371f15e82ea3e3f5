import Foundation

/// Why a WordPiece vocabulary could not be used.
public enum WordPieceTokenizerError: Error, CustomStringConvertible {
    case unreadable(URL, String)
    case missingSpecialToken(String)

    public var description: String {
        switch self {
        case .unreadable(let url, let reason): "cannot read \(url.path): \(reason)"
        case .missingSpecialToken(let token): "vocabulary has no \(token) token"
        }
    }
}

/// BERT's uncased WordPiece tokenizer, matching Hugging Face `tokenizers` for all-MiniLM-L6-v2: text cleaning
/// (control characters dropped, whitespace to spaces), CJK characters split out, accents stripped (NFD, nonspacing
/// marks dropped), lower-casing, splitting on whitespace and punctuation, then greedy longest-match WordPiece with
/// `##` continuations, words over 100 characters → `[UNK]`, and `[CLS] … [SEP]`.
public final class WordPieceTokenizer: Sendable {
    public let classifierID: Int
    public let separatorID: Int
    public let unknownID: Int
    public let paddingID: Int
    public let vocabularySize: Int
    /// Words longer than this many characters become `[UNK]` (Hugging Face's `max_input_chars_per_word`).
    public let maxCharactersPerWord = 100

    private let vocabulary: ByteSequenceTable
    private let tokens: [String]
    private let specialTokens: [([UInt8], Int32)]

    /// `tokens[id]` is the token with that id (the lines of `vocab.txt`).
    public init(tokens: [String]) throws {
        self.tokens = tokens
        var firstIDs: [String: Int] = [:]
        for (id, token) in tokens.enumerated() where firstIDs[token] == nil { firstIDs[token] = id }
        func special(_ token: String) throws -> Int {
            guard let id = firstIDs[token] else { throw WordPieceTokenizerError.missingSpecialToken(token) }
            return id
        }
        classifierID = try special("[CLS]")
        separatorID = try special("[SEP]")
        unknownID = try special("[UNK]")
        paddingID = try special("[PAD]")
        vocabularySize = tokens.count
        specialTokens = ["[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"].compactMap { token in
            firstIDs[token].map { (Array(token.utf8), Int32($0)) }
        }
        vocabulary = ByteSequenceTable(entries: firstIDs.map { (Array($0.key.utf8), $0.value) })
    }

    /// Reads `vocab.txt` (one token per line, the line number is the id).
    public static func load(vocabFile: URL) throws -> WordPieceTokenizer {
        let text: String
        do {
            text = try String(contentsOf: vocabFile, encoding: .utf8)
        } catch {
            throw WordPieceTokenizerError.unreadable(vocabFile, "\(error)")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            String($0.hasSuffix("\r") ? $0.dropLast() : $0)
        }
        if lines.last == "" { lines.removeLast() }
        return try WordPieceTokenizer(tokens: lines)
    }

    /// Token ids of `text` with `[CLS]` and `[SEP]`, keeping at most `maxLength` ids (specials included) like
    /// Hugging Face's truncation. Stops reading the text once enough pieces are found, so a megabyte of input costs
    /// no more than its first few hundred words.
    public func encode(_ text: String, maxLength: Int? = 256) -> [Int] {
        let limit = maxLength.map { max($0 - 2, 0) } ?? Int.max
        var ids = [classifierID]
        forEachPiece(of: text) { id in
            guard ids.count - 1 < limit else { return false }
            ids.append(Int(id))
            return ids.count - 1 < limit
        }
        ids.append(separatorID)
        return ids
    }

    /// The tokens of `text` without specials, as strings (`["hello", "##s"]`); for inspection and tests.
    public func tokenize(_ text: String) -> [String] {
        var result: [String] = []
        forEachPiece(of: text) { id in
            result.append(tokens[Int(id)])
            return true
        }
        return result
    }

    /// Feeds each WordPiece id of `text` to `body` until it returns false. Special tokens written literally in the
    /// text (`[CLS]`, `[SEP]`, `[PAD]`, `[UNK]`, `[MASK]`, case-sensitive) are matched first and keep their ids, as
    /// Hugging Face's added-token matching does; the text between them is normalised and split.
    private func forEachPiece(of text: String, _ body: (Int32) -> Bool) {
        var keepGoing = true
        func emit(_ id: Int32) {
            if keepGoing { keepGoing = body(id) }
        }
        let utf8 = text.utf8
        var segmentStart = utf8.startIndex
        var index = segmentStart
        while index < utf8.endIndex && keepGoing {
            if utf8[index] == UInt8(ascii: "["), let (special, end) = specialToken(in: utf8, at: index) {
                forEachPieceOfSegment(text[segmentStart..<index], keepGoing: { keepGoing }, emit)
                emit(special)
                index = end
                segmentStart = end
            } else {
                index = utf8.index(after: index)
            }
        }
        forEachPieceOfSegment(text[segmentStart...], keepGoing: { keepGoing }, emit)
    }

    private func specialToken(in utf8: String.UTF8View, at start: String.Index) -> (Int32, String.Index)? {
        for (bytes, id) in specialTokens {
            var index = start
            var matched = true
            for byte in bytes {
                guard index < utf8.endIndex, utf8[index] == byte else {
                    matched = false
                    break
                }
                index = utf8.index(after: index)
            }
            if matched { return (id, index) }
        }
        return nil
    }

    private func forEachPieceOfSegment(_ segment: Substring, keepGoing: () -> Bool, _ emit: (Int32) -> Void) {
        guard !segment.isEmpty, keepGoing() else { return }
        var splitter = WordSplitter()
        func emitWord(_ word: [UInt8], _ characters: Int) {
            guard keepGoing() else { return }
            wordPieces(word, characters: characters, emit)
        }
        BertNormalizer.forEachNormalizedScalar(of: segment, stop: { !keepGoing() }) { scalar in
            splitter.feed(scalar, emitWord)
        }
        splitter.finish(emitWord)
    }

    /// Greedy longest-match-first WordPiece over one word's UTF-8 bytes; the whole word is `[UNK]` when it is too
    /// long or some remainder matches nothing.
    private func wordPieces(_ word: [UInt8], characters: Int, _ emit: (Int32) -> Void) {
        guard characters <= maxCharactersPerWord else {
            emit(Int32(unknownID))
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: word.count + 2) { scratch in
            scratch[0] = UInt8(ascii: "#")
            scratch[1] = UInt8(ascii: "#")
            _ = UnsafeMutableBufferPointer(rebasing: scratch[2...]).initialize(from: word)
            // scratch = "##" + word; word byte i sits at i + 2. A continuation from `start` is looked up as
            // scratch[start..<end + 2] after writing "##" over the two bytes before it, which are already consumed.
            let base = UnsafePointer(scratch.baseAddress!)
            var found: [Int32] = []
            var start = 0
            while start < word.count {
                if start > 0 {
                    scratch[start] = UInt8(ascii: "#")
                    scratch[start + 1] = UInt8(ascii: "#")
                }
                var end = word.count
                var match = ByteSequenceTable.absent
                while start < end {
                    match =
                        start == 0
                        ? vocabulary.rank(base + 2, end)
                        : vocabulary.rank(base + start, end - start + 2)
                    if match != ByteSequenceTable.absent { break }
                    // Step back one whole character.
                    end -= 1
                    while end > start && word[end] & 0xC0 == 0x80 { end -= 1 }
                }
                if match == ByteSequenceTable.absent {
                    emit(Int32(unknownID))
                    return
                }
                found.append(match)
                start = end
            }
            found.forEach(emit)
        }
    }
}

/// Splits normalised scalars into words at whitespace and punctuation (BERT's pre-tokenizer); punctuation marks
/// are words of their own.
struct WordSplitter {
    private var word: [UInt8] = []
    private var characters = 0

    mutating func feed(_ scalar: Unicode.Scalar, _ emit: ([UInt8], Int) -> Void) {
        if BertNormalizer.isWhitespace(scalar) {
            finish(emit)
        } else if BertNormalizer.isPunctuation(scalar) {
            finish(emit)
            emit(Array(String(scalar).utf8), 1)
        } else {
            appendUTF8(scalar)
            characters += 1
        }
    }

    mutating func finish(_ emit: ([UInt8], Int) -> Void) {
        guard !word.isEmpty else { return }
        emit(word, characters)
        word.removeAll(keepingCapacity: true)
        characters = 0
    }

    private mutating func appendUTF8(_ scalar: Unicode.Scalar) {
        if scalar.isASCII {
            word.append(UInt8(scalar.value))
        } else {
            word.append(contentsOf: String(scalar).utf8)
        }
    }
}
