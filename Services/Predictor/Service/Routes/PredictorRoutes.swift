import Contracts
import Hummingbird
import ServiceRuntime

/// The predictor's endpoints: prediction, ingestion of outcomes, model profiles and embeddings.
struct PredictorRoutes {
    let engine: PredictorEngine
    let maxBatch: Int

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
