import Foundation
import Testing
import TextEngine

@Suite struct WordPieceTokenizerTests {
    @Test func idsEqualHuggingFaceTokenizersOnEveryFixtureText() throws {
        guard let tokenizer = TextFixtures.requireWordPiece() else { return }
        var mismatches = 0
        for testCase in TextFixtures.tokenizerCases {
            let ids = tokenizer.encode(testCase.text, maxLength: nil)
            if ids != testCase.wordpiece {
                mismatches += 1
                if mismatches <= 5 {
                    Issue.record(
                        "WordPiece mismatch for \(testCase.text.debugDescription.prefix(200)): \(ids.prefix(40)) vs \(testCase.wordpiece.prefix(40))"
                    )
                }
            }
        }
        #expect(mismatches == 0)
    }

    @Test func truncatesToMaxLengthKeepingSpecials() throws {
        guard let tokenizer = TextFixtures.requireWordPiece() else { return }
        let long = TextFixtures.tokenizerCases.first { $0.wordpiece.count > 300 }
        let testCase = try #require(long)
        let ids = tokenizer.encode(testCase.text)
        #expect(ids.count == 256)
        #expect(ids.first == tokenizer.classifierID && ids.last == tokenizer.separatorID)
        #expect(Array(ids[0..<255]) == Array(testCase.wordpiece[0..<255]))
    }

    @Test func splitsPunctuationLowercasesAndStripsAccents() throws {
        guard let tokenizer = TextFixtures.requireWordPiece() else { return }
        #expect(tokenizer.tokenize("Café, NAÏVE!") == ["cafe", ",", "naive", "!"])
        #expect(tokenizer.tokenize("") == [])
        #expect(tokenizer.encode("") == [tokenizer.classifierID, tokenizer.separatorID])
    }
}
