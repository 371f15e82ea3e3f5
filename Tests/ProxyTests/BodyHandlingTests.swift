import Foundation
import ProxyCore
import Testing

@Suite struct BodyHandlingTests {
    @Test func rewritesOnlyTheTopLevelModelValue() throws {
        let body =
            #"{"messages":[{"role":"user","content":"model: \"x\"","model":"inner"}],  "model" : "alias", "temperature":0.5,"extra":{"model":"keep"}}"#
        let rewritten = try #require(ModelRewriter.rewrite(Array(body.utf8), model: "gpt-4o-mini-2024"))
        let text = String(decoding: rewritten, as: UTF8.self)
        #expect(
            text
                == #"{"messages":[{"role":"user","content":"model: \"x\"","model":"inner"}],  "model" : "gpt-4o-mini-2024", "temperature":0.5,"extra":{"model":"keep"}}"#
        )
    }

    @Test func escapesTheNewModelName() throws {
        let rewritten = try #require(ModelRewriter.rewrite(Array(#"{"model":"a"}"#.utf8), model: "we\"ird\\"))
        let object = try JSONSerialization.jsonObject(with: Data(rewritten)) as? [String: Any]
        #expect(object?["model"] as? String == "we\"ird\\")
    }

    @Test func leavesBodiesWithoutAModelStringAlone() {
        #expect(ModelRewriter.rewrite(Array(#"{"messages":[]}"#.utf8), model: "x") == nil)
        #expect(ModelRewriter.rewrite(Array(#"{"model":7}"#.utf8), model: "x") == nil)
        #expect(ModelRewriter.rewrite(Array("[1,2]".utf8), model: "x") == nil)
    }

    @Test func summaryReadsTheFieldsTheProxyNeedsAndToleratesOddShapes() throws {
        let body =
            #"{"model":"m","stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":77,"messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"x"}}]}],"tools":[{"type":"function"}]}"#
        let summary = try JSONDecoder().decode(RequestSummary.self, from: Data(body.utf8))
        #expect(summary.model == "m" && summary.stream && summary.includeUsage && summary.maxTokens == 77)
        #expect(summary.promptText == "user: hi")
        let embedding = try JSONDecoder().decode(
            RequestSummary.self, from: Data(#"{"model":"e","input":["a","b"]}"#.utf8))
        #expect(embedding.inputTexts == ["a", "b"])
        let weird = try JSONDecoder().decode(
            RequestSummary.self, from: Data(#"{"model":"m","stream":"yes","max_tokens":"x","messages":5}"#.utf8))
        #expect(!weird.stream && weird.maxTokens == nil && weird.messages == nil)
    }

    @Test func scannerReadsUsageAndTextFromSSEChunksSplitAnywhere() {
        let stream = """
            data: {"choices":[{"delta":{"content":"Hel"},"finish_reason":null}]}\r

            data: {"choices":[{"delta":{"content":"lo"},"finish_reason":"stop"}]}

            data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}

            data: [DONE]


            """
        let bytes = Array(stream.utf8)
        var scanner = UsageScanner(streaming: true)
        var index = 0
        for size in [3, 17, 1, 40, 200, 1000] where index < bytes.count {
            let end = min(bytes.count, index + size)
            scanner.feed(bytes[index..<end])
            index = end
        }
        let facts = scanner.finish()
        #expect(facts.streamedText == "Hello")
        #expect(facts.finishReason == "stop")
        #expect(facts.completionTokens == 2 && facts.promptTokens == 5 && facts.totalTokens == 7)
    }

    @Test func scannerReadsUsageFromAWholeAnswer() {
        var scanner = UsageScanner(streaming: false)
        scanner.feed(
            Array(
                #"{"choices":[{"message":{"role":"assistant","content":"ok"},"finish_reason":"length"}],"usage":{"prompt_"#
                    .utf8))
        scanner.feed(Array(#"tokens":3,"completion_tokens":9,"total_tokens":12}}"#.utf8))
        let facts = scanner.finish()
        #expect(facts.completionTokens == 9 && facts.finishReason == "length" && facts.streamedText == "ok")
    }

    @Test func retryPolicyStopsAtTheDeadlineAndTheRetryLimit() {
        let policy = RetryPolicy(maxRetries: 2, baseBackoff: 0.1, maxBackoff: 1)
        #expect(policy.nextDelay(after: .connectFailure, retry: 1, now: 0, deadline: 10, jitter: 0.5) == 0.1)
        #expect(
            policy.nextDelay(after: .serverError(retryAfter: nil), retry: 2, now: 0, deadline: 10, jitter: 0.5) == 0.2)
        #expect(policy.nextDelay(after: .connectFailure, retry: 3, now: 0, deadline: 10, jitter: 0.5) == nil)
        #expect(policy.nextDelay(after: .connectFailure, retry: 1, now: 9.95, deadline: 10, jitter: 0.5) == nil)
        #expect(policy.nextDelay(after: .clientError, retry: 1, now: 0, deadline: 10, jitter: 0.5) == nil)
        #expect(
            policy.nextDelay(
                after: .success(latencyMs: 1, kind: .complete, totalTokens: nil), retry: 1, now: 0, deadline: 10,
                jitter: 0.5) == nil)
    }

    @Test func retryAfterPrefersMillisecondsAndReadsDates() {
        #expect(RetryAfter.seconds(retryAfterMs: "1500", retryAfter: "9") == 1.5)
        #expect(RetryAfter.seconds(retryAfterMs: nil, retryAfter: "2") == 2)
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let later = RetryAfter.seconds(retryAfterMs: nil, retryAfter: "Tue, 14 Nov 2023 22:13:30 GMT", now: now)
        #expect(later == 10)
        #expect(RetryAfter.seconds(retryAfterMs: "x", retryAfter: "soon") == nil)
    }
}
