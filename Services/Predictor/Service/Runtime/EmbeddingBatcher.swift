import Foundation
import TextEngine

/// Runs concurrent embedding requests as one forward pass: requests that arrive while a pass is running wait
/// and go together in the next one (up to `maxBatch` texts), so throughput grows with concurrency. Urgent
/// requests (predictions, which a caller waits on) go before the others (ingests) in the next pass.
///
/// The newest `cacheSize` texts keep their embeddings: a finished request's outcome report carries the text its
/// prediction embedded moments before, so ingesting it costs no forward pass.
public actor EmbeddingBatcher {
    let embedder: any SentenceEmbedder
    let maxBatch: Int
    let cacheSize: Int
    private var pending: [(texts: [String], urgent: Bool, continuation: CheckedContinuation<[[Float]], any Error>)] =
        []
    private var running = false
    private var cache: [String: [Float]] = [:]
    /// Cached texts, oldest first from `cacheHead` (a ring of at most `cacheSize`).
    private var cacheOrder: [String] = []
    private var cacheHead = 0
    /// Forward passes run, texts embedded and texts answered from the cache, for `/metrics`.
    public private(set) var passes = 0
    public private(set) var textsEmbedded = 0
    public private(set) var cacheHits = 0

    /// Requests waiting for the next forward pass.
    var waiting: Int { pending.count }

    public init(embedder: any SentenceEmbedder, maxBatch: Int = 64, cacheSize: Int = 4096) {
        self.embedder = embedder
        self.maxBatch = max(1, maxBatch)
        self.cacheSize = max(0, cacheSize)
    }

    /// The embeddings of `texts`, in order. `urgent`: ahead of waiting requests that are not.
    public func embed(_ texts: [String], urgent: Bool = true) async throws -> [[Float]] {
        guard !texts.isEmpty else { return [] }
        var result = texts.map { cache[$0] }
        let missing = Array(Set(texts.indices.filter { result[$0] == nil }.map { texts[$0] }))
        cacheHits += texts.count - result.count(where: { $0 == nil })
        if !missing.isEmpty {
            let vectors: [[Float]] = try await withCheckedThrowingContinuation { continuation in
                let item = (texts: missing, urgent: urgent, continuation: continuation)
                if urgent, let firstLater = pending.firstIndex(where: { !$0.urgent }) {
                    pending.insert(item, at: firstLater)
                } else {
                    pending.append(item)
                }
                if !running {
                    running = true
                    Task { await self.drain() }
                }
            }
            let byText = Dictionary(uniqueKeysWithValues: zip(missing, vectors))
            for index in texts.indices where result[index] == nil { result[index] = byText[texts[index]] }
        }
        return result.map { $0! }
    }

    private func remember(_ text: String, _ vector: [Float]) {
        guard cacheSize > 0, cache.updateValue(vector, forKey: text) == nil else { return }
        if cacheOrder.count < cacheSize {
            cacheOrder.append(text)
        } else {
            cache[cacheOrder[cacheHead]] = nil
            cacheOrder[cacheHead] = text
            cacheHead = (cacheHead + 1) % cacheSize
        }
    }

    private func drain() async {
        while !pending.isEmpty {
            var batch: [(texts: [String], urgent: Bool, continuation: CheckedContinuation<[[Float]], any Error>)] = []
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
                for (text, vector) in zip(texts, vectors) { remember(text, vector) }
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
