import Contracts
import Foundation
import Testing

@testable import ProxyCore

/// The proxy's `JSONReader` paths (the request summary, the upstream answer's usage) give what the lenient
/// `JSONDecoder` reading gives on every input they accept, and hand every other input back.
@Suite struct ReaderFastPathTests {
    static let ordinaryRequests = [
        #"{"model":"gpt-4o-mini","max_tokens":16,"messages":[{"role":"user","content":"Say hello to the kitchen."}]}"#,
        #" { "model" : "m" , "stream" : true , "stream_options" : {"include_usage":true,"x":[1]} , "messages" : [ { "role" : "system" , "content" : "a\nb\t\"c\" \\ \/ \u00e9 \ud83d\ude00" } , {"role":"user","content":null,"name":"bob","tool_calls":[{"id":"1"}]} ] , "tools":[{"type":"function","function":{"parameters":{"a":[true,false,null,-1.5e3]}}}] } "#,
        #"{"model":"m","max_tokens":5,"max_completion_tokens":7,"messages":[]}"#,
        #"{"model":"m","max_tokens":null,"max_completion_tokens":null,"stream":null,"stream_options":null,"messages":null}"#,
        #"{"model":"m","prompt":"Once upon a time","max_tokens":64,"echo":false}"#,
        #"{"model":"m","prompt":["one","two",""],"stream":false}"#,
        #"{"model":"m","prompt":[]}"#,
        #"{"model":"e","input":"embed me"}"#,
        #"{"model":"e","input":["a","b"],"encoding_format":"float"}"#,
        #"{"model":"e","input":null,"prompt":null}"#,
        #"{"model":"é€😀"}"#,
    ]

    /// Requests the reader must hand to `JSONDecoder`: its errors, or shapes the lenient reading judges.
    static let unusualRequests = [
        "", "[]", "null", "{", "{}", #"{"messages":[]}"#, #"{"model":null}"#, #"{"model":1}"#,
        #"{"model":"m",}"#, #"{"model":"m"} x"#, #"{"model":"m","model":"n"}"#,
        #"{"model":"m","stream":"yes","max_tokens":"x","messages":5}"#,
        #"{"model":"m","max_tokens":16.0}"#, #"{"model":"m","max_tokens":1e2}"#,
        #"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}"#,
        #"{"model":"m","messages":[{"content":"x"}]}"#,
        #"{"model":"m","stream_options":{"include_usage":1}}"#,
        #"{"model":"m","prompt":[1,2,3]}"#, #"{"model":"e","input":[1,2,3]}"#, #"{"model":"e","input":[[1,2],[3]]}"#,
        #"{"model":"e","input":5}"#, #"{"model":"m\ud800"}"#, #"{"model":"m","extra":01}"#,
    ]

    /// Every truncation of `body`, and `body` with each byte in turn replaced by each of a few JSON-significant ones.
    static func damaged(_ body: String) -> [[UInt8]] {
        let bytes = Array(body.utf8)
        var variants: [[UInt8]] = (0..<bytes.count).map { Array(bytes[..<$0]) }
        for position in bytes.indices {
            for replacement in Array(#"{}[],:" 1an\"#.utf8) {
                var changed = bytes
                changed[position] = replacement
                variants.append(changed)
            }
        }
        return variants
    }

    /// `bytes` read whole by `read`, as the services call it.
    static func fast<Value>(_ bytes: [UInt8], _ read: (inout JSONReader) -> Value?) -> Value? {
        bytes.withUnsafeBytes { JSONReader.document($0, maxDepth: 64, read) }
    }

    /// Whenever `read` accepts a damaged variant of one of `bodies`, `JSONDecoder` reads the same; the number
    /// of variants `read` accepted.
    static func damagedVariantsAgree<Value: Decodable & Equatable>(
        _ bodies: [String], _ read: (inout JSONReader) -> Value?
    ) -> Int {
        var accepted = 0
        for body in bodies {
            for variant in damaged(body) {
                guard let value = fast(variant, read) else { continue }
                accepted += 1
                #expect(
                    value == (try? JSONDecoder().decode(Value.self, from: Data(variant))),
                    "\(String(decoding: variant, as: UTF8.self))")
            }
        }
        return accepted
    }

    static func summary(_ text: String) -> RequestSummary? {
        fast(Array(text.utf8), RequestSummary.read)
    }

    @Test(arguments: ordinaryRequests)
    func ordinaryRequestsAreSummarisedAsJSONDecoderSummarisesThem(body: String) throws {
        let fast = try #require(Self.summary(body))
        #expect(fast == (try JSONDecoder().decode(RequestSummary.self, from: Data(body.utf8))))
    }

    @Test(arguments: unusualRequests)
    func unusualRequestsAreLeftToJSONDecoder(body: String) {
        #expect(Self.summary(body) == nil)
    }

    /// Every truncation and many one-byte changes of the ordinary bodies: whenever the reader answers,
    /// `JSONDecoder` answers the same.
    @Test func damagedRequestsAreReadAlikeOrLeftAlone() {
        #expect(Self.damagedVariantsAgree(Self.ordinaryRequests, RequestSummary.read) > 100)
    }

    static let ordinaryAnswers = [
        #"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hi \"there\"\n","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":0}},"system_fingerprint":"fp"}"#,
        #"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        #"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#,
        #"{"choices":[{"text":" legacy","index":0,"finish_reason":"length"}]}"#,
        #"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,-2e-3,3]}],"usage":{"prompt_tokens":4,"total_tokens":4}}"#,
        #"{"choices":[{"message":{"content":null,"tool_calls":[{"id":"t"}]},"finish_reason":"tool_calls"}]}"#,
    ]

    static let unusualAnswers = [
        "", "[]", #"{"usage":{"prompt_tokens":"9"}}"#, #"{"choices":{}}"#, #"{"choices":[{"delta":{"content":5}}]}"#,
        #"{"usage":{"prompt_tokens":1.5}}"#, #"{"choices":[],"choices":[]}"#, #"{"choices":[]"#,
    ]

    static func answer(_ text: String) -> AnswerSummary? {
        fast(Array(text.utf8), AnswerSummary.read)
    }

    @Test(arguments: ordinaryAnswers)
    func ordinaryAnswersAreReadAsJSONDecoderReadsThem(body: String) throws {
        let fast = try #require(Self.answer(body))
        #expect(fast == (try JSONDecoder().decode(AnswerSummary.self, from: Data(body.utf8))))
    }

    @Test(arguments: unusualAnswers)
    func unusualAnswersAreLeftToJSONDecoder(body: String) {
        #expect(Self.answer(body) == nil)
        // And the scanner still learns what JSONDecoder reads from them.
        #expect(
            AnswerSummary.decode(Array(body.utf8)[...])
                == (try? JSONDecoder().decode(AnswerSummary.self, from: Data(body.utf8))))
    }

    @Test func damagedAnswersAreReadAlikeOrLeftAlone() {
        #expect(Self.damagedVariantsAgree(Self.ordinaryAnswers, AnswerSummary.read) > 100)
    }
}
