import AsyncHTTPClient
import Contracts
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceRuntime
import Synchronization

/// Asks the predictor how big a request will be; when it is down or slow, answers what a scheduler blind to sizes
/// knows (`LocalPrior`), so such a request is scheduled as it would be without predictions.
/// After a failure the predictor is left alone for `pauseAfterFailureMs` (a second), so a dead predictor costs one
/// attempt, not one per request. After a timeout it is alive but slow: it is left alone for one timeout only, time to
/// work through what it has, and the next requests ask it again instead of a second's worth going without sizes.
///
/// Concurrent questions are coalesced, like a group commit: while `maxConcurrentCalls` calls are out, new
/// questions wait and leave together in the next `POST /predict/batch` (at most `maxBatch`). A lone question goes
/// at once as `POST /predict`, so light traffic pays no batching delay, and under load one HTTP exchange (and one
/// embedding batch in the predictor) serves many submissions.
final class PredictorClient: Sendable {
    let client: HTTPClient
    let baseURL: String
    let timeoutMs: Int
    let logger: Logger
    let pauseAfterFailureMs: Double
    let maxBatch: Int
    let maxConcurrentCalls: Int
    private let skipUntil = Mutex(ContinuousClock.now)

    private struct Waiting {
        var request: PredictRequest
        var continuation: CheckedContinuation<PredictResponse, Never>
    }

    private struct Queue {
        var waiting: [Waiting] = []
        var calls = 0
    }

    private let queue = Mutex(Queue())

    init(
        client: HTTPClient, baseURL: String, timeoutMs: Int, logger: Logger, pauseAfterFailureMs: Double = 1000,
        maxBatch: Int = 64, maxConcurrentCalls: Int = 2
    ) {
        self.client = client
        self.baseURL = baseURL
        self.timeoutMs = timeoutMs
        self.logger = logger
        self.pauseAfterFailureMs = pauseAfterFailureMs
        self.maxBatch = max(1, maxBatch)
        self.maxConcurrentCalls = max(1, maxConcurrentCalls)
    }

    func predict(_ request: PredictRequest) async -> PredictResponse {
        if skipUntil.withLock({ ContinuousClock.now < $0 }) { return LocalPrior.predict(request) }
        return await withCheckedContinuation { continuation in
            let start = queue.withLock { queue -> Bool in
                queue.waiting.append(Waiting(request: request, continuation: continuation))
                guard queue.calls < maxConcurrentCalls else { return false }
                queue.calls += 1
                return true
            }
            if start { Task { await self.callLoop() } }
        }
    }

    /// Sends what waits, batch after batch, until nothing is left; then frees its call slot.
    private func callLoop() async {
        while true {
            let batch = queue.withLock { queue -> [Waiting] in
                let batch = Array(queue.waiting.prefix(maxBatch))
                queue.waiting.removeFirst(batch.count)
                if batch.isEmpty { queue.calls -= 1 }
                return batch
            }
            guard !batch.isEmpty else { return }
            let answers = await call(batch.map(\.request))
            for (waiting, answer) in zip(batch, answers) { waiting.continuation.resume(returning: answer) }
        }
    }

