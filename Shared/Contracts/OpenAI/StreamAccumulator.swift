import Foundation

/// Reads a chat completion answer as it passes — server-sent events or one JSON document — and keeps what a client
/// records of it: the text, the finish reason and the usage (or, without a usage chunk, the content chunks seen).
/// The scheduler reads the proxy's answers with it, the benchmarks their own calls.
public struct StreamAccumulator: Sendable {
    public private(set) var text = ""
    public private(set) var finishReason: String?
    public private(set) var usage: Usage?
    public private(set) var contentChunks = 0
    private var pending: [UInt8] = []
    private let decoder = JSONDecoder()
    /// Whether the answer is an event stream (else one JSON document, read at the end).
    public let streaming: Bool

    public init(streaming: Bool = true) {
        self.streaming = streaming
    }

    /// Feeds bytes of the answer as they arrive.
    public mutating func feed<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        pending.append(contentsOf: bytes)
        guard streaming else { return }
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            let line = pending[..<newline]
            pending.removeSubrange(...newline)
            consume(line: line)
        }
    }

    private mutating func consume(line: ArraySlice<UInt8>) {
        var line = line
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        let prefix = Array("data:".utf8)
        guard line.starts(with: prefix) else { return }
        var payload = line.dropFirst(prefix.count)
        while payload.first == UInt8(ascii: " ") { payload = payload.dropFirst() }
        guard !payload.elementsEqual("[DONE]".utf8),
            let chunk = try? decoder.decode(ChatCompletionChunk.self, from: Data(payload))
        else { return }
        for choice in chunk.choices {
            if let content = choice.delta.content, !content.isEmpty {
                text += content
                contentChunks += 1
            }
            if let reason = choice.finishReason { finishReason = reason }
        }
        if let usage = chunk.usage { self.usage = usage }
    }

    /// Marks the end of the answer: a JSON document is read now.
    public mutating func end() {
        guard !streaming else { return }
        guard let response = try? decoder.decode(ChatCompletionResponse.self, from: Data(pending)) else { return }
        text = response.choices.first?.message.content?.plainText ?? ""
        finishReason = response.choices.first?.finishReason
        usage = response.usage
    }

    /// Output tokens: the usage when the upstream sent one, else the content chunks counted.
    public var outputTokens: Int { usage?.completionTokens ?? contentChunks }
}
