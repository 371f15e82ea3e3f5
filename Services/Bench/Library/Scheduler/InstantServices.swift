import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The scheduler benchmark's stand-ins, served from this process so they cost the machine almost nothing: a
/// predictor that answers every question at once, and an upstream (in the proxy's place) that answers every chat
/// completion at once and notes when each request arrived.
enum InstantServices {
    /// A predictor that answers every `/predict` at once with a fixed medium-sized prediction.
    static func predictor(port: Int) -> some ApplicationProtocol {
        let router = Router()
        let prediction = PredictResponse(
            sizeBucket: .medium, expectedOutputTokensP50: 400, expectedOutputTokensP90: 900, promptTokens: 12,
            predictedCostP50: 412, riskScore: 0.2, confidenceScore: 0.8, fallbackLevel: .globalNeighbors,
            neighborsUsed: 8, modelVersion: "bench-instant")
        let encoded = ByteBuffer(bytes: (try? JSONEncoder().encode(prediction)) ?? Data())
        router.post("/predict") { request, _ -> Response in
            _ = try await request.body.collect(upTo: 1 << 20)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: encoded))
        }
        // The real predictor's batch route (the scheduler coalesces concurrent questions into it).
        router.post("/predict/batch") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 16 << 20)
            let batch = try JSONDecoder().decode(PredictBatchRequest.self, from: Data(body.readableBytesView))
            let answer = try JSONEncoder().encode(
                PredictBatchResponse(predictions: Array(repeating: prediction, count: batch.requests.count)))
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: answer)))
        }
        return application(router, port: port, label: "instant-predictor")
    }

    /// An upstream that answers every `/v1/chat/completions` at once with a one-token completion; `arrivals` gets
    /// each call's `X-Request-ID` and the Unix time in ms it arrived.
    static func upstream(port: Int, arrivals: UpstreamArrivals) -> some ApplicationProtocol {
        let router = Router()
        let completion = ByteBuffer(
            string:
                #"{"id":"bench","object":"chat.completion","created":0,"model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":1,"total_tokens":13}}"#
        )
        router.post("/v1/chat/completions") { request, _ -> Response in
            let arrived = Date().timeIntervalSince1970 * 1000
            if let id = request.headers[HTTPField.Name(MaitreHeader.requestID)!] { arrivals.record(id, at: arrived) }
            _ = try await request.body.collect(upTo: 16 << 20)
            return Response(
                status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: completion))
        }
        return application(router, port: port, label: "instant-upstream")
    }

    private static func application(_ router: Router<BasicRequestContext>, port: Int, label: String)
        -> some ApplicationProtocol
    {
        var logger = Logger(label: label)
        // Its shutdown when the benchmark ends is expected; nothing it logs is news.
        logger.logLevel = .critical
        return Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
    }
}

/// When each request reached the instant upstream (the first time, by request id).
final class UpstreamArrivals: Sendable {
    private let arrivals = Mutex<[String: Double]>([:])

    func record(_ id: String, at unixMs: Double) {
        arrivals.withLock { if $0[id] == nil { $0[id] = unixMs } }
    }

    var count: Int { arrivals.withLock { $0.count } }
    var all: [String: Double] { arrivals.withLock { $0 } }
}
