import Foundation

/// The text a model reads from a prompt or chat messages: what token counts and embeddings are computed over.
public enum PromptText {
    /// Joins messages as `role: content` lines, or returns the plain prompt.
    public static func of(prompt: String?, messages: [ChatMessage]?) -> String? {
        if let prompt { return prompt }
        guard let messages else { return nil }
        return messages.map { message in
            "\(message.role): \(message.content?.plainText ?? "")"
        }.joined(separator: "\n")
    }

    /// The user's own words: the last user message, or the plain prompt. Embeddings use this.
    public static func userText(prompt: String?, messages: [ChatMessage]?) -> String? {
        if let prompt { return prompt }
        guard let messages, !messages.isEmpty else { return nil }
        let lastUser = messages.last { $0.role == "user" } ?? messages[messages.count - 1]
        return lastUser.content?.plainText ?? ""
    }
}
