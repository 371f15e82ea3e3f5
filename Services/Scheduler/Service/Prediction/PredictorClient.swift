import AsyncHTTPClient
import Contracts
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Asks the predictor how big a request will be; when it is down or slow, estimates from prompt length alone.
/// After a failure the predictor is left alone for `pauseAfterFailureMs`, so a dead predictor costs one timeout,
/// not one per request.
final class PredictorClient: Sendable {
    let client: HTTPClient
    let baseURL: String
    let timeoutMs: Int
    let logger: Logger
    let pauseAfterFailureMs: Double
    private let skipUntil = Mutex(ContinuousClock.now)

    init(client: HTTPClient, baseURL: String, timeoutMs: Int, logger: Logger, pauseAfterFailureMs: Double = 1000) {
        self.client = client
        self.baseURL = baseURL
        self.timeoutMs = timeoutMs
        self.logger = logger
        self.pauseAfterFailureMs = pauseAfterFailureMs
    }

    func predict(_ request: PredictRequest) async -> PredictResponse {
        if skipUntil.withLock({ ContinuousClock.now < $0 }) { return LocalPrior.predict(request) }
        do {
            var http = HTTPClientRequest(url: baseURL + "/predict")
            http.method = .POST
            http.headers.add(name: "content-type", value: "application/json")
            http.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(request)))
            let response = try await client.execute(http, timeout: .milliseconds(Int64(timeoutMs)))
            let body = try await response.body.collect(upTo: 1 << 20)
            guard response.status == .ok else { throw PredictorUnavailable(status: Int(response.status.code)) }
            return try JSONDecoder().decode(PredictResponse.self, from: Data(body.readableBytesView))
        } catch {
            let pause = pauseAfterFailureMs
            skipUntil.withLock { $0 = ContinuousClock.now + .milliseconds(pause) }
            logger.debug("predictor unavailable, using the local prior", metadata: ["error": "\(error)"])
            return LocalPrior.predict(request)
        }
    }

    struct PredictorUnavailable: Error {
        var status: Int
    }
}

/// The scheduler's own estimate when the predictor cannot answer: prompt tokens from characters (about four per
/// token for English), output from a broad prior that grows with the prompt, capped by `max_tokens`.
enum LocalPrior {
    static func predict(_ request: PredictRequest) -> PredictResponse {
        let text = PromptText.of(prompt: request.prompt, messages: request.messages) ?? ""
        let promptTokens = max(1, text.utf8.count / 4)
        let cap = request.maxTokens ?? 4096
        let p50 = min(cap, max(16, 64 + promptTokens / 2))
        let p90 = min(cap, p50 * 3)
        return PredictResponse(
            sizeBucket: p50 <= 256 ? .short : (p50 <= 1024 ? .medium : .long),
            expectedOutputTokensP50: p50,
            expectedOutputTokensP90: max(p90, p50),
            promptTokens: promptTokens,
            predictedCostP50: Double(promptTokens + p50),
            riskScore: 1,
            confidenceScore: 0,
            fallbackLevel: .localPrior,
            neighborsUsed: 0,
            modelVersion: "scheduler-local-prior"
        )
    }

    /// A prediction of exactly `tokens` (benchmark oracle: the true output length).
    static func oracle(tokens: Int, request: PredictRequest) -> PredictResponse {
        var prediction = predict(request)
        prediction.expectedOutputTokensP50 = tokens
        prediction.expectedOutputTokensP90 = tokens
        prediction.sizeBucket = tokens <= 256 ? .short : (tokens <= 1024 ? .medium : .long)
        prediction.predictedCostP50 = Double(prediction.promptTokens + tokens)
        prediction.riskScore = 0
        prediction.confidenceScore = 1
        prediction.fallbackLevel = .oracle
        prediction.modelVersion = "oracle"
        return prediction
    }
}
