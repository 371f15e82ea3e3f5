import Foundation

/// Which embedder is running, as `/health` and `/models` report it.
public struct EmbedderDescriptor: Sendable, Equatable {
    public var name: String
    /// `minilm` for the real model, `hashed` for the fallback.
    public var kind: String
    public var dimension: Int

    public init(name: String, kind: String, dimension: Int) {
        self.name = name
        self.kind = kind
        self.dimension = dimension
    }
}

/// Turns texts into L2-normalised sentence vectors of a fixed dimension.
public protocol SentenceEmbedder: Sendable {
    var descriptor: EmbedderDescriptor { get }
    /// One normalised vector per text, in order; several texts may run as one batch.
    func embed(_ texts: [String]) throws -> [[Float]]
    /// Tokens the embedder reads for `text`, specials included (the `usage` of `/v1/embeddings`).
    func tokenCount(_ text: String) -> Int
}
