import Contracts
import HTTPTypes
import Hummingbird
import ServiceRuntime

/// The predictor's endpoints: prediction, ingestion of outcomes, model profiles and embeddings.
struct PredictorRoutes {
    let engine: PredictorEngine
    let maxBatch: Int

    /// The operations `register` adds, for the OpenAPI document.
    static let operations: [OpenAPIOperation] = [
        .json(
            .post, "/predict", id: "predict", summary: "Predict output length and cost of one prompt.",
            body: PredictRequest.self, answer: PredictResponse.self),
        .json(
            .post, "/predict/batch", id: "predictBatch", summary: "Predict several prompts at once.",
            body: PredictBatchRequest.self, answer: PredictBatchResponse.self),
        .json(
            .post, "/ingest", id: "ingest", summary: "Store one finished request's outcome.", body: OutcomeReport.self,
            answer: IngestResponse.self, status: 201, answerText: "Stored"),
        .json(
            .post, "/ingest/batch", id: "ingestBatch", summary: "Store several outcomes.", body: OutcomeBatch.self,
            answer: IngestResponse.self, status: 201, answerText: "Stored"),
        .json(
            .get, "/models", id: "modelProfiles", summary: "Per-model output-length profiles.",
            answer: ModelProfilesResponse.self),
        .json(
            .post, "/v1/embeddings", id: "embeddings", summary: "OpenAI-compatible sentence embeddings.",
            body: EmbeddingRequest.self, answer: EmbeddingResponse.self),
    ]

    func register(on router: Router<ServiceRequestContext>) {
        router.post("/predict") { request, context in
            let body = try await request.decodeJSON(as: PredictRequest.self, context: context)
            let predictions = try await engine.predict([body])
            return try Response.json(predictions[0])
        }
        router.post("/predict/batch") { request, context in
            let body = try await request.decodeJSON(as: PredictBatchRequest.self, context: context)
            try checkBatch(body.requests.count, field: "requests")
            return try Response.json(PredictBatchResponse(predictions: try await engine.predict(body.requests)))
        }
        router.post("/ingest") { request, context in
            let body = try await request.decodeJSON(as: OutcomeReport.self, context: context)
            return try Response.json(try await engine.ingest([body]), status: .created)
        }
        router.post("/ingest/batch") { request, context in
            let body = try await request.decodeJSON(as: OutcomeBatch.self, context: context)
            try checkBatch(body.records.count, field: "records")
            return try Response.json(try await engine.ingest(body.records), status: .created)
        }
        router.get("/models") { _, _ in
            try Response.json(await engine.profiles())
        }
        router.post("/v1/embeddings") { request, context in
            let body = try await request.decodeJSON(as: EmbeddingRequest.self, context: context)
            return try Response.json(try await engine.embeddings(body))
        }
    }

    func checkBatch(_ count: Int, field: String) throws {
        guard count >= 1 else { throw APIError.invalidRequest("'\(field)' must not be empty.", param: field) }
        guard count <= maxBatch else {
            throw APIError.invalidRequest(
                "'\(field)' holds \(count) items; at most \(maxBatch) are allowed.", param: field)
        }
    }
}
