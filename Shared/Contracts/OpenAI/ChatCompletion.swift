import Foundation

/// One message of a chat conversation. `content` is a string or a list of typed parts.
public struct ChatMessage: Codable, Sendable, Equatable {
    public var role: String
    public var content: MessageContent?
    public var name: String?

    public init(role: String, content: String?, name: String? = nil) {
        self.role = role
        self.content = content.map(MessageContent.text)
        self.name = name
    }

    public init(role: String, content: MessageContent?, name: String? = nil) {
        self.role = role
        self.content = content
        self.name = name
    }
}

/// A message's content: plain text, or parts of which only the text ones count for tokens.
public enum MessageContent: Codable, Sendable, Equatable {
    case text(String)
    case parts([ContentPart])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self = .text(text)
        } else {
            self = .parts(try container.decode([ContentPart].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .text(let text): try container.encode(text)
        case .parts(let parts): try container.encode(parts)
        }
    }

    /// The text of the content, parts joined by newlines.
    public var plainText: String {
        switch self {
        case .text(let text): return text
        case .parts(let parts): return parts.compactMap(\.text).joined(separator: "\n")
        }
    }
}

/// A typed part of a message's content (`{"type": "text", "text": ...}`; other types pass through).
public struct ContentPart: Codable, Sendable, Equatable {
    public var type: String
    public var text: String?

    public init(type: String, text: String?) {
        self.type = type
        self.text = text
    }
}

/// `stream_options` of a streaming request.
public struct StreamOptions: Codable, Sendable, Equatable {
    public var includeUsage: Bool?

    public init(includeUsage: Bool?) {
        self.includeUsage = includeUsage
    }

    enum CodingKeys: String, CodingKey {
        case includeUsage = "include_usage"
    }
}

/// `POST /v1/chat/completions` request: the fields maitre reads. Proxies forward the original bytes.
public struct ChatCompletionRequest: Codable, Sendable, Equatable {
    public var model: String
    public var messages: [ChatMessage]
    public var maxTokens: Int?
    public var maxCompletionTokens: Int?
    public var stream: Bool?
    public var streamOptions: StreamOptions?
    public var temperature: Double?
    public var n: Int?
    public var user: String?

    public init(
        model: String,
        messages: [ChatMessage],
        maxTokens: Int? = nil,
        stream: Bool? = nil,
        streamOptions: StreamOptions? = nil,
        temperature: Double? = nil,
        user: String? = nil
    ) {
        self.model = model
        self.messages = messages
        self.maxTokens = maxTokens
        self.stream = stream
        self.streamOptions = streamOptions
        self.temperature = temperature
        self.user = user
    }

    /// The output cap the caller asked for, from either of OpenAI's two names for it.
    public var outputTokenLimit: Int? { maxCompletionTokens ?? maxTokens }

    enum CodingKeys: String, CodingKey {
        case model, messages, stream, temperature, n, user
        case maxTokens = "max_tokens"
        case maxCompletionTokens = "max_completion_tokens"
        case streamOptions = "stream_options"
    }
}

/// Token usage of a completion.
public struct Usage: Codable, Sendable, Equatable {
    public var promptTokens: Int
    public var completionTokens: Int
    public var totalTokens: Int

    public init(promptTokens: Int, completionTokens: Int) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.totalTokens = promptTokens + completionTokens
    }

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens"
        case completionTokens = "completion_tokens"
        case totalTokens = "total_tokens"
    }
}

/// Non-streaming `chat.completion` response.
public struct ChatCompletionResponse: Codable, Sendable, Equatable {
    public var id: String
    public var object: String
    public var created: Int
    public var model: String
    public var choices: [Choice]
    public var usage: Usage?

    public init(id: String, created: Int, model: String, choices: [Choice], usage: Usage?) {
        self.id = id
        self.object = "chat.completion"
        self.created = created
        self.model = model
        self.choices = choices
        self.usage = usage
    }

    /// One generated alternative.
    public struct Choice: Codable, Sendable, Equatable {
        public var index: Int
        public var message: ChatMessage
        public var finishReason: String?

        public init(index: Int, message: ChatMessage, finishReason: String?) {
            self.index = index
            self.message = message
            self.finishReason = finishReason
        }

        enum CodingKeys: String, CodingKey {
            case index, message
            case finishReason = "finish_reason"
        }
    }
}

/// One SSE `data:` chunk of a streaming `chat.completion.chunk` response.
public struct ChatCompletionChunk: Codable, Sendable, Equatable {
    public var id: String
    public var object: String
    public var created: Int
    public var model: String
    public var choices: [Choice]
    public var usage: Usage?

    public init(id: String, created: Int, model: String, choices: [Choice], usage: Usage? = nil) {
        self.id = id
        self.object = "chat.completion.chunk"
        self.created = created
        self.model = model
        self.choices = choices
        self.usage = usage
    }

    /// The incremental part of one alternative.
    public struct Choice: Codable, Sendable, Equatable {
        public var index: Int
        public var delta: Delta
        public var finishReason: String?

        public init(index: Int, delta: Delta, finishReason: String?) {
            self.index = index
            self.delta = delta
            self.finishReason = finishReason
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(index, forKey: .index)
            try container.encode(delta, forKey: .delta)
            try container.encode(finishReason, forKey: .finishReason)
        }

        enum CodingKeys: String, CodingKey {
            case index, delta
            case finishReason = "finish_reason"
        }
    }

    /// New role and/or content text of a chunk.
    public struct Delta: Codable, Sendable, Equatable {
        public var role: String?
        public var content: String?

        public init(role: String? = nil, content: String? = nil) {
            self.role = role
            self.content = content
        }
    }
}

extension ChatMessage: OpenAPIComponent {
    public static let schemaDescription = "One message of a conversation; `content` is text or typed parts."
    public static let schemaRefinements: [String: [SchemaRefinement]] = [
        "content": [.nullable]
    ]
}

extension ContentPart: OpenAPIComponent {
    public static let schemaDescription = "A typed part of a message's content; only text parts count for tokens."
}

extension StreamOptions: OpenAPIComponent {
    public static let schemaDescription = "`stream_options` of a streaming request."
}

extension ChatCompletionRequest: OpenAPIComponent {
    public static let schemaDescription =
        "OpenAI chat completion request: the fields maitre reads (others pass through)."
    public static let schemaRefinements: [String: [SchemaRefinement]] = [
        "messages": [.minItems(1)],
        "max_tokens": [.minimum(1)],
        "max_completion_tokens": [.minimum(1)],
    ]
}

extension Usage: OpenAPIComponent {
    public static let schemaDescription = "Token usage of a completion."
}

extension ChatCompletionResponse: OpenAPIComponent {
    public static let schemaDescription = "Non-streaming `chat.completion` answer."
}

extension ChatCompletionResponse.Choice: OpenAPIComponent {
    public static let schemaName = "ChatCompletionChoice"
    public static let schemaDescription = "One generated alternative."
    public static let schemaRefinements: [String: [SchemaRefinement]] = [
        "finish_reason": [.nullable]
    ]
}

extension ChatCompletionChunk: OpenAPIComponent {
    public static let schemaDescription = "One server-sent `data:` chunk of a streamed chat completion."
}

extension ChatCompletionChunk.Choice: OpenAPIComponent {
    public static let schemaName = "ChatCompletionChunkChoice"
    public static let schemaDescription = "The increment of one alternative."
}

extension ChatCompletionChunk.Delta: OpenAPIComponent {
    public static let schemaName = "ChatCompletionDelta"
    public static let schemaDescription = "New role and/or text of a chunk."
}
