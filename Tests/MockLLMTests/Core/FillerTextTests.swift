import Foundation
import MockLLMCore
import Testing
import TextEngine

@Suite struct FillerTextTests {
    struct Fixture: Decodable {
        var pieces: [String]
        var tokenCounts: [String: Int]

        enum CodingKeys: String, CodingKey {
            case pieces
            case tokenCounts = "token_counts"
        }
    }

    static func fixture() throws -> Fixture {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/mock-llm/filler.json")
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    @Test func piecesAreTheOnesTiktokenCountedAsOneTokenEach() throws {
        let fixture = try Self.fixture()
        #expect(FillerText.pieces == fixture.pieces)
        // tiktoken counted n consecutive pieces as exactly n tokens for every n in the fixture.
        for (n, count) in fixture.tokenCounts { #expect(Int(n) == count) }
    }

    @Test func textOfNTokensIsTheFirstNPiecesAndChunksConcatenate() {
        #expect(FillerText.text(tokens: 3) == " The kitchen is")
        #expect(FillerText.text(tokens: 0) == "")
        let whole = FillerText.text(tokens: 100)
        let chunked = stride(from: 0, to: 100, by: 7).map { FillerText.text(tokens: min(7, 100 - $0), from: $0) }
            .joined()
        #expect(whole == chunked)
    }
}

@Suite struct FillerTextCL100KTests {
    @Test(.enabled(if: CL100KTokenizer.locateRankFile() != nil, "needs the cl100k rank file"))
    func everyPrefixOfTheFillerIsExactlyItsLengthInCL100KTokens() throws {
        let tokenizer = try CL100KTokenizer.loadDefault()
        for tokens in Array(0..<120) + [257, 1000] {
            #expect(tokenizer.count(FillerText.text(tokens: tokens)) == tokens)
        }
        // A stream's chunks, counted one by one, add up the same.
        #expect(tokenizer.count(FillerText.text(tokens: 5, from: 11)) == 5)
    }
}
