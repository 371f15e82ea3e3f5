import Foundation

/// A legacy completions prompt: one string or several.
public enum PromptInput: Codable, Sendable, Equatable {
    case text(String)
    case texts([String])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self = .text(text)
        } else {
            self = .texts(try container.decode([String].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .text(let text): try container.encode(text)
        case .texts(let texts): try container.encode(texts)
        }
    }

    /// All prompt text joined by newlines.
    public var joined: String {
        switch self {
        case .text(let text): return text
        case .texts(let texts): return texts.joined(separator: "\n")
        }
    }
}

/// `POST /v1/completions` request: the fields maitre reads.
public struct CompletionRequest: Codable, Sendable, Equatable {
    public var model: String
    public var prompt: PromptInput
    public var maxTokens: Int?
    public var stream: Bool?
    public var streamOptions: StreamOptions?
    public var temperature: Double?
    public var user: String?

    public init(
        model: String, prompt: PromptInput, maxTokens: Int? = nil, stream: Bool? = nil,
        streamOptions: StreamOptions? = nil
    ) {
        self.model = model
        self.prompt = prompt
        self.maxTokens = maxTokens
        self.stream = stream
        self.streamOptions = streamOptions
    }

    enum CodingKeys: String, CodingKey {
        case model, prompt, stream, temperature, user
        case maxTokens = "max_tokens"
        case streamOptions = "stream_options"
    }
}

/// `text_completion` response, and (with `object` = `text_completion` too) each streamed chunk.
public struct CompletionResponse: Codable, Sendable, Equatable {
    public var id: String
    public var object: String
    public var created: Int
    public var model: String
    public var choices: [Choice]
    public var usage: Usage?

    public init(id: String, created: Int, model: String, choices: [Choice], usage: Usage?) {
        self.id = id
        self.object = "text_completion"
        self.created = created
        self.model = model
        self.choices = choices
        self.usage = usage
    }

    /// One generated alternative (or its increment, when streaming).
    public struct Choice: Codable, Sendable, Equatable {
        public var index: Int
        public var text: String
        public var finishReason: String?

        public init(index: Int, text: String, finishReason: String?) {
            self.index = index
            self.text = text
            self.finishReason = finishReason
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(index, forKey: .index)
            try container.encode(text, forKey: .text)
            try container.encode(finishReason, forKey: .finishReason)
        }

        enum CodingKeys: String, CodingKey {
            case index, text
            case finishReason = "finish_reason"
        }
    }
}

extension CompletionRequest: OpenAPIComponent {
    public static let schemaDescription = "Legacy completion request."
    public static let schemaRefinements: [String: [SchemaRefinement]] = [
        "max_tokens": [.minimum(1)]
    ]
}

extension CompletionResponse: OpenAPIComponent {
    public static let schemaDescription = "Non-streaming `text_completion` answer."
}

extension CompletionResponse.Choice: OpenAPIComponent {
    public static let schemaName = "CompletionChoice"
    public static let schemaDescription = "One generated text."
}
