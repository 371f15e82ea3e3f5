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
        guard streaming else {
            if body.count + chunk.count <= bodyLimit {
                body.append(contentsOf: chunk)
            } else {
                bodyOverflowed = true
            }
            return
        }
        for byte in chunk {
            if byte == 0x0A {
                handleLine()
                pending.removeAll(keepingCapacity: true)
            } else {
                pending.append(byte)
            }
        }
    }

    /// Finishes scanning and returns what was learnt.
    public mutating func finish() -> ResponseFacts {
        if streaming {
            if !pending.isEmpty { handleLine() }
            pending.removeAll()
        } else if !bodyOverflowed, !body.isEmpty, let answer = try? JSONDecoder().decode(AnswerSummary.self, from: Data(body)) {
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
        guard !line.isEmpty, !line.elementsEqual("[DONE]".utf8) else { return }
        guard let answer = try? JSONDecoder().decode(AnswerSummary.self, from: Data(line)) else { return }
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
            if let text = choice.delta?.content ?? choice.message?.content ?? choice.text, facts.streamedText.utf8.count < Self.textLimit {
                facts.streamedText += text
            }
        }
    }
}

/// The parts of a completion, chat completion, chunk or embeddings answer the proxy reads.
struct AnswerSummary: Decodable {
    struct Usage: Decodable {
        var promptTokens: Int?
        var completionTokens: Int?
        var totalTokens: Int?

        enum CodingKeys: String, CodingKey {
            case promptTokens = "prompt_tokens"
            case completionTokens = "completion_tokens"
            case totalTokens = "total_tokens"
        }
    }

    struct Delta: Decodable {
        var content: String?
    }

    struct Choice: Decodable {
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
