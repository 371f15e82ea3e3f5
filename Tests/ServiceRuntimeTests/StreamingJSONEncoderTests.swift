import Contracts
import Foundation
import NIOCore
import ServiceRuntime
import Testing

/// The streaming encoder writes the same JSON documents as Foundation's `JSONEncoder` (compared as parsed values,
/// since key order and number spelling may differ) for the contracts on the hot paths, and for containers used in
/// every order a hand-written `encode(to:)` may use them.
@Suite struct StreamingJSONEncoderTests {
    private func parsed(_ bytes: some Sequence<UInt8>) throws -> NSObject {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) as? NSObject)
    }

    private func parsed(_ buffer: ByteBuffer) throws -> NSObject {
        try parsed(buffer.readableBytesView)
    }

    /// Same document as Foundation's, and it decodes back to the value.
    private func check<T: Codable & Equatable>(_ value: T) throws {
        let streamed = try StreamingJSONEncoder().encode(value)
        let foundation = try JSONEncoder().encode(value)
        #expect(try parsed(streamed) == parsed(foundation), "\(String(buffer: streamed))")
        #expect(try JSONDecoder().decode(T.self, from: Data(streamed.readableBytesView)) == value)
    }

    private let prediction = PredictResponse(
        sizeBucket: .medium, expectedOutputTokensP50: 400, expectedOutputTokensP90: 900, promptTokens: 12,
        predictedCostP50: 412.5, riskScore: 0.2, confidenceScore: 0.8, fallbackLevel: .globalNeighbors,
        neighborsUsed: 8, modelVersion: "v\"1\\")

    @Test func hotPathContracts() throws {
        try check(prediction)
        try check(
            SubmitResponse(
                requestId: "req_1", state: .deferred, requestClass: .heavy, deadlineUnixMs: 1_732_000_000_123.25,
                prediction: prediction, reason: DecisionReason(code: "ladder_defer", message: "Deferred: congested.")))
        try check(
            SubmitResponse(
                requestId: "req_2", state: .queued, requestClass: .interactive, deadlineUnixMs: 0,
                prediction: prediction,
                reason: nil))
        let messages = [
            ChatMessage(role: "system", content: "Be brief.\nReally."),
            ChatMessage(role: "user", content: .parts([ContentPart(type: "text", text: "hé 👋 \u{01}\t</end>")])),
            ChatMessage(role: "assistant", content: nil as String?, name: "bot"),
        ]
        let body = ChatCompletionRequest(
            model: "gpt-4o-mini", messages: messages, maxTokens: 256, stream: true,
            streamOptions: StreamOptions(includeUsage: true), temperature: 0.7, user: "u")
        try check(body)
        try check(
            PredictBatchRequest(requests: [
                PredictRequest(messages: messages, maxTokens: 64, model: "m", taskType: "chat", tenantId: "t"),
                PredictRequest(messages: [], maxTokens: nil, model: "m", taskType: nil, tenantId: nil),
            ]))
    }

    @Test func everyControlCharacterAndQuoteIsEscaped() throws {
        var text = (0..<0x20).map { String(UnicodeScalar(UInt8($0))) }.joined()
        text += "\"\\/ é 中 😀 \u{7F}"
        try check([text])
        try check(["key \"with\" quotes": text])
    }

    @Test func primitivesEmptyContainersAndNulls() throws {
        try check(
            Shapes(numbers: [], nested: [[], [1, 2]], optional: nil, flag: false, ratio: -0.000_125, big: Int.max))
        try check(Shapes(numbers: [1, -2, 3], nested: [], optional: "x", flag: true, ratio: 1e21, big: Int.min))
        try check([Int?.none, 1, nil])
        try check(Empty())
        #expect(try StreamingJSONEncoder().encodeToString(Empty()) == "{}")
    }

    @Test func handWrittenContainersInAnyOrder() throws {
        let value = Nested(a: 1, inner: [3, 4], tail: "t")
        let document = try parsed(try StreamingJSONEncoder().encode([value, value]))
        let expected = try parsed(
            Array(
                #"[{"a":1,"first":{"x":1,"list":[3,4],"deep":{"y":[[1],[2]]}},"after":"t","second":[{"z":1},2]},{"a":1,"first":{"x":1,"list":[3,4],"deep":{"y":[[1],[2]]}},"after":"t","second":[{"z":1},2]}]"#
                    .utf8))
        #expect(document == expected)
    }

    @Test func nonFiniteNumbersThrowLikeFoundation() {
        #expect(throws: EncodingError.self) { try StreamingJSONEncoder().encode([Double.nan]) }
        #expect(throws: EncodingError.self) {
            try StreamingJSONEncoder().encode(
                Shapes(numbers: [], nested: [], optional: nil, flag: true, ratio: .infinity, big: 0))
        }
    }
}

private struct Shapes: Codable, Equatable {
    var numbers: [Int]
    var nested: [[Int]]
    var optional: String?
    var flag: Bool
    var ratio: Double
    var big: Int
}

private struct Empty: Codable, Equatable {}

/// Uses nested keyed and unkeyed containers, and keeps writing to the parent after them.
private struct Nested: Encodable {
    var a: Int
    var inner: [Int]
    var tail: String

    enum Keys: String, CodingKey { case a, first, x, list, deep, y, after, second, z }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(a, forKey: .a)
        var first = container.nestedContainer(keyedBy: Keys.self, forKey: .first)
        try first.encode(1, forKey: .x)
        var list = first.nestedUnkeyedContainer(forKey: .list)
        for item in inner { try list.encode(item) }
        var deep = first.nestedContainer(keyedBy: Keys.self, forKey: .deep)
        var y = deep.nestedUnkeyedContainer(forKey: .y)
        var one = y.nestedUnkeyedContainer()
        try one.encode(1)
        var two = y.nestedUnkeyedContainer()
        try two.encode(2)
        try container.encode(tail, forKey: .after)
        var second = container.nestedUnkeyedContainer(forKey: .second)
        var object = second.nestedContainer(keyedBy: Keys.self)
        try object.encode(1, forKey: .z)
        try second.encode(2)
    }
}
