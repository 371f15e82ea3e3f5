import Contracts
import Foundation

/// What the proxy learns from an upstream answer as it passes: usage, finish reason, and (for streams
/// without usage) the generated text, so output tokens can be counted locally.
public struct ResponseFacts: Sendable, Equatable {
    public var promptTokens: Int?
    public var completionTokens: Int?
    public var totalTokens: Int?
    public var finishReason: String?
    /// Generated text seen in the answer, capped at `UsageScanner.textLimit` bytes.
    public var streamedText: String = ""

    public init() {}
}

/// Reads usage and finish reasons from SSE `data:` lines or a whole JSON answer, fed chunk by chunk after
/// each chunk was already passed on, so it never delays the client.
public struct UsageScanner: Sendable {
    public static let textLimit = 1 << 20
    public private(set) var facts = ResponseFacts()
    /// Whether a stream's closing `data: [DONE]` has passed: the answer is whole even if nothing more is read.
    public private(set) var sawDone = false
    private var pending: [UInt8] = []
    private let streaming: Bool
    /// Bytes of a non-streaming body kept for parsing at the end (bounded by `bodyLimit`).
    private var body: [UInt8] = []
    private var bodyOverflowed = false
    private let bodyLimit: Int

    public init(streaming: Bool, bodyLimit: Int = 4 << 20) {
        self.streaming = streaming
        self.bodyLimit = bodyLimit
    }

    /// Feeds the next chunk of the upstream's body.
    public mutating func feed<Bytes: Collection>(_ chunk: Bytes) where Bytes.Element == UInt8 {
        let fed = chunk.withContiguousStorageIfAvailable { feed(UnsafeRawBufferPointer($0)) }
        if fed == nil { feed(Array(chunk)) }
    }

    /// Feeds the next chunk of the upstream's body from contiguous memory (no generic dispatch per byte: this runs
    /// for every chunk of every stream).
    public mutating func feed(_ chunk: UnsafeRawBufferPointer) {
        guard !chunk.isEmpty else { return }
        guard streaming else {
            if body.count + chunk.count <= bodyLimit {
                body.append(contentsOf: chunk)
            } else {
                bodyOverflowed = true
            }
            return
        }
        var start = 0
        while start < chunk.count, let found = memchr(chunk.baseAddress! + start, 0x0A, chunk.count - start) {
            let newline = chunk.baseAddress!.distance(to: UnsafeRawPointer(found))
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[start..<newline]))
            handleLine()
            pending.removeAll(keepingCapacity: true)
            start = newline + 1
        }
        if start < chunk.count { pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[start...])) }
    }

    /// Finishes scanning and returns what was learnt.
    public mutating func finish() -> ResponseFacts {
        if streaming {
            if !pending.isEmpty { handleLine() }
            pending.removeAll()
        } else if !bodyOverflowed, !body.isEmpty, let answer = AnswerSummary.decode(body[...]) {
            apply(answer)
        }
        return facts
    }

    private mutating func handleLine() {
        var line = pending[...]
        if line.last == 0x0D { line = line.dropLast() }
        guard line.starts(with: "data:".utf8) else { return }
        line = line.dropFirst(5)
        while line.first == 0x20 { line = line.dropFirst() }
        guard !line.isEmpty else { return }
        if line.elementsEqual("[DONE]".utf8) {
            sawDone = true
            return
        }
        guard let answer = AnswerSummary.decode(line) else { return }
        apply(answer)
    }

    private mutating func apply(_ answer: AnswerSummary) {
        if let usage = answer.usage {
            facts.promptTokens = usage.promptTokens ?? facts.promptTokens
            facts.completionTokens = usage.completionTokens ?? facts.completionTokens
            facts.totalTokens = usage.totalTokens ?? facts.totalTokens
        }
        for choice in answer.choices ?? [] {
            if let reason = choice.finishReason { facts.finishReason = reason }
            if let text = choice.delta?.content ?? choice.message?.content ?? choice.text,
                facts.streamedText.utf8.count < Self.textLimit
            {
                facts.streamedText += text
            }
        }
    }
}

/// The parts of a completion, chat completion, chunk or embeddings answer the proxy reads.
struct AnswerSummary: Decodable, Equatable {
    struct Usage: Decodable, Equatable {
        var promptTokens: Int?
        var completionTokens: Int?
        var totalTokens: Int?

        enum CodingKeys: String, CodingKey {
            case promptTokens = "prompt_tokens"
            case completionTokens = "completion_tokens"
            case totalTokens = "total_tokens"
        }
    }

    struct Delta: Decodable, Equatable {
        var content: String?
    }

    struct Choice: Decodable, Equatable {
        var finishReason: String?
        var delta: Delta?
        var message: Delta?
        var text: String?

        enum CodingKeys: String, CodingKey {
            case delta, message, text
            case finishReason = "finish_reason"
        }
    }

    var usage: Usage?
    var choices: [Choice]?
}

extension AnswerSummary {
    /// The summary of an answer or chunk: read by `JSONReader` when it has the usual shape, else by
    /// `JSONDecoder` (which decides what an unusual one yields); nil when it is not such an answer.
    static func decode(_ bytes: ArraySlice<UInt8>) -> AnswerSummary? {
        if let fast = bytes.withUnsafeBytes({ JSONReader.document($0, maxDepth: 64, read) }) { return fast }
        return try? JSONDecoder().decode(AnswerSummary.self, from: Data(bytes))
    }

    /// Nil on anything but the usual shape (a field of another type, a repeated key, malformed JSON).
    static func read(_ reader: inout JSONReader) -> AnswerSummary? {
        var answer = AnswerSummary()
        let read = reader.readObject(known: ["usage", "choices"]) { reader, key in
            if key == "usage" { return reader.readOptional(Usage.read, into: &answer.usage) }
            return reader.readOptional({ $0.readList(Choice.read) }, into: &answer.choices)
        }
        return read ? answer : nil
    }
}

extension AnswerSummary.Usage {
    static func read(_ reader: inout JSONReader) -> AnswerSummary.Usage? {
        var usage = AnswerSummary.Usage()
        let read = reader.readObject(known: ["prompt_tokens", "completion_tokens", "total_tokens"]) { reader, key in
            switch key {
            case "prompt_tokens": return reader.readOptional({ $0.readInt() }, into: &usage.promptTokens)
            case "completion_tokens": return reader.readOptional({ $0.readInt() }, into: &usage.completionTokens)
            default: return reader.readOptional({ $0.readInt() }, into: &usage.totalTokens)
            }
        }
        return read ? usage : nil
    }
}

extension AnswerSummary.Choice {
    static func read(_ reader: inout JSONReader) -> AnswerSummary.Choice? {
        var choice = AnswerSummary.Choice()
        let read = reader.readObject(known: ["finish_reason", "delta", "message", "text"]) { reader, key in
            switch key {
            case "finish_reason": return reader.readOptional({ $0.readString() }, into: &choice.finishReason)
            case "delta": return reader.readOptional(AnswerSummary.Delta.read, into: &choice.delta)
            case "message": return reader.readOptional(AnswerSummary.Delta.read, into: &choice.message)
            default: return reader.readOptional({ $0.readString() }, into: &choice.text)
            }
        }
        return read ? choice : nil
    }
}

extension AnswerSummary.Delta {
    static func read(_ reader: inout JSONReader) -> AnswerSummary.Delta? {
        var delta = AnswerSummary.Delta()
        let read = reader.readObject(known: ["content"]) { reader, _ in
            reader.readOptional({ $0.readString() }, into: &delta.content)
        }
        return read ? delta : nil
    }
}
