import AsyncHTTPClient
import Contracts
import Foundation
import NIOCore
import NIOHTTP1

/// One streamed chat completion as a client sees it: when the first piece of text arrived, when the stream ended,
/// how many content pieces it carried and how it finished.
struct StreamedCall: Sendable, Codable {
    var status: Int
    var ttftMs: Double?
    var latencyMs: Double
    var contentChunks: Int
    var completionTokens: Int?
    var finishReason: String?
    var error: String?

    /// Posts `body` (streamed) to `url` and reads the server-sent events as they come; `samplingSeed`, when given,
    /// goes in the body as OpenAI's `seed`.
    static func post(
        _ url: String, body: ChatCompletionRequest, samplingSeed: Int? = nil, headers: [String: String],
        client: HTTPClient, timeoutSeconds: Int64
    ) async -> StreamedCall {
        let start = ContinuousClock.now
        func elapsedMs() -> Double { (ContinuousClock.now - start).seconds * 1000 }
        var call = StreamedCall(status: 0, latencyMs: 0, contentChunks: 0)
        do {
            var streamed = body
            streamed.stream = true
            streamed.streamOptions = StreamOptions(includeUsage: true)
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/json")
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            var json = try JSONEncoder().encode(streamed)
            if let samplingSeed, var object = try JSONSerialization.jsonObject(with: json) as? [String: Any] {
                object["seed"] = samplingSeed
                json = try JSONSerialization.data(withJSONObject: object)
            }
            request.body = .bytes(ByteBuffer(bytes: json))
            let response = try await client.execute(request, timeout: .seconds(timeoutSeconds))
            call.status = Int(response.status.code)
            var accumulator = StreamAccumulator()
            for try await buffer in response.body {
                let before = accumulator.contentChunks
                accumulator.feed(buffer.readableBytesView)
                if call.ttftMs == nil, accumulator.contentChunks > before { call.ttftMs = elapsedMs() }
                if call.status != 200 { call.error = (call.error ?? "") + String(buffer: buffer) }
            }
            call.contentChunks = accumulator.contentChunks
            call.completionTokens = accumulator.usage?.completionTokens
            call.finishReason = accumulator.finishReason
        } catch {
            call.error = "\(error)"
        }
        call.latencyMs = elapsedMs()
        return call
    }
}