    /// One HTTP exchange for `requests`; the local prior answers for all of them when it fails.
    private func call(_ requests: [PredictRequest]) async -> [PredictResponse] {
        if skipUntil.withLock({ ContinuousClock.now < $0 }) { return requests.map(LocalPrior.predict) }
        do {
            let single = requests.count == 1
            var http = HTTPClientRequest(url: baseURL + (single ? "/predict" : "/predict/batch"))
            http.method = .POST
            http.headers.add(name: "content-type", value: "application/json")
            let encoder = StreamingJSONEncoder()
            http.body = .bytes(
                single ? try encoder.encode(requests[0]) : try encoder.encode(PredictBatchRequest(requests: requests)))
            // A batch takes longer than one question (the predictor embeds every prompt): each further question
            // adds a quarter of the timeout.
            let timeout = Double(timeoutMs) * (1 + Double(requests.count - 1) / 4)
            let response = try await client.execute(http, timeout: .milliseconds(Int64(timeout)))
            let body = try await response.body.collect(upTo: 16 << 20)
            if (400..<500).contains(Int(response.status.code)) {
                // The predictor refused a question (not down): ask one by one so one bad question cannot cost the
                // others their prediction; a refused single question gets the local prior.
                if single { return [LocalPrior.predict(requests[0])] }
                var answers: [PredictResponse] = []
                for request in requests { answers += await call([request]) }
                return answers
            }
            guard response.status == .ok else { throw PredictorUnavailable(status: Int(response.status.code)) }
            let data = Data(body.readableBytesView)
            if single { return [try Self.decoder.decode(PredictResponse.self, from: data)] }
            let predictions = try Self.decoder.decode(PredictBatchResponse.self, from: data).predictions
            guard predictions.count == requests.count else {
                throw PredictorUnavailable(status: Int(response.status.code))
            }
            return predictions
        } catch {
            let pause = Self.isTimeout(error) ? min(pauseAfterFailureMs, Double(timeoutMs)) : pauseAfterFailureMs
            skipUntil.withLock { $0 = ContinuousClock.now + .milliseconds(pause) }
            logger.debug(
                "predictor unavailable, using the local prior",
                metadata: ["error": "\(error)", "requests": "\(requests.count)"])
            return requests.map(LocalPrior.predict)
        }
    }

    private static let decoder = JSONDecoder()

    /// Whether `error` is the predictor not answering in time (as opposed to refusing the connection or failing).
    static func isTimeout(_ error: any Error) -> Bool {
        guard let error = error as? HTTPClientError else { return false }
        return error == .deadlineExceeded || error == .readTimeout
    }

    struct PredictorUnavailable: Error {
        var status: Int
    }
}

/// The scheduler's own answer when the predictor cannot give one: the predictor's answer with no history, 250
/// tokens at p50 and 750 at p90 (capped by `max_tokens`), no probability of a short reply, prompt tokens from
/// characters (about four per token for English). The same for every prompt: prompt length alone says next to
/// nothing of the reply's (Kendall τ 0.07 on ShareGPT), and a guess from it would send long prompts with short
/// answers to the heavy class, worse off than with no prediction.
enum LocalPrior {
    static func predict(_ request: PredictRequest) -> PredictResponse {
        let text = PromptText.of(prompt: request.prompt, messages: request.messages) ?? ""
        let promptTokens = max(1, text.utf8.count / 4)
        let cap = request.maxTokens ?? Int.max
        let p50 = min(cap, 250)
        return PredictResponse(
            sizeBucket: .medium,
            expectedOutputTokensP50: p50,
            expectedOutputTokensP90: min(cap, 750),
            promptTokens: promptTokens,
            predictedCostP50: Double(promptTokens + p50),
            riskScore: 1,
            confidenceScore: 0,
            fallbackLevel: .localPrior,
            neighborsUsed: 0,
            modelVersion: "scheduler-local-prior"
        )
    }

    /// The same prediction for every request (`PREDICTIONS=constant`): the local prior's. What a scheduler knows
    /// when it is blind to sizes.
    static func constant(request: PredictRequest) -> PredictResponse {
        var prediction = predict(request)
        prediction.fallbackLevel = .globalPrior
        prediction.modelVersion = "constant"
        return prediction
    }

    /// A prediction of exactly `tokens` (benchmark oracle: the true output length).
    static func oracle(tokens: Int, request: PredictRequest) -> PredictResponse {
        var prediction = predict(request)
        prediction.expectedOutputTokensP50 = tokens
        prediction.expectedOutputTokensP90 = tokens
        prediction.expectedOutputTokensP10 = tokens
        prediction.expectedOutputTokensP99 = tokens
        prediction.pShort = tokens <= 256 ? 1 : 0
        prediction.sizeBucket = tokens <= 256 ? .short : (tokens <= 1024 ? .medium : .long)
        prediction.predictedCostP50 = Double(prediction.promptTokens + tokens)
        prediction.riskScore = 0
        prediction.confidenceScore = 1
        prediction.fallbackLevel = .oracle
        prediction.modelVersion = "oracle"
        return prediction
    }
}
