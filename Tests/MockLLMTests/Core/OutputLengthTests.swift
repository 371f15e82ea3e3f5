import Contracts
import Foundation
import MockLLMCore
import Testing
import TextEngine

@Suite struct OutputLengthTests {
    @Test func aTracedPromptGetsExactlyItsRecordedLength() {
        let fingerprint = PromptFingerprint(text: "user: hello")
        let model = ReplyLengthModel(seed: 1, trace: [fingerprint.hex: 1234])
        let plan = model.plan(fingerprint: fingerprint, maxTokens: nil)
        #expect(plan == OutputPlan(tokens: 1234, finishReason: "stop", naturalTokens: 1234, source: .trace))
    }

    @Test func maxTokensCapsTheAnswerWithFinishReasonLength() {
        let fingerprint = PromptFingerprint(text: "x")
        let model = ReplyLengthModel(trace: [fingerprint.hex: 300])
        #expect(
            model.plan(fingerprint: fingerprint, maxTokens: 100)
                == OutputPlan(tokens: 100, finishReason: "length", naturalTokens: 300, source: .trace))
        #expect(model.plan(fingerprint: fingerprint, maxTokens: 300).finishReason == "stop")
    }

    @Test func drawsAreTheSameForTheSameSeedAndPromptAndDifferOtherwise() {
        let a = ReplyLengthModel(seed: 5)
        let b = ReplyLengthModel(seed: 5)
        let c = ReplyLengthModel(seed: 6)
        var differences = 0
        for index in 0..<200 {
            let fingerprint = PromptFingerprint(text: "prompt \(index)")
            #expect(a.naturalLength(fingerprint: fingerprint) == b.naturalLength(fingerprint: fingerprint))
            if a.naturalLength(fingerprint: fingerprint) != c.naturalLength(fingerprint: fingerprint) {
                differences += 1
            }
        }
        #expect(differences > 150)
    }

    @Test func drawnLengthsFollowTheFittedLogNormal() {
        let model = ReplyLengthModel(maxDrawnTokens: 1_000_000, seed: 3)
        var logs: [Double] = []
        for index in 0..<20_000 {
            let tokens = model.naturalLength(fingerprint: PromptFingerprint(text: "p\(index)")).tokens
            logs.append(log(Double(tokens)))
        }
        let mean = logs.reduce(0, +) / Double(logs.count)
        var squares = 0.0
        for value in logs { squares += (value - mean) * (value - mean) }
        let spread = (squares / Double(logs.count - 1)).squareRoot()
        #expect(abs(mean - ReplyLengthModel.shareGPTMu) < 0.05)
        #expect(abs(spread - ReplyLengthModel.shareGPTSigma) < 0.05)
    }

    @Test func drawnLengthsStayWithinOneAndTheCap() {
        let model = ReplyLengthModel(mu: 8, sigma: 3, maxDrawnTokens: 700, seed: 0)
        for index in 0..<2000 {
            let tokens = model.naturalLength(fingerprint: PromptFingerprint(text: "\(index)")).tokens
            #expect((1...700).contains(tokens))
        }
    }
}

@Suite struct PromptTokenTests {
    /// One token per whitespace-separated word, so the expected sums are easy to read.
    struct WordCounter: TokenCounter {
        func count(_ text: String) -> Int { text.split(separator: " ").count }
    }

    @Test func chatUsesOpenAIsPerMessageOverhead() {
        let messages = [
            ChatMessage(role: "system", content: "be brief"),
            ChatMessage(role: "user", content: "what is the time", name: "ann"),
        ]
        // 3 priming + (3 + 1 role + 2 content) + (3 + 1 role + 4 content + 1 + 1 name)
        #expect(PromptTokens.chat(messages, counter: WordCounter()) == 3 + 6 + 10)
    }

    @Test func completionsCountThePromptTextsOnly() {
        #expect(PromptTokens.completion(.text("one two three"), counter: WordCounter()) == 3)
        #expect(PromptTokens.completion(.texts(["a b", "c"]), counter: WordCounter()) == 3)
    }

    @Test func theApproximationIsOneTokenPerFourBytes() {
        #expect(ApproximateTokenCounter().count("") == 0)
        #expect(ApproximateTokenCounter().count("abcd") == 1)
        #expect(ApproximateTokenCounter().count("abcde") == 2)
    }
}

@Suite struct PromptFingerprintTests {
    @Test func matchesTheFNV1a64ReferenceVectors() {
        #expect(PromptFingerprint(text: "").hex == "cbf29ce484222325")
        #expect(PromptFingerprint(text: "a").hex == "af63dc4c8601ec8c")
        #expect(PromptFingerprint(text: "foobar").hex == "85944171f73967e8")
    }

    @Test func fingerprintsTheTextPromptTextGives() {
        let messages = [ChatMessage(role: "system", content: "s"), ChatMessage(role: "user", content: "hi")]
        #expect(PromptFingerprint(prompt: nil, messages: messages) == PromptFingerprint(text: "system: s\nuser: hi"))
        #expect(PromptFingerprint(prompt: "plain", messages: nil) == PromptFingerprint(text: "plain"))
        #expect(PromptFingerprint(hex: "000000000000000f")?.value == 15)
        #expect(PromptFingerprint(value: 15).hex == "000000000000000f")
        #expect(PromptFingerprint(hex: "xyz") == nil)
    }

    @Test func traceLinesRoundTrip() throws {
        let entry = TraceEntry(fingerprint: PromptFingerprint(text: "a"), outputTokens: 42)
        let line = try entry.jsonLine()
        #expect(line == #"{"fingerprint":"af63dc4c8601ec8c","output_tokens":42}"#)
        #expect(try TraceEntry.parseLines(line + "\n\n" + line + "\n") == [entry, entry])
        #expect(throws: TraceFileError.self) { try TraceEntry.parseLines("{\"fingerprint\": 1}") }
    }
}
