import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MockLLM
import MockLLMCore
import NIOCore
import Testing
import TextEngine

@Suite struct CompletionRoutesTests {
    typealias Support = MockLLMTestSupport

    @Test func chatAnswersWithExactUsageAndFillerOfTheDrawnLength() async throws {
        let app = try await Support.application(["seed": "11"])
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/v1/chat/completions", method: .post, headers: Support.headers([:]),
                body: try Support.json(Support.chat)
            ) { response in
                #expect(response.status == .ok)
                let body = try Support.decode(ChatCompletionResponse.self, response.body)
                let plan = ReplyLengthModel(seed: 11).plan(
                    fingerprint: PromptFingerprint(prompt: nil, messages: Support.chat.messages), maxTokens: nil)
                #expect(body.object == "chat.completion")
                #expect(body.model == "gpt-4o-mini")
                #expect(body.choices.first?.message.role == "assistant")
                #expect(body.choices.first?.message.content == .text(FillerText.text(tokens: plan.tokens)))
                #expect(body.choices.first?.finishReason == "stop")
                #expect(
                    body.usage
                        == Usage(
                            promptTokens: PromptTokens.chat(Support.chat.messages, counter: Support.counter),
                            completionTokens: plan.tokens))
            }
        }
    }

    @Test func maxTokensCutsTheAnswerWithFinishReasonLength() async throws {
        let app = try await Support.application()
        var request = Support.chat
        request.maxTokens = 1
        let body = try Support.json(request)
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/v1/chat/completions", method: .post, headers: Support.headers([:]), body: body
            ) { response in
                let body = try Support.decode(ChatCompletionResponse.self, response.body)
                #expect(body.usage?.completionTokens == 1)
                #expect(body.choices.first?.finishReason == "length")
                #expect(body.choices.first?.message.content == .text(" The"))
            }
        }
    }

    @Test func aTracedPromptGetsItsRecordedLength() async throws {
        let fingerprint = PromptFingerprint(prompt: nil, messages: Support.chat.messages)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "mock-trace-\(UUID().uuidString).jsonl"
        ).path
        try (try TraceEntry(fingerprint: fingerprint, outputTokens: 77).jsonLine() + "\n").write(
            toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let app = try await Support.application(["trace": path])
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/v1/chat/completions", method: .post, headers: Support.headers([:]),
                body: try Support.json(Support.chat)
            ) { response in
                let body = try Support.decode(ChatCompletionResponse.self, response.body)
                #expect(body.usage?.completionTokens == 77)
            }
        }
    }

    @Test func streamingChatSendsRoleFirstThenTokensThenUsageAndDone() async throws {
        let app = try await Support.application(["stream-chunk-tokens": "3"])
        var request = Support.chat
        request.stream = true
        request.streamOptions = StreamOptions(includeUsage: true)
        request.maxTokens = 10
        let body = try Support.json(request)
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/v1/chat/completions", method: .post, headers: Support.headers([:]), body: body
            ) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/event-stream") == true)
                let events = Support.events(response.body)
                #expect(events.last == "[DONE]")
                let chunks = try events.dropLast().map {
                    try JSONDecoder().decode(ChatCompletionChunk.self, from: Data($0.utf8))
                }
                #expect(chunks.first?.choices.first?.delta.role == "assistant")
                let text = chunks.compactMap { $0.choices.first?.delta.content }.joined()
                let usage = try #require(chunks.last?.usage)
                #expect(chunks.last?.choices.isEmpty == true)
                #expect(text == FillerText.text(tokens: usage.completionTokens))
                #expect(usage.promptTokens == PromptTokens.chat(Support.chat.messages, counter: Support.counter))
                // Role chunk, ceil(n / 3) content chunks, the finish chunk, the usage chunk.
                #expect(chunks.count == 1 + (usage.completionTokens + 2) / 3 + 2)
                let finish = chunks[chunks.count - 2].choices.first?.finishReason
                #expect(finish == (usage.completionTokens == 10 ? "length" : "stop"))
            }
        }
    }

    @Test func streamingWithoutIncludeUsageHasNoUsageChunk() async throws {
        let app = try await Support.application()
        var request = Support.chat
        request.stream = true
        let body = try Support.json(request)
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/v1/chat/completions", method: .post, headers: Support.headers([:]), body: body
            ) { response in
                let events = Support.events(response.body)
                #expect(events.last == "[DONE]")
                #expect(!events.contains { $0.contains("\"usage\"") })
            }
        }
    }

    @Test func legacyCompletionsAnswerAndStream() async throws {
        let app = try await Support.application()
        let request = CompletionRequest(
            model: "gpt-3.5-turbo-instruct", prompt: .text("Once upon a time"), maxTokens: 5)
        var streaming = request
        streaming.stream = true
        streaming.streamOptions = StreamOptions(includeUsage: true)
        let plainBody = try Support.json(request)
        let streamingBody = try Support.json(streaming)
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/v1/completions", method: .post, headers: Support.headers([:]), body: plainBody
            ) { response in
                let body = try Support.decode(CompletionResponse.self, response.body)
                #expect(body.object == "text_completion")
                #expect(body.usage?.promptTokens == Support.counter.count("Once upon a time"))
                #expect(body.choices.first?.text == FillerText.text(tokens: body.usage?.completionTokens ?? -1))
            }
            try await client.execute(
                uri: "/v1/completions", method: .post, headers: Support.headers([:]), body: streamingBody
            ) { response in
                let events = Support.events(response.body)
                #expect(events.last == "[DONE]")
                let chunks = try events.dropLast().map {
                    try JSONDecoder().decode(CompletionResponse.self, from: Data($0.utf8))
                }
                let text = chunks.compactMap { $0.choices.first?.text }.joined()
                #expect(text == FillerText.text(tokens: chunks.last?.usage?.completionTokens ?? -1))
            }
        }
    }

    @Test func modelsAreListed() async throws {
        let app = try await Support.application(["models": "m1,m2"])
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/models", method: .get) { response in
                let list = try Support.decode(ModelList.self, response.body)
                #expect(list.data.map(\.id) == ["m1", "m2"])
            }
            try await client.execute(uri: "/v1/models/m3", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test func strictModelsRefuseUnknownModels() async throws {
        let app = try await Support.application(["models": "m1", "strict-models": "true"])
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/v1/chat/completions", method: .post, headers: Support.headers([:]),
                body: try Support.json(Support.chat)
            ) { response in
                #expect(response.status == .notFound)
                let envelope = try Support.decode(ErrorEnvelope.self, response.body)
                #expect(envelope.error.code == "model_not_found")
            }
        }
    }
}
