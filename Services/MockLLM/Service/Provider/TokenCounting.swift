import Foundation
import Logging
import MockLLMCore
import Synchronization
import TextEngine

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
        do {
            let tokenizer = try CL100KTokenizer.loadDefault()
            logger.info(
                "token counts are exact cl100k_base",
                metadata: ["rank_file": "\(CL100KTokenizer.locateRankFile()?.path ?? "?")"])
            return CachingTokenCounter(CL100KCounter(tokenizer: tokenizer))
        } catch {
            logger.warning(
                "cl100k rank file unavailable: prompt token counts use the chars/4 approximation",
                metadata: ["reason": "\(error)"]
            )
            return CachingTokenCounter(ApproximateTokenCounter())
        }
    }
}

/// Exact cl100k_base counts from the text engine's tokenizer.
struct CL100KCounter: TokenCounter {
    let tokenizer: CL100KTokenizer

    func count(_ text: String) -> Int {
        tokenizer.count(text)
    }
}
