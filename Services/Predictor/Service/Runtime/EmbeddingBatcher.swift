import Foundation
import TextEngine

/// Runs concurrent embedding requests as one forward pass: requests that arrive while a pass is running wait
/// and go together in the next one (up to `maxBatch` texts), so throughput grows with concurrency.
public actor EmbeddingBatcher {
    let embedder: any SentenceEmbedder
    let maxBatch: Int
    private var pending: [(texts: [String], continuation: CheckedContinuation<[[Float]], any Error>)] = []
    private var running = false
    /// Forward passes run and texts embedded, for `/metrics`.
    public private(set) var passes = 0
    public private(set) var textsEmbedded = 0

    public init(embedder: any SentenceEmbedder, maxBatch: Int = 64) {
        self.embedder = embedder
        self.maxBatch = max(1, maxBatch)
    }

    /// The embeddings of `texts`, in order.
    public func embed(_ texts: [String]) async throws -> [[Float]] {
        guard !texts.isEmpty else { return [] }
        return try await withCheckedThrowingContinuation { continuation in
            pending.append((texts, continuation))
            if !running {
                running = true
                Task { await self.drain() }
            }
        }
    }

    private func drain() async {
        while !pending.isEmpty {
            var batch: [(texts: [String], continuation: CheckedContinuation<[[Float]], any Error>)] = []
            var size = 0
            while let next = pending.first, batch.isEmpty || size + next.texts.count <= maxBatch {
                batch.append(pending.removeFirst())
                size += next.texts.count
            }
            let texts = batch.flatMap(\.texts)
            let embedder = self.embedder
            let result = await Task.detached { Result { try embedder.embed(texts) } }.value
            passes += 1
            textsEmbedded += texts.count
            switch result {
            case .success(let vectors):
                var offset = 0
                for item in batch {
                    item.continuation.resume(returning: Array(vectors[offset..<(offset + item.texts.count)]))
                    offset += item.texts.count
                }
            case .failure(let error):
                for item in batch { item.continuation.resume(throwing: error) }
            }
        }
        running = false
    }
}
