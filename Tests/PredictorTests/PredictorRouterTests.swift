import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Predictor
import ServiceRuntime
import Testing

@Suite struct PredictorRouterTests {
    static func app(_ overrides: [String: String] = [:], store: (any HistoryStore)? = nil) async throws
        -> some ApplicationProtocol
    {
        let configuration = try PredictorConfiguration.defaults(
            ["min-training-rows": "20", "retrain-every": "10"].merging(overrides) { $1 })
        return try await buildApplication(
            configuration: configuration, metrics: ServiceMetrics(), logger: Logger(label: "test"),
            engines: .hashed(), store: try store ?? SQLiteHistoryStore.inMemory())
    }

    static func json(_ value: some Encodable) -> ByteBuffer {
        ByteBuffer(bytes: try! JSONEncoder().encode(value))
    }

    static func decode<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
        try JSONDecoder().decode(type, from: Data(response.body.readableBytesView))
    }

    static func envelope(_ response: TestResponse) throws -> ErrorEnvelope {
        try decode(ErrorEnvelope.self, response)
    }

    static func report(_ i: Int, tenant: String? = nil) -> OutcomeReport {
        let long = i % 2 == 0
        return OutcomeReport(
            prompt: long ? "Write a detailed essay about the history of topic \(i % 7)" : "What is \(i) plus \(i)?",
            outputTokens: long ? 600 + i : 5 + i % 3, model: "gpt-4o-mini", tenantId: tenant, success: true,
            finishReason: "stop")
    }

    @Test func predictWithoutHistoryAnswersFromTheGlobalPrior() async throws {
        try await Self.app().test(.router) { client in
            let request = PredictRequest(
                prompt: "Explain quantum computing", maxTokens: 100, model: "some-unknown-model")
            try await client.execute(uri: "/predict", method: .post, body: Self.json(request)) { response in
                #expect(response.status == .ok)
                let prediction = try Self.decode(PredictResponse.self, response)
                #expect(prediction.fallbackLevel == .globalPrior)
                #expect(prediction.expectedOutputTokensP50 <= prediction.expectedOutputTokensP90)
                #expect(prediction.expectedOutputTokensP90 <= 100)
                #expect(prediction.promptTokens > 0)
                #expect(prediction.predictedCostP50 > 0)
            }
        }
    }

    @Test func ingestedHistoryDrivesPredictionsAndModels() async throws {
        try await Self.app().test(.router) { client in
            let batch = OutcomeBatch(records: (0..<40).map { Self.report($0, tenant: "acme") })
            try await client.execute(uri: "/ingest/batch", method: .post, body: Self.json(batch)) { response in
                #expect(response.status == .created)
                let body = try Self.decode(IngestResponse.self, response)
                #expect(body.stored == 40 && body.historySize == 40)
            }
            try await client.execute(uri: "/ingest", method: .post, body: Self.json(Self.report(41))) { response in
                #expect(response.status == .created)
            }
            let long = PredictRequest(
                prompt: "Write a detailed essay about the history of topic 3", model: "gpt-4o-mini", tenantId: "acme")
            let short = PredictRequest(prompt: "What is 13 plus 13?", model: "gpt-4o-mini", tenantId: "acme")
            try await client.execute(
                uri: "/predict/batch", method: .post, body: Self.json(PredictBatchRequest(requests: [long, short]))
            ) { response in
                #expect(response.status == .ok)
                let predictions = try Self.decode(PredictBatchResponse.self, response).predictions
                #expect(predictions.count == 2)
                #expect(predictions[0].expectedOutputTokensP50 > 5 * predictions[1].expectedOutputTokensP50)
                #expect(predictions[0].sizeBucket == .long)
                #expect(predictions[1].sizeBucket == .short)
                #expect(predictions[0].fallbackLevel == .tenantNeighbors)
                #expect(
                    predictions.allSatisfy {
                        $0.riskScore >= 0 && $0.riskScore <= 1 && $0.confidenceScore > 0 && $0.confidenceScore <= 1
                    })
            }
            try await client.execute(uri: "/models", method: .get) { response in
                let profiles = try Self.decode(ModelProfilesResponse.self, response)
                #expect(profiles.historySize == 41)
                #expect(profiles.models.map(\.model) == ["gpt-4o-mini"])
                #expect(profiles.models[0].sampleCount == 41)
                #expect(profiles.embedder.kind == "hashed")
            }
        }
    }

    @Test func badInputsAreEnvelopesAndNothingIsHalfWritten() async throws {
        try await Self.app().test(.router) { client in
            try await client.execute(uri: "/predict", method: .post, body: ByteBuffer(string: #"{"model":"m"}"#)) {
                response in
                #expect(response.status == .badRequest)
                let decoded = try Self.envelope(response)
                #expect(decoded.error.param == "prompt")
            }
            for maxTokens in [-5, 0, 1_000_000_000] {
                let request = PredictRequest(prompt: "hi", maxTokens: maxTokens, model: "m")
                try await client.execute(uri: "/predict", method: .post, body: Self.json(request)) { response in
                    #expect(response.status == .badRequest)
                    let decoded = try Self.envelope(response)
                    #expect(decoded.error.param == "max_tokens")
                }
            }
            var records = (0..<5).map { Self.report($0) }
            records[3].outputTokens = -1
            try await client.execute(
                uri: "/ingest/batch", method: .post, body: Self.json(OutcomeBatch(records: records))
            ) { response in
                #expect(response.status == .badRequest)
                let decoded = try Self.envelope(response)
                #expect(decoded.error.param == "records[3].output_tokens")
            }
            try await client.execute(uri: "/models", method: .get) { response in
                let decoded = try Self.decode(ModelProfilesResponse.self, response)
                #expect(decoded.historySize == 0)
            }
            let huge = PredictRequest(prompt: String(repeating: "a", count: 2_000_000), model: "m")
            try await client.execute(uri: "/predict", method: .post, body: Self.json(huge)) { response in
                #expect(response.status == .badRequest)
                let decoded = try Self.envelope(response)
                #expect(decoded.error.code == "prompt_too_long")
            }
        }
    }

    @Test func tenMegabytePromptIsRejectedByTheBodyLimit() async throws {
        try await Self.app().test(.router) { client in
            let huge = PredictRequest(prompt: String(repeating: "word ", count: 2_100_000), model: "m")
            try await client.execute(uri: "/predict", method: .post, body: Self.json(huge)) { response in
                #expect(response.status == .contentTooLarge)
            }
        }
    }

    @Test func embeddingsFollowOpenAIShape() async throws {
        try await Self.app().test(.router) { client in
            try await client.execute(
                uri: "/v1/embeddings", method: .post,
                body: ByteBuffer(string: #"{"input":["hello world","good bye"],"model":"x"}"#)
            ) { response in
                #expect(response.status == .ok)
                let body = try Self.decode(EmbeddingResponse.self, response)
                #expect(body.data.map(\.index) == [0, 1])
                #expect(body.data[0].embedding.count == 384)
                #expect(body.usage.promptTokens == 8)  // hashed embedder: words + 2 specials each
            }
            try await client.execute(
                uri: "/v1/embeddings", method: .post, body: ByteBuffer(string: #"{"input":"hello"}"#)
            ) { response in
                let decoded = try Self.decode(EmbeddingResponse.self, response)
                #expect(decoded.data.count == 1)
            }
            for bad in [#"{"input":42}"#, #"{"input":[1,2]}"#, #"{"input":[]}"#, #"{}"#] {
                try await client.execute(uri: "/v1/embeddings", method: .post, body: ByteBuffer(string: bad)) {
                    response in
                    #expect(response.status == .badRequest)
                    let decoded = try Self.envelope(response)
                    #expect(decoded.error.type == "invalid_request_error")
                }
            }
        }
    }
}
