import Contracts
import TextEngine

/// `usage.prompt_tokens` as OpenAI reports it.
public enum PromptTokens {
    /// Chat: OpenAI's documented accounting for gpt-3.5-turbo/gpt-4 — 3 tokens per message, plus the
    /// tokens of its role and content, plus 1 and the name's tokens when it has a name, plus 3 that prime
    /// the reply (`<|start|>assistant<|message|>`).
    public static func chat(_ messages: [ChatMessage], counter: some TokenCounter) -> Int {
        var total = 3
        for message in messages {
            total += 3 + counter.count(message.role) + counter.count(message.content?.plainText ?? "")
            if let name = message.name {
                total += 1 + counter.count(name)
            }
        }
        return total
    }

    /// Legacy completions: the tokens of the prompt text(s).
    public static func completion(_ prompt: PromptInput, counter: some TokenCounter) -> Int {
        switch prompt {
        case .text(let text): return counter.count(text)
        case .texts(let texts): return texts.reduce(0) { $0 + counter.count($1) }
        }
    }
}
