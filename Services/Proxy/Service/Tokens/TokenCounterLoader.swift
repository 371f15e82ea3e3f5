import Logging
import TextEngine

extension CL100KTokenizer: TokenCounting {}

/// Picks the token counter: exact cl100k when its rank file is found (`CL100K_RANK_FILE` or site-packages),
/// else the bytes / 4 approximation, with a log line saying which.
enum TokenCounterLoader {
    static func load(logger: Logger) -> any TokenCounting {
        do {
            let tokenizer = try CL100KTokenizer.loadDefault()
            logger.info("token counts use cl100k_base")
            return tokenizer
        } catch {
            logger.notice(
                "cl100k rank file not available; token counts are approximated as bytes / 4",
                metadata: ["reason": "\(error)"])
            return ApproximateTokenCounter()
        }
    }
}
