import Contracts
import Foundation
import MockLLMCore
import NIOCore
import ServiceRuntime
import Testing

@testable import MockLLM

/// The request path's hand-written readers and writers agree with Foundation's JSON coders and the general
/// header rule on every input they accept, and hand every other input back.
@Suite struct FastPathEquivalenceTests {
    static let awkwardStrings = [
        "gpt-4o-mini", "", "org/model:v1", #"quote " and \ backslash"#, "tab\tnew\nline\r\u{8}\u{c}",
        "control \u{0}\u{1}\u{1f}\u{7f}", "é€😀 \u{2028}\u{feff}", "chatcmpl-mock1a",
    ]

    static func job(_ endpoint: GenerationJob.Endpoint, id: String, model: String, tokens: Int) -> GenerationJob {
        GenerationJob(
            endpoint: endpoint, id: id, created: 1_700_000_000, model: model, promptTokens: 17,
            fingerprint: PromptFingerprint(text: "x"),
            plan: OutputPlan(
                tokens: tokens, finishReason: tokens > 20 ? "length" : "stop", naturalTokens: 30, source: .drawn),
            stream: false, includeUsage: false, fault: InjectedFault()
        )
    }

    /// The same JSON value, whatever the key order (JSONEncoder's changes from run to run).
    static func sameJSON(_ written: ByteBuffer, _ expected: Data) throws -> Bool {
        let lhs = try JSONSerialization.jsonObject(with: Data(written.readableBytesView)) as? NSDictionary
        let rhs = try JSONSerialization.jsonObject(with: expected) as? NSDictionary
        return lhs != nil && lhs == rhs
    }

