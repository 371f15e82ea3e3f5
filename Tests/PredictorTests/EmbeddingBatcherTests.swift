import Foundation
import Synchronization
import Testing
import TextEngine

@testable import Predictor

@Suite struct EmbeddingBatcherTests {
    /// The hashed embedder, recording every forward pass's texts; `gate` holds each pass until it is opened.
    final class RecordingEmbedder: SentenceEmbedder {
        let inner = HashedNGramEmbedder(dimension: 32)
        let passes = Mutex<[[String]]>([])
        let gate: DispatchSemaphore?

        init(gated: Bool = false) { gate = gated ? DispatchSemaphore(value: 0) : nil }

        var descriptor: EmbedderDescriptor { inner.descriptor }
        func tokenCount(_ text: String) -> Int { inner.tokenCount(text) }
        func embed(_ texts: [String]) throws -> [[Float]] {
            passes.withLock { $0.append(texts) }
            gate?.wait()
            return try inner.embed(texts)
        }
        var texts: [String] { passes.withLock { $0.flatMap { $0 } } }
    }

    @Test func anOutcomeReportReusesItsPredictionsEmbedding() async throws {
        let embedder = RecordingEmbedder()
        let batcher = EmbeddingBatcher(embedder: embedder)
        let predicted = try await batcher.embed(["write an essay", "say hi"])
        let ingested = try await batcher.embed(["say hi", "list three colours", "say hi"], urgent: false)
        #expect(embedder.texts.sorted() == ["list three colours", "say hi", "write an essay"])
        #expect(await batcher.cacheHits == 2)
        #expect(ingested[0] == predicted[1] && ingested[2] == predicted[1])
        #expect(ingested[1] == (try embedder.inner.embed(["list three colours"]))[0])
    }

    @Test func theCacheKeepsOnlyTheNewestTexts() async throws {
        let embedder = RecordingEmbedder()
        let batcher = EmbeddingBatcher(embedder: embedder, cacheSize: 2)
        for text in ["a", "b", "c", "c", "b", "a"] { _ = try await batcher.embed([text]) }
        // "a" left the cache when "c" came; "b" and "c" were still in it.
        #expect(embedder.texts == ["a", "b", "c", "a"])
        let uncached = RecordingEmbedder()
        let none = EmbeddingBatcher(embedder: uncached, cacheSize: 0)
        for text in ["a", "a"] { _ = try await none.embed([text]) }
        #expect(uncached.texts == ["a", "a"])
    }

    @Test func predictionsGoBeforeWaitingIngests() async throws {
        let embedder = RecordingEmbedder(gated: true)
        let batcher = EmbeddingBatcher(embedder: embedder, maxBatch: 1, cacheSize: 0)
        let first = Task { try await batcher.embed(["running"]) }
        while embedder.passes.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(5)) }
        let ingest = Task { try await batcher.embed(["ingest"], urgent: false) }
        while await batcher.waiting < 1 { try await Task.sleep(for: .milliseconds(5)) }
        let prediction = Task { try await batcher.embed(["prediction"]) }
        while await batcher.waiting < 2 { try await Task.sleep(for: .milliseconds(5)) }
        for _ in 0..<3 { embedder.gate?.signal() }
        _ = try await (first.value, ingest.value, prediction.value)
        #expect(embedder.passes.withLock { $0 } == [["running"], ["prediction"], ["ingest"]])
    }
}
