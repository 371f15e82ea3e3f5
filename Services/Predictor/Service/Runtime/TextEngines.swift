import Foundation
import Logging
import TextEngine

/// The predictor's text machinery: the sentence embedder and the exact prompt-token counter.
public struct TextEngines: Sendable {
    public var embedder: any SentenceEmbedder
    /// Prompt tokens as the upstream model counts them (cl100k_base).
    public var countTokens: @Sendable (String) -> Int
    /// Which counter `countTokens` is (`cl100k_base`, or the approximation when the rank file is missing).
    public var tokenizerName: String

    public init(embedder: any SentenceEmbedder, countTokens: @escaping @Sendable (String) -> Int, tokenizerName: String) {
        self.embedder = embedder
        self.countTokens = countTokens
        self.tokenizerName = tokenizerName
    }

    /// The hashed embedder and an approximate counter: fast and deterministic, for tests.
    public static func hashed(dimension: Int = 384) -> TextEngines {
        TextEngines(embedder: HashedNGramEmbedder(dimension: dimension), countTokens: approximateTokens, tokenizerName: "approximate")
    }

    /// About four bytes per token: the last resort when no cl100k rank file is found.
    @Sendable public static func approximateTokens(_ text: String) -> Int {
        max(1, (text.utf8.count + 3) / 4)
    }

    /// The engines the configuration asks for, degrading with a clear log line when model files are missing.
    public static func load(configuration: PredictorConfiguration, logger: Logger) throws -> TextEngines {
        var engines = hashed()
        if configuration.embedder == "minilm" {
            throw PredictorStartupError("MiniLM was required (embedder=minilm) but this build has no MiniLM encoder")
        }
        if configuration.embedder == "auto" {
            logger.warning("MiniLM encoder not available in this build; using the hashed n-gram embedder")
        }
        engines.tokenizerName = "approximate"
        logger.warning("cl100k_base tokenizer not available; prompt_tokens are approximate (4 bytes per token)")
        return engines
    }
}

/// A start-up failure with a one-line explanation.
public struct PredictorStartupError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
