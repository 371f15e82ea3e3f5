import Contracts
import Foundation

/// The few fields of a client's body the proxy reads (model, stream, token budget, the text to count);
/// everything else is forwarded as bytes without being looked at. Decoding is lenient: a field of an
/// unexpected shape is ignored, because the upstream, not the proxy, decides what is valid.
public struct RequestSummary: Decodable, Sendable, Equatable {
    public var model: String
    public var stream: Bool
    public var includeUsage: Bool
    public var maxTokens: Int?
    public var messages: [ChatMessage]?
    public var prompt: String?
    /// Text of an embeddings `input` (strings only; token arrays are counted by length).
    public var inputTexts: [String]
    public var inputTokenArrays: Int

    public init(
        model: String, stream: Bool = false, includeUsage: Bool = false, maxTokens: Int? = nil,
        messages: [ChatMessage]? = nil, prompt: String? = nil, inputTexts: [String] = [], inputTokenArrays: Int = 0
    ) {
        self.model = model
        self.stream = stream
        self.includeUsage = includeUsage
        self.maxTokens = maxTokens
        self.messages = messages
        self.prompt = prompt
        self.inputTexts = inputTexts
        self.inputTokenArrays = inputTokenArrays
    }

    enum CodingKeys: String, CodingKey {
        case model, stream, messages, prompt, input
        case streamOptions = "stream_options"
        case maxTokens = "max_tokens"
        case maxCompletionTokens = "max_completion_tokens"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.model = try container.decode(String.self, forKey: .model)
        self.stream = (try? container.decodeIfPresent(Bool.self, forKey: .stream)) ?? false
        self.includeUsage =
            ((try? container.decodeIfPresent(StreamOptions.self, forKey: .streamOptions)) ?? nil)?.includeUsage ?? false
        let completionTokens = (try? container.decodeIfPresent(Int.self, forKey: .maxCompletionTokens)) ?? nil
        self.maxTokens = completionTokens ?? ((try? container.decodeIfPresent(Int.self, forKey: .maxTokens)) ?? nil)
        self.messages = (try? container.decodeIfPresent([ChatMessage].self, forKey: .messages)) ?? nil
        if let text = try? container.decodeIfPresent(String.self, forKey: .prompt) {
            self.prompt = text
        } else if let texts = try? container.decodeIfPresent([String].self, forKey: .prompt) {
            self.prompt = texts.joined(separator: "\n")
        } else {
            self.prompt = nil
        }
        var texts: [String] = []
        var arrays = 0
        if let text = try? container.decodeIfPresent(String.self, forKey: .input) {
            texts = [text]
        } else if let list = try? container.decodeIfPresent([String].self, forKey: .input) {
            texts = list
        } else if let tokens = try? container.decodeIfPresent([Int].self, forKey: .input) {
            arrays = tokens.count
        } else if let lists = try? container.decodeIfPresent([[Int]].self, forKey: .input) {
            arrays = lists.reduce(0) { $0 + $1.count }
        }
        self.inputTexts = texts
        self.inputTokenArrays = arrays
    }

    /// The summary of a plain body read by `JSONReader` (about a tenth of `JSONDecoder`'s cost), or nil for
    /// anything else — a field of another shape, parts content, token-array input, a repeated key, malformed
    /// JSON — which the caller then leaves to `JSONDecoder` and the lenient reading above, so both give the
    /// same summary and the same errors.
    public static func read(_ reader: inout JSONReader) -> RequestSummary? {
        var model: String?
        var stream: Bool?
        var options: StreamOptions?
        var maxTokens: Int?
        var maxCompletionTokens: Int?
        var summary = RequestSummary(model: "")
        let read = reader.readObject(known: Self.readKeys) { reader, key in
            switch key {
            case "model":
                model = reader.readString()
                return model != nil
            case "stream": return reader.readOptional({ $0.readBool() }, into: &stream)
            case "stream_options": return reader.readOptional(StreamOptions.read, into: &options)
            case "max_tokens": return reader.readOptional({ $0.readInt() }, into: &maxTokens)
            case "max_completion_tokens": return reader.readOptional({ $0.readInt() }, into: &maxCompletionTokens)
            case "messages": return reader.readOptional(ChatMessage.readList, into: &summary.messages)
            case "prompt":
                return reader.readOptional({ Self.readTexts(&$0)?.joined(separator: "\n") }, into: &summary.prompt)
            default:
                var texts: [String]?
                guard reader.readOptional({ Self.readTexts(&$0) }, into: &texts) else { return false }
                summary.inputTexts = texts ?? []
                return true
            }
        }
        guard read, let model else { return nil }
        summary.model = model
        summary.stream = stream ?? false
        summary.includeUsage = options?.includeUsage ?? false
        summary.maxTokens = maxCompletionTokens ?? maxTokens
        return summary
    }

    static let readKeys = [
        "model", "stream", "stream_options", "max_tokens", "max_completion_tokens", "messages", "prompt", "input",
    ]

    /// A string as one text, or an array of strings.
    private static func readTexts(_ reader: inout JSONReader) -> [String]? {
        if let text = reader.readString() { return [text] }
        return reader.readList { $0.readString() }
    }

    /// The text whose tokens count as the prompt: chat messages, a completion prompt or embedding inputs.
    public var promptText: String {
        if let text = PromptText.of(prompt: prompt, messages: messages) { return text }
        return inputTexts.joined(separator: "\n")
    }
}
