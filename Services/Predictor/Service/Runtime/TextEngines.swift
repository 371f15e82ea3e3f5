import Foundation
import Logging
import Synchronization
import TextEngine

/// The predictor's text machinery: the sentence embedder and the exact prompt-token counter.
public struct TextEngines: Sendable {
    /// The vectors the predictor learns from: MiniLM with its length-tuned top layers when they are loaded.
    public var embedder: any SentenceEmbedder
    /// General-purpose sentence vectors (`/v1/embeddings`): the base model, the same as `embedder` without tuned
    /// layers.
    public var sentenceEmbedder: any SentenceEmbedder
    /// Prompt tokens as the upstream model counts them (cl100k_base).
    public var countTokens: @Sendable (String) -> Int
    /// Which counter `countTokens` is (`cl100k_base`, or the approximation when the rank file is missing).
    public var tokenizerName: String

    public init(
        embedder: any SentenceEmbedder, sentenceEmbedder: (any SentenceEmbedder)? = nil,
        countTokens: @escaping @Sendable (String) -> Int, tokenizerName: String
    ) {
        self.embedder = embedder
        self.sentenceEmbedder = sentenceEmbedder ?? embedder
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
        var sentenceEmbedder: (any SentenceEmbedder)?
        switch configuration.embedder {
        case "hashed":
            embedder = HashedNGramEmbedder()
            logger.info("embedder: hashed n-gram (embedder=hashed)")
        default:
            let layers = PriorLoader.layers(setting: configuration.lengthLayers)
            if let layers, !FileManager.default.fileExists(atPath: layers.path) {
                throw PredictorStartupError("length-layers: \(layers.path) does not exist")
            }
            let selection = EmbedderLoader.load(modelPath: configuration.embeddingModelPath, layers: layers)
            // Without the model the hashed embedder stands in (unless MiniLM is required); fine-tuned layers that do
            // not load on a model that is there are an error, not a reason to fall back.
            let located =
                layers != nil
                && EmbedderLoader.locateModelDirectory(explicitPath: configuration.embeddingModelPath) != nil
            if selection.modelDirectory == nil && (configuration.embedder == "minilm" || located) {
                throw PredictorStartupError("MiniLM could not be loaded: \(selection.message)")
            }
            embedder = selection.embedder
            if let directory = selection.modelDirectory {
                logger.info("\(selection.message)")
                if layers != nil {
                    sentenceEmbedder = LazyBaseEncoder(directory: directory, dimension: embedder.descriptor.dimension)
                }
            } else {
                logger.warning("\(selection.message)")
            }
        }
        do {
            let tokenizer = try CL100KTokenizer.loadDefault()
            return TextEngines(
                embedder: embedder, sentenceEmbedder: sentenceEmbedder, countTokens: { tokenizer.count($0) },
                tokenizerName: "cl100k_base")
        } catch {
            logger.warning(
                "cl100k_base tokenizer not available (\(error)); prompt_tokens are approximate (4 bytes per token)")
            return TextEngines(
                embedder: embedder, sentenceEmbedder: sentenceEmbedder, countTokens: approximateTokens,
                tokenizerName: "approximate")
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

/// The base MiniLM model, loaded on first use: `/v1/embeddings` next to length-tuned layers costs no memory until it
/// is called.
final class LazyBaseEncoder: SentenceEmbedder {
    let directory: URL
    let descriptor: EmbedderDescriptor
    private let encoder = Mutex<MiniLMEncoder?>(nil)

    init(directory: URL, dimension: Int = 384) {
        self.directory = directory
        descriptor = EmbedderDescriptor(name: MiniLMEncoder.baseName, kind: "minilm", dimension: dimension)
    }

    private func loaded() throws -> MiniLMEncoder {
        try encoder.withLock { encoder in
            if let encoder { return encoder }
            let made = try MiniLMEncoder(directory: directory)
            encoder = made
            return made
        }
    }

    func embed(_ texts: [String]) throws -> [[Float]] { try loaded().embed(texts) }

    func tokenCount(_ text: String) -> Int { (try? loaded().tokenCount(text)) ?? max(1, text.utf8.count / 4) }
}
