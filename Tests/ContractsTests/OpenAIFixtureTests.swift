import Contracts
import Foundation
import Testing

/// Reads a fixture written by scripts/fixtures/make_contract_fixtures.py from the official openai package's types.
func contractFixture(_ name: String) throws -> Data {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/contracts/\(name)")
    return try Data(contentsOf: url)
}

@Suite struct OpenAIFixtureTests {
    @Test func chatCompletionFromTheOfficialClientDecodes() throws {
        let response = try JSONDecoder().decode(
            ChatCompletionResponse.self, from: contractFixture("chat_completion.json"))
        #expect(response.choices.first?.message.content?.plainText == "Bonjour !")
        #expect(response.choices.first?.finishReason == "stop")
        #expect(response.usage == Usage(promptTokens: 12, completionTokens: 5))
    }

    @Test func streamingChunksDecodeIncludingTheUsageChunk() throws {
        let chunk = try JSONDecoder().decode(
            ChatCompletionChunk.self, from: contractFixture("chat_completion_chunk.json"))
        #expect(chunk.choices.first?.delta.content == "Bon")
        #expect(chunk.choices.first?.finishReason == nil)
        let usage = try JSONDecoder().decode(
            ChatCompletionChunk.self, from: contractFixture("chat_completion_usage_chunk.json"))
        #expect(usage.choices.isEmpty)
        #expect(usage.usage?.totalTokens == 17)
    }

    @Test func ourChunksEncodeAsTheClientExpects() throws {
        let chunk = ChatCompletionChunk(
            id: "c", created: 1, model: "m", choices: [.init(index: 0, delta: .init(content: "x"), finishReason: nil)])
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(chunk)) as? [String: Any]
        let choice = (object?["choices"] as? [[String: Any]])?.first
        #expect(object?["object"] as? String == "chat.completion.chunk")
        // The client reads finish_reason on every chunk; it must be present (null) rather than absent.
        #expect(choice?.keys.contains("finish_reason") == true)
    }

    @Test func completionsEmbeddingsAndModelsDecode() throws {
        let completion = try JSONDecoder().decode(CompletionResponse.self, from: contractFixture("completion.json"))
        #expect(completion.choices.first?.text == "Hello")
        let embeddings = try JSONDecoder().decode(EmbeddingResponse.self, from: contractFixture("embeddings.json"))
        #expect(embeddings.data.first?.embedding == [0.1, -0.2, 0.3])
        #expect(embeddings.usage.promptTokens == 4)
        let model = try JSONDecoder().decode(ModelInfo.self, from: contractFixture("model.json"))
        #expect(model.ownedBy == "maitre")
    }

    @Test func chatRequestWithContentPartsDecodes() throws {
        let request = try JSONDecoder().decode(ChatCompletionRequest.self, from: contractFixture("chat_request.json"))
        #expect(request.stream == true)
        #expect(request.streamOptions?.includeUsage == true)
        #expect(request.outputTokenLimit == 64)
        #expect(request.messages[1].content?.plainText == "Say hello")
        #expect(PromptText.userText(prompt: nil, messages: request.messages) == "Say hello")
    }

    @Test func errorEnvelopeRoundTripsWithExplicitNulls() throws {
        let envelope = try JSONDecoder().decode(ErrorEnvelope.self, from: contractFixture("error.json"))
        #expect(envelope.error.code == "insufficient_quota")
        #expect(envelope.error.param == nil)
        let encoded = String(
            decoding: try JSONEncoder().encode(ErrorEnvelope(message: "m", type: .invalidRequest)), as: UTF8.self)
        #expect(encoded.contains("\"param\":null"))
        #expect(encoded.contains("\"code\":null"))
    }
}

@Suite struct SchedulerContractTests {
    @Test func timingsDeriveQueueAndLatencyAndRoundTrip() throws {
        let timings = RequestTimings(submittedUnixMs: 1000, dispatchedUnixMs: 1250, finishedUnixMs: 3000)
        #expect(timings.queueMs == 250)
        #expect(timings.latencyMs == 2000)
        let data = try JSONEncoder().encode(timings)
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Double]
        #expect(object?["queue_ms"] == 250)
        #expect(try JSONDecoder().decode(RequestTimings.self, from: data) == timings)
    }

    @Test func terminalStatesAreExactlyTheFinalOnes() {
        #expect(RequestState.allCases.filter(\.isTerminal) == [.completed, .rejected, .failed, .expired, .cancelled])
    }
}
