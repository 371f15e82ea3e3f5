import Logging
import MockLLMCore
import Synchronization

/// Remembers the counts of recent texts: chat roles, system prompts and benchmark prompts repeat, and
/// the handler should not pay for BPE twice. Bounded: the table is dropped when it grows past `limit`.
final class CachingTokenCounter: TokenCounter, Sendable {
    private let base: any TokenCounter
    private let limit: Int
    private let table = Mutex<[String: Int]>([:])

    init(_ base: any TokenCounter, limit: Int = 50_000) {
        self.base = base
        self.limit = limit
    }

    func count(_ text: String) -> Int {
        // Long texts are rarely repeated verbatim and cost memory; only short and medium ones are kept.
        guard text.utf8.count <= 16_384 else { return base.count(text) }
        if let known = table.withLock({ $0[text] }) { return known }
        let counted = base.count(text)
        table.withLock { table in
            if table.count >= limit { table.removeAll(keepingCapacity: true) }
            table[text] = counted
        }
        return counted
    }
}

/// Picks the token counter: exact cl100k when the rank file is found, else the chars/4 approximation.
enum TokenCounting {
    static func load(logger: Logger) -> any TokenCounter {
        logger.warning("cl100k tokenizer not available in this build: prompt and output token counts use the chars/4 approximation")
        return CachingTokenCounter(ApproximateTokenCounter())
    }
}
