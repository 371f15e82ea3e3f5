import Contracts
import Foundation
import Testing

/// The committed schemas against the Contracts types: a sample of each main wire type, with every optional set
/// and fractional values in floating-point fields, must encode to exactly the properties its schema lists,
/// with matching JSON types, recursively.
@Suite struct OpenAPISchemaTests {
    static let messages = [
        ChatMessage(role: "system", content: "Be brief.", name: "setup"),
        ChatMessage(role: "user", content: .parts([ContentPart(type: "text", text: "Hello")]), name: "ada"),
    ]
    static let usage = Usage(promptTokens: 12, completionTokens: 30)
    static let error = ErrorBody(message: "Bad.", type: "invalid_request_error", code: "invalid_value", param: "model")
    static let prediction = PredictResponse(
        sizeBucket: .medium, expectedOutputTokensP50: 120, expectedOutputTokensP90: 300, promptTokens: 14,
        predictedCostP50: 0.25, riskScore: 0.5, confidenceScore: 0.75, fallbackLevel: .globalNeighbors,
        neighborsUsed: 8, modelVersion: "v3", expectedOutputTokensP10: 40, expectedOutputTokensP99: 700, pShort: 0.4)
    static let reason = DecisionReason(code: "admitted", message: "Within budget.")

    static var chatRequest: ChatCompletionRequest {
        var request = ChatCompletionRequest(
            model: "gpt-4o-mini", messages: messages, maxTokens: 64, stream: true,
            streamOptions: StreamOptions(includeUsage: true), temperature: 0.5, user: "ada")
        request.maxCompletionTokens = 32
        request.n = 1
        return request
    }

    static var completionRequest: CompletionRequest {
        var request = CompletionRequest(
            model: "gpt-3.5-turbo-instruct", prompt: .texts(["a", "b"]), maxTokens: 16, stream: false,
            streamOptions: StreamOptions(includeUsage: false))
        request.temperature = 0.5
        request.user = "ada"
        return request
    }

    static var embeddingRequest: EmbeddingRequest {
        var request = EmbeddingRequest(input: .texts(["one", "two"]), model: "all-MiniLM-L6-v2")
        request.encodingFormat = "float"
        return request
    }

    static let outcome = OutcomeReport(
        prompt: "Hi", messages: messages, outputTokens: 40, promptTokens: 9, maxTokens: 100, model: "gpt-4o-mini",
        taskType: "chat", tenantId: "t1", success: true, latencyMs: 812.5, ttftMs: 90.5, finishReason: "stop",
        requestId: "r-1")

    static let predictRequest = PredictRequest(
        prompt: "Hi", messages: messages, maxTokens: 100, model: "gpt-4o-mini", taskType: "chat", tenantId: "t1")

    static let timings = RequestTimings(
        submittedUnixMs: 1000.5, dispatchedUnixMs: 1010.25, firstTokenUnixMs: 1100.75, finishedUnixMs: 1500.5)

    static let accountStats = AccountStats(
        name: "a", modelName: "gpt-4o-mini", upstreamModel: "gpt-4o-mini-2024", apiBase: "http://127.0.0.1:8080/v1",
        weight: 1.5, window: 8.5, maxConcurrency: 64, inFlight: 2, ewmaLatencyMs: 120.5, requests: 10, successes: 9,
        errors: 1, rateLimited: 0, cooldownRemainingMs: 0.5, requestsThisMinute: 3, tokensThisMinute: 400, rpm: 500,
        tpm: 90000)

