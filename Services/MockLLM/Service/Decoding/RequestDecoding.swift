import Contracts
import Foundation
import Hummingbird
import NIOCore
import ServiceRuntime

/// Decodes the generation requests. Ordinary chat bodies are read by `JSONReader` (a tenth of
/// `JSONDecoder`'s cost at zero latency); everything else — parts content, odd numbers, duplicate keys,
/// malformed JSON — goes to `JSONBody.decode`, so errors and edge cases are answered exactly as before.
enum RequestDecoding {
    static func chat(_ request: Request, context: ServiceRequestContext) async throws -> ChatCompletionRequest {
        let buffer = try await request.collectBody(context: context)
        let fast = buffer.withUnsafeReadableBytes { bytes in
            var reader = JSONReader(bytes, maxDepth: context.maxJSONDepth)
            return readChat(&reader)
        }
        if let fast { return fast }
        return try JSONBody.decode(
            ChatCompletionRequest.self, from: Data(buffer.readableBytesView), maxDepth: context.maxJSONDepth)
    }

    static let chatKeys = [
        "model", "messages", "max_tokens", "max_completion_tokens", "stream", "stream_options", "temperature", "n",
        "user",
    ]
    static let messageKeys = ["role", "content", "name"]

    /// A chat request, or nil when the body is anything but a plain well-formed one.
    static func readChat(_ reader: inout JSONReader) -> ChatCompletionRequest? {
        guard reader.beginObject() else { return nil }
        var model: String?
        var messages: [ChatMessage]?
        var request = ChatCompletionRequest(model: "", messages: [])
        var seen = KnownKeys()
        var first = true
        while let key = reader.nextKey(first: first) {
            first = false
            // JSONDecoder's choice between repeated keys is its own business.
            guard seen.insert(key, among: Self.chatKeys) else { return nil }
            switch key {
            case "model":
                guard let value = reader.readString() else { return nil }
                model = value
            case "messages":
                guard let value = readMessages(&reader) else { return nil }
                messages = value
            case "max_tokens":
                guard readOptional(&reader, { $0.readInt() }, into: &request.maxTokens) else { return nil }
            case "max_completion_tokens":
                guard readOptional(&reader, { $0.readInt() }, into: &request.maxCompletionTokens) else { return nil }
            case "stream":
                guard readOptional(&reader, { $0.readBool() }, into: &request.stream) else { return nil }
            case "stream_options":
                guard readOptional(&reader, readStreamOptions, into: &request.streamOptions) else { return nil }
            case "temperature":
                guard readOptional(&reader, { $0.readDouble() }, into: &request.temperature) else { return nil }
            case "n":
                guard readOptional(&reader, { $0.readInt() }, into: &request.n) else { return nil }
            case "user":
                guard readOptional(&reader, { $0.readString() }, into: &request.user) else { return nil }
            default:
                guard reader.skipValue() else { return nil }
            }
        }
        guard !reader.failed, reader.atEnd(), let model, let messages else { return nil }
        request.model = model
        request.messages = messages
        return request
    }

    /// `null` (nil) or a value `read` accepts.
    private static func readOptional<Value>(
        _ reader: inout JSONReader, _ read: (inout JSONReader) -> Value?, into slot: inout Value?
    ) -> Bool {
        if reader.consumeNull() {
            slot = nil
            return true
        }
        guard let value = read(&reader) else { return false }
        slot = value
        return true
    }

    private static func readMessages(_ reader: inout JSONReader) -> [ChatMessage]? {
        guard reader.beginArray() else { return nil }
        var messages: [ChatMessage] = []
        var first = true
        while reader.nextElement(first: first) {
            first = false
            guard let message = readMessage(&reader) else { return nil }
            messages.append(message)
        }
        return reader.failed ? nil : messages
    }

    /// A message whose content is a string or null; list-of-parts content is left to JSONDecoder.
    private static func readMessage(_ reader: inout JSONReader) -> ChatMessage? {
        guard reader.beginObject() else { return nil }
        var role: String?
        var message = ChatMessage(role: "", content: nil as MessageContent?)
        var seen = KnownKeys()
        var first = true
        while let key = reader.nextKey(first: first) {
            first = false
            guard seen.insert(key, among: Self.messageKeys) else { return nil }
            switch key {
            case "role":
                guard let value = reader.readString() else { return nil }
                role = value
            case "content":
                guard readOptional(&reader, { $0.readString().map(MessageContent.text) }, into: &message.content)
                else { return nil }
            case "name":
                guard readOptional(&reader, { $0.readString() }, into: &message.name) else { return nil }
            default:
                guard reader.skipValue() else { return nil }
            }
        }
        guard !reader.failed, let role else { return nil }
        message.role = role
        return message
    }

    private static func readStreamOptions(_ reader: inout JSONReader) -> StreamOptions? {
        guard reader.beginObject() else { return nil }
        var options = StreamOptions(includeUsage: nil)
        var seen = KnownKeys()
        var first = true
        while let key = reader.nextKey(first: first) {
            first = false
            guard seen.insert(key, among: ["include_usage"]) else { return nil }
            if key == "include_usage" {
                guard readOptional(&reader, { $0.readBool() }, into: &options.includeUsage) else { return nil }
            } else {
                guard reader.skipValue() else { return nil }
            }
        }
        return reader.failed ? nil : options
    }
}

/// Which of an object's known keys have been read: a repeat sends the body to JSONDecoder.
private struct KnownKeys {
    private var bits: UInt32 = 0

    /// False when `key` is one of `known` and was seen before; unknown keys are skipped and never tracked.
    mutating func insert(_ key: String, among known: [String]) -> Bool {
        guard let position = known.firstIndex(of: key) else { return true }
        let bit: UInt32 = 1 << position
        if bits & bit != 0 { return false }
        bits |= bit
        return true
    }
}
