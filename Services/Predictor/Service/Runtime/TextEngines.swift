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

    public init(embedder: any SentenceEmbedder, countTokens: @escaping @Sendable (String) -> Int, tokenizerName: String)
    {
        self.embedder = embedder
        self.countTokens = countTokens
        self.tokenizerName = tokenizerName
    }

    /// The hashed embedder and an approximate counter: fast and deterministic, for tests.
    public static func hashed(dimension: Int = 384) -> TextEngines {
        TextEngines(
            embedder: HashedNGramEmbedder(dimension: dimension), countTokens: approximateTokens,
            tokenizerName: "approximate")
    }

    /// About four bytes per token: the last resort when no cl100k rank file is found.
    @Sendable public static func approximateTokens(_ text: String) -> Int {
        max(1, ApproximateTokenCounter().count(text))
    }

    /// The engines the configuration asks for, degrading with a clear log line when model files are missing.
    public static func load(configuration: PredictorConfiguration, logger: Logger) throws -> TextEngines {
        let embedder: any SentenceEmbedder
        switch configuration.embedder {
        case "hashed":
            embedder = HashedNGramEmbedder()
            logger.info("embedder: hashed n-gram (embedder=hashed)")
        default:
            let selection = EmbedderLoader.load(modelPath: configuration.embeddingModelPath)
            if configuration.embedder == "minilm" && selection.modelDirectory == nil {
                throw PredictorStartupError("embedder=minilm but MiniLM could not be loaded: \(selection.message)")
            }
            embedder = selection.embedder
            if selection.modelDirectory == nil {
                logger.warning("\(selection.message)")
            } else {
                logger.info("\(selection.message)")
            }
        }
        do {
            let tokenizer = try CL100KTokenizer.loadDefault()
            return TextEngines(embedder: embedder, countTokens: { tokenizer.count($0) }, tokenizerName: "cl100k_base")
        } catch {
            logger.warning(
                "cl100k_base tokenizer not available (\(error)); prompt_tokens are approximate (4 bytes per token)")
            return TextEngines(embedder: embedder, countTokens: approximateTokens, tokenizerName: "approximate")
        }
    }
}

/// A start-up failure with a one-line explanation.
public struct PredictorStartupError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