    /// (service whose document holds the schema, schema name, sample value).
    static let samples: [(String, String, any Encodable & Sendable)] = [
        ("predictor", "ErrorEnvelope", ErrorEnvelope(error: error)),
        (
            "predictor", "HealthResponse",
            HealthResponse(service: "predictor", version: "0.1.0", uptimeSeconds: 1.5, details: ["k": "v"])
        ),
        (
            "predictor", "MetricsSnapshot",
            MetricsSnapshot(
                service: "predictor",
                metrics: [
                    "requests_total": MetricFamily(
                        type: "counter", help: "Requests.",
                        samples: [MetricSample(name: "requests_total", labels: ["route": "/predict"], value: 3.5)])
                ],
                state: .object(["mode": .string("free")]))
        ),
        ("predictor", "PredictRequest", predictRequest),
        ("predictor", "PredictResponse", prediction),
        ("predictor", "PredictBatchRequest", PredictBatchRequest(requests: [predictRequest])),
        ("predictor", "PredictBatchResponse", PredictBatchResponse(predictions: [prediction])),
        ("predictor", "OutcomeReport", outcome),
        ("predictor", "OutcomeBatch", OutcomeBatch(records: [outcome])),
        ("predictor", "IngestResponse", IngestResponse(stored: 1, historySize: 10)),
        (
            "predictor", "ModelProfilesResponse",
            ModelProfilesResponse(
                models: [
                    ModelProfile(
                        model: "gpt-4o-mini", sampleCount: 10, outputTokensP10: 10.5, outputTokensP50: 100.5,
                        outputTokensP90: 400.5, inputPricePer1k: 0.25, outputPricePer1k: 0.5)
                ],
                embedder: EmbedderInfo(name: "all-MiniLM-L6-v2", kind: "minilm", dimension: 384), historySize: 10,
                modelVersion: "v3")
        ),
        ("predictor", "EmbeddingRequest", embeddingRequest),
        (
            "predictor", "EmbeddingResponse",
            EmbeddingResponse(
                data: [.init(index: 0, embedding: [0.25, -0.5])], model: "all-MiniLM-L6-v2",
                usage: EmbeddingUsage(promptTokens: 3))
        ),
        ("mock-llm", "ChatCompletionRequest", chatRequest),
        (
            "mock-llm", "ChatCompletionResponse",
            ChatCompletionResponse(
                id: "chatcmpl-1", created: 1, model: "gpt-4o-mini",
                choices: [
                    .init(
                        index: 0, message: ChatMessage(role: "assistant", content: "Hi", name: "bot"),
                        finishReason: "stop")
                ],
                usage: usage)
        ),
        (
            "mock-llm", "ChatCompletionChunk",
            ChatCompletionChunk(
                id: "chatcmpl-1", created: 1, model: "gpt-4o-mini",
                choices: [.init(index: 0, delta: .init(role: "assistant", content: "Hi"), finishReason: "stop")],
                usage: usage)
        ),
        ("mock-llm", "CompletionRequest", completionRequest),
        (
            "mock-llm", "CompletionResponse",
            CompletionResponse(
                id: "cmpl-1", created: 1, model: "gpt-3.5-turbo-instruct",
                choices: [.init(index: 0, text: "Hi", finishReason: "length")], usage: usage)
        ),
        ("mock-llm", "ModelList", ModelList(data: [ModelInfo(id: "gpt-4o-mini", created: 1, ownedBy: "maitre-mock")])),
        (
            "scheduler", "SubmitRequest",
            SubmitRequest(
                prompt: "Hi", messages: messages, maxTokens: 64, model: "gpt-4o-mini", taskType: "chat", tenantId: "t1",
                requestClass: .interactive, priority: 3, deadlineMs: 1500.5)
        ),
        (
            "scheduler", "SubmitResponse",
            SubmitResponse(
                requestId: "r-1", state: .queued, requestClass: .heavy, deadlineUnixMs: 2000.5, prediction: prediction,
                reason: reason)
        ),
        (
            "scheduler", "StatusResponse",
            StatusResponse(
                requestId: "r-1", state: .completed, requestClass: .interactive, tenantId: "t1", model: "gpt-4o-mini",
                deadlineUnixMs: 2000.5, prediction: prediction, reason: reason, timings: timings,
                result: RequestResult(
                    statusCode: 200, outputText: "Hi", finishReason: "stop", usage: usage, error: error))
        ),
        (
            "scheduler", "TickResponse",
            TickResponse(dispatched: 1, deferred: 2, rejected: 3, expired: 4, mode: .moderate)
        ),
        (
            "scheduler", "EventsResponse",
            EventsResponse(
                events: [
                    SchedulerEvent(
                        sequence: 7, timeUnixMs: 1000.5, kind: .modeChange, requestId: "r-1", requestClass: .heavy,
                        tenantId: "t1", reason: reason)
                ],
                nextSince: 8)
        ),
        (
            "scheduler", "SchedulerConfigDocument",
            SchedulerConfigDocument(
                allocationPolicy: "adaptive_drr", orderingPolicy: "feasible_set", interactiveInflightTokens: 3000,
                heavyInflightTokens: 7000, interactiveDeadlineMs: 15000.5, heavyDeadlineMs: 120000.5,
                maxQueueLength: 100,
                ladder: [LadderRungDocument(maxCost: 0.5, free: .admit, moderate: .defer, congested: .reject)],
                extra: ["note": .string("x")])
        ),
        (
            "scheduler", "OperatorState",
            OperatorState(
                generatedUnixMs: 1000.5, mode: .moderate,
                modeChange: SchedulerEvent(
                    sequence: 3, timeUnixMs: 900.5, kind: .modeChange, requestId: "r-1", requestClass: .heavy,
                    tenantId: "t1",
                    reason: reason),
                slowdownRatio: 1.5, rateLimitedShare: 0.25, inflightRequests: 3, inflightRequestCap: 4,
                maxInflightRequests: 256, inflightTokensByClass: ["interactive": 10],
                inflightBudgetByClass: ["heavy": 7000],
                queuedTotal: 5, waitingByClass: [WaitingGroup(name: "interactive", queued: 5, oldestWaitMs: 10.5)],
                waitingByTenant: [WaitingGroup(name: "t1", queued: 5, oldestWaitMs: 10.5)], tenantsWaiting: 1,
                dispatchedTotal: 1, completedTotal: 2, failedTotal: 3, expiredTotal: 4,
                rejectedByReason: ["queue_full": 1],
                deferredByReason: ["ladder_defer": 2],
                decisions: [
                    SchedulerEvent(
                        sequence: 7, timeUnixMs: 1000.5, kind: .admit, requestId: "r-1", requestClass: .heavy,
                        tenantId: "t1",
                        reason: reason)
                ],
                prediction: PredictionQuality(
                    samples: [PredictionSample(predictedP50: 10, predictedP90: 30, outputTokens: 12)], p90Coverage: 0.5,
                    rankCorrelation: 0.25, trust: 0.5, fallbackLevels: ["trained_prior": 3]),
                latency: [
                    LatencyPoint(startUnixMs: 1000.5, requestClass: .interactive, count: 2, p50Ms: 10.5, p95Ms: 20.5)
                ])
        ),
        (
            "scheduler", "OperatorAccounts",
            OperatorAccounts(
                generatedUnixMs: 1000.5,
                proxies: [
                    ProxyAccounts(
                        url: "http://127.0.0.1:3000", instance: "host:1", queueDepth: 2,
                        accounts: [OperatorAccount(accountStats)],
                        error: "none")
                ])
        ),
        ("scheduler", "ResetResponse", ResetResponse(reset: true, droppedWaiting: 3)),
        ("proxy", "ProxyStats", ProxyStats(instance: "host:1", queueDepth: 2, accounts: [accountStats])),
    ]

    @Test(arguments: samples.indices)
    func sampleEncodesExactlyTheSchemaProperties(_ index: Int) throws {
        let (service, name, value) = Self.samples[index]
        let spec = try OpenAPISpec(service: service)
        #expect(spec.schema(named: name) != nil, "\(service) document has no schema \(name)")
        let problems = try spec.mismatches(of: value, against: name)
        #expect(problems.isEmpty, "\(name) vs deploy/openapi/\(service).json:\n\(problems.joined(separator: "\n"))")
    }

    /// The checker itself finds a key the schema lacks and a property the value does not produce.
    @Test func checkerReportsMissingAndExtraKeys() throws {
        let spec = try OpenAPISpec(service: "scheduler")
        struct Drifted: Encodable {
            var dispatched = 1, deferred = 2, rejected = 3, expired = 4
            var renamed = "free"
        }
        let problems = try spec.mismatches(of: Drifted(), against: "TickResponse")
        #expect(problems.contains { $0.contains("'renamed'") && $0.contains("does not list") })
        #expect(problems.contains { $0.contains("'mode'") && $0.contains("does not encode") })
    }
}
