import Foundation
import Testing

@testable import TextEngine

@Suite struct CL100KTokenizerTests {
    @Test func fixtureCoversShareGPTAndEdgeCases() {
        let cases = TextFixtures.tokenizerCases
        #expect(cases.filter { $0.source == "sharegpt" }.count >= 2000)
        #expect(cases.filter { $0.source == "edge" }.count >= 50)
    }

    @Test func idsEqualTiktokenOnEveryFixtureText() throws {
        guard let tokenizer = TextFixtures.requireCL100K() else { return }
        var mismatches = 0
        for testCase in TextFixtures.tokenizerCases {
            let ids = tokenizer.encode(testCase.text)
            if ids != testCase.cl100k {
                mismatches += 1
                if mismatches <= 5 {
                    Issue.record(
                        "cl100k mismatch for \(testCase.text.debugDescription.prefix(200)): \(ids.prefix(40)) vs \(testCase.cl100k.prefix(40))"
                    )
                }
            }
        }
        #expect(mismatches == 0)
    }

    @Test func countMatchesEncodeAndDecodeRoundTrips() throws {
        guard let tokenizer = TextFixtures.requireCL100K() else { return }
        for testCase in TextFixtures.tokenizerCases.prefix(300) {
            #expect(tokenizer.count(testCase.text) == testCase.cl100k.count)
            #expect(tokenizer.decode(testCase.cl100k) == testCase.text)
        }
    }

    @Test func specialTokenTextIsNotParsedButDecodes() throws {
        guard let tokenizer = TextFixtures.requireCL100K() else { return }
        let ids = tokenizer.encode("<|endoftext|>")
        #expect(ids.count > 1)
        #expect(!ids.contains(100_257))
        #expect(tokenizer.decode([100_257]) == "<|endoftext|>")
    }

    @Test func heapMergeAgreesWithScanningMerge() throws {
        guard let tokenizer = TextFixtures.requireCL100K() else { return }
        var generator = SplitMix(seed: 7)
        let alphabet = Array("aabbeenrst  ing".utf8)
        for _ in 0..<300 {
            let length = Int(generator.next() % 200) + 2
            let bytes = (0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }
            var scanned: [Int32] = []
            var heaped: [Int32] = []
            bytes.withUnsafeBufferPointer { buffer in
                tokenizer.ranks.mergeByScanning(buffer.baseAddress!, buffer.count) { scanned.append($0) }
                tokenizer.ranks.mergeWithHeap(buffer.baseAddress!, buffer.count) { heaped.append($0) }
            }
            #expect(scanned == heaped)
        }
    }
}

/// A small deterministic generator so randomised tests repeat exactly.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
}
