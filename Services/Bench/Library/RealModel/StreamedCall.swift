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

    /// Posts `body` (streamed) to `url` and reads the server-sent events as they come.
    static func post(
        _ url: String, body: ChatCompletionRequest, headers: [String: String], client: HTTPClient, timeoutSeconds: Int64
    ) async -> StreamedCall {
        let start = ContinuousClock.now
        func elapsedMs() -> Double {
            let elapsed = ContinuousClock.now - start
            return Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        }
        var call = StreamedCall(status: 0, latencyMs: 0, contentChunks: 0)
        do {
            var streamed = body
            streamed.stream = true
            streamed.streamOptions = StreamOptions(includeUsage: true)
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/json")
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(streamed)))
            let response = try await client.execute(request, timeout: .seconds(timeoutSeconds))
            call.status = Int(response.status.code)
            var lines = ServerSentLines()
            for try await buffer in response.body {
                for chunk in lines.feed(buffer.readableBytesView) {
                    for choice in chunk.choices {
                        if let text = choice.delta.content, !text.isEmpty {
                            if call.ttftMs == nil { call.ttftMs = elapsedMs() }
                            call.contentChunks += 1
                        }
                        if let reason = choice.finishReason { call.finishReason = reason }
                    }
                    if let usage = chunk.usage { call.completionTokens = usage.completionTokens }
                }
                if call.status != 200 { call.error = (call.error ?? "") + String(buffer: buffer) }
            }
        } catch {
            call.error = "\(error)"
        }
        call.latencyMs = elapsedMs()
        return call
    }
}

/// Splits an event stream into its `data:` chunks.
struct ServerSentLines {
    private var pending: [UInt8] = []

    /// The chunks completed by `bytes` (`[DONE]` and lines that are not chunks are skipped).
    mutating func feed(_ bytes: some Sequence<UInt8>) -> [ChatCompletionChunk] {
        pending += bytes
        var chunks: [ChatCompletionChunk] = []
        while let end = pending.firstIndex(of: 10) {
            let line = String(decoding: pending[..<end], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            pending.removeSubrange(...end)
            guard line.hasPrefix("data:") else { continue }
            let payload = line.dropFirst(5).trimmingCharacters(in: .whitespaces)
            if let chunk = try? JSONDecoder().decode(ChatCompletionChunk.self, from: Data(payload.utf8)) {
                chunks.append(chunk)
            }
        }
        return chunks
    }
}
