import Foundation
import Logging
import Synchronization

/// Counts the tokens of a text the way the upstream bills them: the proxy's rate-window reservations and outcome
/// reports, the simulated provider's `usage`.
public protocol TokenCounter: Sendable {
    func count(_ text: String) -> Int
}

/// The fallback when the cl100k rank file is missing: one token per four UTF-8 bytes, rounded up (OpenAI's rule
/// of thumb for English). Every service that estimates tokens without a tokenizer uses this one rule.
public struct ApproximateTokenCounter: TokenCounter {
    public init() {}

    public func count(_ text: String) -> Int {
        Self.tokens(utf8Count: text.utf8.count)
    }

    /// Tokens of a text of `utf8Count` bytes: 0 for none, at least 1 otherwise.
    public static func tokens(utf8Count: Int) -> Int {
        (max(utf8Count, 0) + 3) / 4
    }
}

extension CL100KTokenizer: TokenCounter {}

/// Remembers the counts of recent texts: chat roles, system prompts and benchmark prompts repeat, and BPE should not
/// run twice on them. Bounded: the table is dropped when it grows past `limit`.
public final class CachingTokenCounter: TokenCounter, Sendable {
    private let base: any TokenCounter
    private let limit: Int
    private let table = Mutex<[String: Int]>([:])

    public init(_ base: any TokenCounter, limit: Int = 50_000) {
        self.base = base
        self.limit = limit
    }

    public func count(_ text: String) -> Int {
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

/// The token counter a service starts with: exact cl100k when its rank file is found (`CL100K_RANK_FILE` or
/// site-packages), else the bytes / 4 approximation, with a log line saying which.
public enum StandardTokenCounter {
    public static func load(logger: Logger) -> any TokenCounter {
        do {
            let tokenizer = try CL100KTokenizer.loadDefault()
            logger.info(
                "token counts are exact cl100k_base",
                metadata: ["rank_file": "\(CL100KTokenizer.locateRankFile()?.path ?? "?")"])
            return tokenizer
        } catch {
            logger.notice(
                "cl100k rank file not available; token counts are approximated as bytes / 4",
                metadata: ["reason": "\(error)"])
            return ApproximateTokenCounter()
        }
    }
}
