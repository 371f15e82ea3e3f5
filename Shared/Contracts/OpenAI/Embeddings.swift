import Foundation

/// `input` of an embeddings request: a string or a list of strings.
public enum EmbeddingInput: Codable, Sendable, Equatable {
    case text(String)
    case texts([String])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self = .text(text)
        } else if let texts = try? container.decode([String].self) {
            self = .texts(texts)
        } else {
            throw DecodingError.typeMismatch(
                EmbeddingInput.self,
                .init(codingPath: decoder.codingPath, debugDescription: "expected a string or an array of strings")
            )
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .text(let text): try container.encode(text)
        case .texts(let texts): try container.encode(texts)
        }
    }

    /// The inputs as a list.
    public var texts: [String] {
        switch self {
        case .text(let text): return [text]
        case .texts(let texts): return texts
        }
    }
}

/// `POST /v1/embeddings` request.
public struct EmbeddingRequest: Codable, Sendable, Equatable {
    public var input: EmbeddingInput
    public var model: String?
    public var encodingFormat: String?

    public init(input: EmbeddingInput, model: String? = nil) {
        self.input = input
        self.model = model
    }

    enum CodingKeys: String, CodingKey {
        case input, model
        case encodingFormat = "encoding_format"
    }
}

/// `POST /v1/embeddings` response.
public struct EmbeddingResponse: Codable, Sendable, Equatable {
    public var object: String
    public var data: [Embedding]
    public var model: String
    public var usage: EmbeddingUsage

    public init(data: [Embedding], model: String, usage: EmbeddingUsage) {
        self.object = "list"
        self.data = data
        self.model = model
        self.usage = usage
    }

    /// One input's vector.
    public struct Embedding: Codable, Sendable, Equatable {
        public var object: String
        public var index: Int
        public var embedding: [Float]

        public init(index: Int, embedding: [Float]) {
            self.object = "embedding"
            self.index = index
            self.embedding = embedding
        }
    }
}

/// Token usage of an embeddings call.
public struct EmbeddingUsage: Codable, Sendable, Equatable {
    public var promptTokens: Int
    public var totalTokens: Int

    public init(promptTokens: Int) {
        self.promptTokens = promptTokens
        self.totalTokens = promptTokens
    }

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens"
        case totalTokens = "total_tokens"
    }
}

/// `GET /v1/models` response.
public struct ModelList: Codable, Sendable, Equatable {
    public var object: String
    public var data: [ModelInfo]

    public init(data: [ModelInfo]) {
        self.object = "list"
        self.data = data
    }
}

/// One entry of `GET /v1/models`.
public struct ModelInfo: Codable, Sendable, Equatable {
    public var id: String
    public var object: String
    public var created: Int
    public var ownedBy: String

    public init(id: String, created: Int = 0, ownedBy: String) {
        self.id = id
        self.object = "model"
        self.created = created
        self.ownedBy = ownedBy
    }

    enum CodingKeys: String, CodingKey {
        case id, object, created
        case ownedBy = "owned_by"
    }
}

extension EmbeddingRequest: OpenAPIComponent {
    public static let schemaDescription = "OpenAI embeddings request."
}

extension EmbeddingResponse: OpenAPIComponent {
    public static let schemaDescription = "OpenAI embeddings answer."
}

extension EmbeddingResponse.Embedding: OpenAPIComponent {
    public static let schemaDescription = "One L2-normalised vector."
}

extension EmbeddingUsage: OpenAPIComponent {
    public static let schemaDescription = "Tokens an embeddings call read."
}

extension ModelList: OpenAPIComponent {
    public static let schemaDescription = "`GET /v1/models`."
}

extension ModelInfo: OpenAPIComponent {
    public static let schemaDescription = "One model."
}