    @Test(arguments: [0, 1, 26, 27, 100])
    func answersAreTheJSONThatJSONEncoderWrites(tokens: Int) throws {
        for text in Self.awkwardStrings {
            let chat = Self.job(.chat, id: text, model: text, tokens: tokens)
            let chatExpected = ChatCompletionResponse(
                id: text, created: chat.created, model: text,
                choices: [
                    .init(
                        index: 0, message: ChatMessage(role: "assistant", content: FillerText.text(tokens: tokens)),
                        finishReason: chat.plan.finishReason)
                ],
                usage: chat.usage)
            let chatWritten = AnswerJSON.chatCompletion(chat)
            #expect(try Self.sameJSON(chatWritten, try JSONEncoder().encode(chatExpected)))
            #expect(
                try JSONDecoder().decode(ChatCompletionResponse.self, from: Data(chatWritten.readableBytesView))
                    == chatExpected)

            let legacy = Self.job(.completion, id: text, model: text, tokens: tokens)
            let legacyExpected = CompletionResponse(
                id: text, created: legacy.created, model: text,
                choices: [
                    .init(index: 0, text: FillerText.text(tokens: tokens), finishReason: legacy.plan.finishReason)
                ],
                usage: legacy.usage)
            let legacyWritten = AnswerJSON.textCompletion(legacy)
            #expect(try Self.sameJSON(legacyWritten, try JSONEncoder().encode(legacyExpected)))
            #expect(
                try JSONDecoder().decode(CompletionResponse.self, from: Data(legacyWritten.readableBytesView))
                    == legacyExpected)
        }
    }

    @Test func escapesAreJSONEncodersOwn() throws {
        var text = String((0..<128).map { Character(Unicode.Scalar(UInt8($0))) })
        text += "é€😀\u{2028}"
        var buffer = ByteBuffer()
        buffer.writeJSONString(text)
        #expect(String(buffer: buffer) == String(decoding: try JSONEncoder().encode(text), as: UTF8.self))
    }

    /// Bodies the chat reader must take itself.
    static let ordinaryBodies = [
        #"{"model":"gpt-4o-mini","max_tokens":16,"messages":[{"role":"user","content":"Say hello to the kitchen."}]}"#,
        #" { "model" : "m" , "messages" : [ { "role" : "system" , "content" : "a\nb\t\"c\" \\ \/ \u00e9 \ud83d\ude00 \u0000" } , {"role":"user","content":null,"name":"bob"} ] } "#,
        #"{"messages":[{"role":"user","content":"é€😀","tool_calls":[{"id":1,"f":{"a":[true,false,null,-1.5e3]}}]}],"model":"m","stream":true,"stream_options":{"include_usage":true,"extra":[]},"temperature":0.7,"n":2,"user":"u","max_completion_tokens":5}"#,
        #"{"model":"m","messages":[],"max_tokens":null,"stream":false,"stream_options":null,"temperature":1e-3,"n":null,"user":null,"logit_bias":{"50256":-100},"stop":["\n"]}"#,
        #"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":-0,"temperature":2}"#,
        #"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0}"#,
        #"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":-7}"#,
    ]

    /// Bodies the chat reader must hand to JSONDecoder: its errors, or shapes it reads differently.
    static let unusualBodies = [
        "", " ", "[]", "null", "{", "{}", #"{"model":"m"}"#, #"{"messages":[]}"#,
        #"{"model":"m","messages":[],}"#, #"{"model":"m","messages":[]} x"#, #"{"model":"m","messages":[]}{}"#,
        #"{"model":"m","model":"n","messages":[]}"#,
        #"{"model":"m","messages":[{"role":"user","role":"system","content":"x"}]}"#,
        #"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}"#,
        #"{"model":"m","messages":[{"role":"user","content":5}]}"#,
        #"{"model":"m","messages":[{"content":"x"}]}"#,
        #"{"model":"m","messages":[{"role":null,"content":"x"}]}"#,
        #"{"model":1,"messages":[]}"#,
        #"{"model":"m","messages":[],"max_tokens":16.0}"#, #"{"model":"m","messages":[],"max_tokens":1e2}"#,
        #"{"model":"m","messages":[],"max_tokens":"16"}"#, #"{"model":"m","messages":[],"max_tokens":016}"#,
        #"{"model":"m","messages":[],"max_tokens":99999999999999999999}"#,
        #"{"model":"m","messages":[],"temperature":1e400}"#, #"{"model":"m","messages":[],"temperature":.5}"#,
        #"{"model":"m","messages":[],"stream":"yes"}"#, #"{"model":"m","messages":[],"stream":tru}"#,
        #"{"model":"m\ud800","messages":[]}"#, #"{"model":"m\udc00x","messages":[]}"#,
        #"{"model":"m\x","messages":[]}"#,
        #"{"model":"m\u12","messages":[]}"#, "{\"model\":\"a\u{1}b\",\"messages\":[]}",
        #"{"model":"m","messages":[],"extra":[1,2,]}"#, #"{"model":"m","messages":[],"extra":01}"#,
        #"{"model":"m","messages":[],"extra":-}"#, #"{"model":"m","messages":[],"extra":1.}"#,
        #"{"model":"m","messages":[],"extra":{"a" 1}}"#, #"{"model" "m","messages":[]}"#,
        #"{"model":"m","messages":[],"stream_options":{"include_usage":1}}"#,
        #"{"model":"m","messages":[],"stream_options":[]}"#,
        #"{"model":"m","messages":[],"deep":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"#,
    ]

    static func readChat(_ bytes: [UInt8], maxDepth: Int = 64) -> ChatCompletionRequest? {
        bytes.withUnsafeBytes { JSONReader.document($0, maxDepth: maxDepth, RequestDecoding.readChat) }
    }

    @Test(arguments: ordinaryBodies)
    func ordinaryChatBodiesAreReadAsJSONDecoderReadsThem(body: String) throws {
        let fast = try #require(Self.readChat(Array(body.utf8)))
        #expect(fast == (try JSONDecoder().decode(ChatCompletionRequest.self, from: Data(body.utf8))))
    }

    @Test(arguments: unusualBodies)
    func unusualChatBodiesAreLeftToJSONDecoder(body: String) {
        #expect(Self.readChat(Array(body.utf8)) == nil)
    }

    @Test func invalidUTF8IsLeftToJSONDecoder() {
        let prefix = Array(#"{"model":"m","messages":[{"role":"user","content":"a"#.utf8)
        for bad: [UInt8] in [[0xFF], [0xC3], [0xE2, 0x82], [0xED, 0xA0, 0x80]] {
            #expect(Self.readChat(prefix + bad + Array(#""}]}"#.utf8)) == nil)
            #expect(Self.readChat(prefix + Array(#"\n"#.utf8) + bad + Array(#""}]}"#.utf8)) == nil)
        }
    }

    @Test func nestingPastTheLimitIsLeftToJSONDecoder() {
        let body = Array(#"{"model":"m","messages":[{"role":"user","content":"x","extra":[[1]]}]}"#.utf8)
        #expect(Self.readChat(body, maxDepth: 5) != nil)
        #expect(Self.readChat(body, maxDepth: 4) == nil)
    }

    @Test func plainBearerHeadersGiveWhatTheGeneralRuleGives() {
        let headers = [
            "Bearer sk-bench", "bearer sk-bench", "BEARER sk-x", "Bearer  sk-padded ", "Bearer \tsk", "Bearer sk\t",
            "Bearer ", "Bearer", "Bearer  ", "Basic abc", "Bearerx sk", "Bearer\u{a0}sk", "Bearer \u{301}sk",
            "Bearer sk-é", "Bearer ésk", "Bearer sk key", "Bearer sk\u{3000}", "Bearer a",
        ]
        for header in headers {
            let general = CompletionRoutes.bearerToken(header: header)
            if let plain = CompletionRoutes.plainBearerToken(header) {
                #expect(plain == general, "\(header)")
            }
        }
        #expect(CompletionRoutes.plainBearerToken("Bearer sk-bench") == "sk-bench")
        #expect(CompletionRoutes.plainBearerToken("bEaReR sk-bench") == "sk-bench")
    }
}
