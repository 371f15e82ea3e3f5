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
        return try JSONBody.decode(
            ChatCompletionRequest.self, from: buffer, maxDepth: context.maxJSONDepth, fastPath: readChat)
    }

    static let chatKeys = [
        "model", "messages", "max_tokens", "max_completion_tokens", "stream", "stream_options", "temperature", "n",
        "user",
    ]

    /// A chat request, or nil when the object is anything but a plain well-formed one.
    static func readChat(_ reader: inout JSONReader) -> ChatCompletionRequest? {
        var model: String?
        var messages: [ChatMessage]?
        var request = ChatCompletionRequest(model: "", messages: [])
        let read = reader.readObject(known: Self.chatKeys) { reader, key in
            switch key {
            case "model":
                model = reader.readString()
                return model != nil
            case "messages":
                messages = ChatMessage.readList(&reader)
                return messages != nil
            case "max_tokens": return reader.readOptional({ $0.readInt() }, into: &request.maxTokens)
            case "max_completion_tokens":
                return reader.readOptional({ $0.readInt() }, into: &request.maxCompletionTokens)
            case "stream": return reader.readOptional({ $0.readBool() }, into: &request.stream)
            case "stream_options": return reader.readOptional(StreamOptions.read, into: &request.streamOptions)
            case "temperature": return reader.readOptional({ $0.readDouble() }, into: &request.temperature)
            case "n": return reader.readOptional({ $0.readInt() }, into: &request.n)
            default: return reader.readOptional({ $0.readString() }, into: &request.user)
            }
        }
        guard read, let model, let messages else { return nil }
        request.model = model
        request.messages = messages
        return request
    }
}
