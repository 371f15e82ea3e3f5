/// `JSONReader` fast paths for the request parts more than one service reads: each returns nil on anything
/// but the plain shape (content given as parts, a repeated key, a number where a string belongs), so the
/// caller can leave the body to `JSONDecoder`.
extension ChatMessage {
    /// A message whose content is a string or null; list-of-parts content is left to `JSONDecoder`.
    public static func read(_ reader: inout JSONReader) -> ChatMessage? {
        var role: String?
        var message = ChatMessage(role: "", content: nil as MessageContent?)
        let read = reader.readObject(known: ["role", "content", "name"]) { reader, key in
            switch key {
            case "role":
                role = reader.readString()
                return role != nil
            case "content":
                return reader.readOptional({ $0.readString().map(MessageContent.text) }, into: &message.content)
            default: return reader.readOptional({ $0.readString() }, into: &message.name)
            }
        }
        guard read, let role else { return nil }
        message.role = role
        return message
    }

    /// An array of such messages.
    public static func readList(_ reader: inout JSONReader) -> [ChatMessage]? {
        reader.readList(ChatMessage.read)
    }
}

extension StreamOptions {
    public static func read(_ reader: inout JSONReader) -> StreamOptions? {
        var options = StreamOptions(includeUsage: nil)
        let read = reader.readObject(known: ["include_usage"]) { reader, _ in
            reader.readOptional({ $0.readBool() }, into: &options.includeUsage)
        }
        return read ? options : nil
    }
}
