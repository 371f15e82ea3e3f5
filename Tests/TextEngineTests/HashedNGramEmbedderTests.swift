import Testing
import TextEngine

@Suite struct HashedNGramEmbedderTests {
    let embedder = HashedNGramEmbedder()

    @Test func vectorsAreNormalisedAndDeterministic() throws {
        let first = try embedder.embed(["Write a poem about the sea", ""])
        let again = try embedder.embed(["Write a poem about the sea"])
        #expect(first[0] == again[0])
        #expect(first[0].count == 384)
        let norm = first[0].reduce(0) { $0 + $1 * $1 }
        #expect(abs(norm - 1) < 1e-5)
        #expect(first[1].allSatisfy { $0 == 0 })
    }

    @Test func similarTextsAreCloserThanUnrelatedOnes() throws {
        let vectors = try embedder.embed([
            "write a poem about the sea", "write a poem about the ocean", "compile this rust code",
        ])
        func cosine(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        #expect(cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]))
    }
}
