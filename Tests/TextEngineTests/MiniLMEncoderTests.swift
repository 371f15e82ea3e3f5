import Foundation
import Testing

@testable import TextEngine

@Suite struct MiniLMEncoderTests {
    @Test func fixtureHasAtLeastFiftyVariedTexts() {
        let cases = TextFixtures.embeddingCases
        #expect(cases.count >= 50)
        #expect(cases.contains { $0.wordpiece.count == 256 })
        #expect(cases.contains { $0.wordpiece.count < 16 })
    }

    @Test func truncatedIdsEqualSentenceTransformersInput() throws {
        guard let encoder = TextFixtures.requireEncoder() else { return }
        for testCase in TextFixtures.embeddingCases {
            #expect(encoder.tokenizer.encode(testCase.text) == testCase.wordpiece, "\(testCase.text.prefix(80))")
        }
    }

    @Test func embeddingsMatchSentenceTransformersAsOneBatch() throws {
        guard let encoder = TextFixtures.requireEncoder() else { return }
        let cases = TextFixtures.embeddingCases
        let vectors = try encoder.embed(cases.map(\.text))
        for (testCase, vector) in zip(cases, vectors) {
            #expect(vector.count == 384)
            let similarity = TextFixtures.cosine(vector, testCase.embedding)
            #expect(similarity >= 0.9999, "cosine \(similarity) for \(testCase.text.prefix(80).debugDescription)")
        }
    }

    @Test func batchedAndSingleEmbeddingsAgree() throws {
        guard let encoder = TextFixtures.requireEncoder() else { return }
        let texts = TextFixtures.embeddingCases.prefix(6).map(\.text)
        let batched = try encoder.embed(texts)
        for (text, vector) in zip(texts, batched) {
            let single = try encoder.embed([text])[0]
            #expect(TextFixtures.cosine(single, vector) > 0.99999)
        }
    }

    @Test func smallPassesGiveTheSameVectors() throws {
        guard let directory = TextFixtures.modelDirectory else {
            Issue.record("MiniLM model unavailable")
            return
        }
        let tight = try MiniLMEncoder(directory: directory, maxRowsPerPass: 16)
        let cases = Array(TextFixtures.embeddingCases.prefix(8))
        let vectors = try tight.embed(cases.map(\.text))
        for (testCase, vector) in zip(cases, vectors) {
            #expect(TextFixtures.cosine(vector, testCase.embedding) >= 0.9999)
        }
    }

    @Test func concurrentCallersGetCorrectVectors() async throws {
        guard let encoder = TextFixtures.requireEncoder() else { return }
        let cases = Array(TextFixtures.embeddingCases.prefix(12))
        let worst = try await withThrowingTaskGroup(of: Float.self) { group in
            for testCase in cases {
                group.addTask {
                    let vector = try encoder.embed([testCase.text])[0]
                    return TextFixtures.cosine(vector, testCase.embedding)
                }
            }
            return try await group.reduce(Float(1)) { min($0, $1) }
        }
        #expect(worst >= 0.9999)
    }

    /// A scratch sized first for one worker's long sequence, then for two workers' shorter ones (the score matrices
    /// fit in the first allocation), has room for both workers' softmax normalisers: they were written past their
    /// end before, corrupting the heap when `/v1/embeddings` calls of different shapes took turns.
    @Test func scratchGrowsItsNormalisersWhenOnlyTheWorkerCountGrows() {
        let scratch = MiniLMScratch()
        let configuration = BertConfiguration()
        scratch.reserve(rows: 20, longest: 20, workers: 1, configuration: configuration)
        scratch.reserve(rows: 28, longest: 14, workers: 2, configuration: configuration)
        #expect(scratch.rowSumCapacity >= 2 * 14)
    }

    @Test func vectorKernelsMatchLibm() {
        var values = (0..<64).map { Float($0 - 32) * 0.37 }
        let reference = values.map { $0 * 0.5 * (1 + Foundation.erf($0 / Float(2).squareRoot())) }
        values.withUnsafeMutableBufferPointer {
            VectorKernels.gelu($0.baseAddress!, rowCount: 1, columns: $0.count, stride: $0.count)
        }
        for (value, expected) in zip(values, reference) { #expect(abs(value - expected) < 1e-5) }
        var scores: [Float] = (0..<19).map { Float($0) * 1.3 - 9 }
        let maximum = scores.max()!
        let exps = scores.map { Foundation.exp($0 - maximum) }
        let total = exps.reduce(0, +)
        scores.withUnsafeMutableBufferPointer { VectorKernels.softmax($0.baseAddress!, count: $0.count) }
        for (value, expected) in zip(scores, exps.map { $0 / total }) { #expect(abs(value - expected) < 1e-6) }
    }
}
