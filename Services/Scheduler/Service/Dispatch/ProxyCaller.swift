import AsyncHTTPClient
import Contracts
import Foundation
import NIOCore
import NIOHTTP1
import SchedulerCore

/// The scheduler service's record of one call to the proxy for a dispatch: the HTTP answer (or the transport error)
/// with its timings. The engine learns from its `outcome` (a `DispatchOutcome`); `/status` shows its `requestResult`.
struct ProxyCallResult: Sendable {
    var statusCode: Int
    var text: String?
    var finishReason: String?
    var usage: Usage?
    var outputTokens: Int
    /// Content chunks of a streamed answer (nil when not streamed).
    var streamedChunks: Int?
    var ttftMs: Double?
    var latencyMs: Double
    var retryAfterMs: Double?
    var error: ErrorBody?
    /// Set when no HTTP answer arrived at all (connection refused, timeout before the first byte).
    var transportError: String?

    /// The scheduling core's view of this call.
    var outcome: DispatchOutcome {
        if transportError != nil {
            return DispatchOutcome(
                status: .retryable, retryAfterMs: retryAfterMs,
                reason: DecisionReason(
                    code: "upstream_unreachable", message: "The proxy could not be reached: \(transportError ?? "").")
            )
        }
        switch statusCode {
        case 200..<300:
            return .succeeded(
                outputTokens: outputTokens, latencyMs: latencyMs, ttftMs: ttftMs, streamedChunks: streamedChunks)
        case 429:
            return DispatchOutcome(status: .rateLimited, retryAfterMs: retryAfterMs)
        default:
            return DispatchOutcome(
                status: .failed,
                reason: DecisionReason(
                    code: "upstream_failed",
                    message: "The upstream answered \(statusCode): \(error?.message ?? "no message")."))
        }
    }

    var requestResult: RequestResult {
        RequestResult(statusCode: statusCode, outputText: text, finishReason: finishReason, usage: usage, error: error)
    }
}

/// What the scheduler hears of a streamed answer while it arrives: its first chunk, then the content chunks so far
/// every `SchedulerEngine.chunksPerProgressReport` of them.
struct StreamObserver: Sendable {
    static let none = StreamObserver(firstToken: {}, chunks: { _ in })

    var firstToken: @Sendable () async -> Void
    var chunks: @Sendable (Int) async -> Void
}

/// The head of the proxy's answer to one dispatch.
enum UpstreamAnswer: Sendable {
    /// No answer, or an error status: how the call ended, with the body and headers the proxy sent.
    case ended(ProxyCallResult, body: ByteBuffer, headers: HTTPHeaders)
    /// A 2xx head whose body is still to be read.
    case answering(UpstreamStream)
}

/// A 2xx answer from the proxy whose body is still arriving.
struct UpstreamStream: Sendable {
    let status: Int
    let headers: HTTPHeaders
    let body: HTTPClientResponse.Body
    /// When the call was sent, for time to first token and latency.
    let start: ContinuousClock.Instant
}

/// Sends dispatched requests to the proxy with the scheduling headers.
struct ProxyCaller: Sendable {
    let client: HTTPClient
    let targets: ProxyTargets
    let timeoutMs: Int
    /// Bearer key for a proxy that requires client keys (`PROXY_API_KEY`).
    var apiKey: String? = nil
    /// Smallest `X-Deadline-Ms` sent upstream.
    var minDeadlineMs: Double = 30_000

    /// The HTTP request for a dispatch: the stored chat completion body, plus `X-Predicted-Output-Tokens` (and -P90),
    /// `X-Request-ID`, `X-Tenant-ID`, `X-Deadline-Ms` (time left until the deadline), `X-Request-Class`, and
    /// `X-Maitre-Paced: queueing` while the engine holds a queueing provider at its slots.
    func request(
        body: ByteBuffer, dispatch: Dispatch, nowMs: Double, base: String, extraHeaders: [(String, String)] = []
    ) -> HTTPClientRequest {
        var http = HTTPClientRequest(url: base + "/v1/chat/completions")
        http.method = .POST
        http.headers.add(name: "content-type", value: "application/json")
        if let apiKey, !apiKey.isEmpty { http.headers.add(name: "Authorization", value: "Bearer " + apiKey) }
        http.headers.add(name: MaitreHeader.predictedOutputTokens, value: String(dispatch.predictedOutputTokens))
        http.headers.add(
            name: MaitreHeader.predictedOutputTokensP90, value: String(dispatch.predictedOutputTokensP90))
        http.headers.add(name: MaitreHeader.requestID, value: dispatch.requestId)
        http.headers.add(name: MaitreHeader.tenant, value: Self.headerSafe(dispatch.tenantId))
        // The proxy may queue a request for this long. A request dispatched late is still meant to be served, so
        // the proxy gets at least `minDeadlineMs`, never a budget of zero.
        let budgetMs = min(max(dispatch.deadlineAtMs - nowMs, minDeadlineMs), SubmitRequest.maxDeadlineMs)
        http.headers.add(name: MaitreHeader.deadlineMs, value: String(Int(budgetMs)))
        http.headers.add(name: MaitreHeader.requestClass, value: dispatch.requestClass.rawValue)
        if dispatch.pacedAtSlots { http.headers.add(name: MaitreHeader.paced, value: "queueing") }
        for (name, value) in extraHeaders { http.headers.add(name: name, value: value) }
        http.body = .bytes(body)
        return http
    }

    var timeout: TimeAmount { .milliseconds(Int64(timeoutMs)) }

    /// A call to proxy `base` that got no answer (refused, timed out before the head): that proxy is skipped for a
    /// while, and while another one is available the request may be sent again at once rather than backing off.
    func unreachable(_ base: String, error: any Error, latencyMs: Double) -> ProxyCallResult {
        targets.markUnreachable(base)
        return ProxyCallResult(
            statusCode: 0, outputTokens: 0, latencyMs: latencyMs, retryAfterMs: targets.hasReachable() ? 0 : nil,
            transportError: "\(error)")
    }

    /// A client-chosen value (the tenant comes from a header, `tenant_id` or the body's `user`) as a valid header
    /// value: control characters, which HTTP forbids there, and `%` itself are percent-encoded, so distinct
    /// tenants stay distinct and the call never fails on the header.
    static func headerSafe(_ value: String) -> String {
        var bytes: [UInt8] = []
        for byte in value.utf8 {
            if byte < 0x20 || byte == 0x7F || byte == UInt8(ascii: "%") {
                let hex = Array("0123456789ABCDEF".utf8)
                bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Calls the proxy for a queued `/submit` request, streaming so that time to first token and decoding speed are
    /// measured, and collects the answer, telling `stream` how it arrives.
    func call(
        body: ChatCompletionRequest, dispatch: Dispatch, nowMs: Double, stream observer: StreamObserver = .none
    ) async -> ProxyCallResult {
        var streamed = body
        streamed.stream = true
        streamed.streamOptions = StreamOptions(includeUsage: true)
        guard let encoded = try? JSONEncoder().encode(streamed) else {
            return ProxyCallResult(statusCode: 400, outputTokens: 0, latencyMs: 0, transportError: nil)
        }
        switch await open(body: ByteBuffer(bytes: encoded), dispatch: dispatch, nowMs: nowMs) {
        case .ended(let result, _, _):
            return result
        case .answering(let stream):
            return await relay(stream, streaming: true, observer: observer) { _ in }
        }
    }

    /// Sends one dispatch to the next proxy and reads the head of its answer. No answer (the proxy is then skipped
    /// for a while) and error statuses end here, their body collected; a 2xx answer is returned for `relay`.
    func open(body: ByteBuffer, dispatch: Dispatch, nowMs: Double) async -> UpstreamAnswer {
        let start = ContinuousClock.now
        let base = targets.next()
        let response: HTTPClientResponse
        do {
            let http = request(body: body, dispatch: dispatch, nowMs: nowMs, base: base)
            response = try await client.execute(http, timeout: timeout)
        } catch {
            let latencyMs = (ContinuousClock.now - start).milliseconds
            // A call cancelled by its own caller says nothing about the proxy.
            if Task.isCancelled {
                let cancelled = ProxyCallResult(
                    statusCode: 0, outputTokens: 0, latencyMs: latencyMs, transportError: "cancelled")
                return .ended(cancelled, body: ByteBuffer(), headers: [:])
            }
            return .ended(unreachable(base, error: error, latencyMs: latencyMs), body: ByteBuffer(), headers: [:])
        }
        targets.markReachable(base)
        let status = Int(response.status.code)
        if (200..<300).contains(status) {
            let stream = UpstreamStream(status: status, headers: response.headers, body: response.body, start: start)
            return .answering(stream)
        }
        let bytes = (try? await response.body.collect(upTo: 1 << 20)) ?? ByteBuffer()
        let envelope = try? JSONDecoder().decode(ErrorEnvelope.self, from: Data(bytes.readableBytesView))
        let result = ProxyCallResult(
            statusCode: status, outputTokens: 0, latencyMs: (ContinuousClock.now - start).milliseconds,
            retryAfterMs: Self.retryAfterMs(response.headers), error: envelope?.error)
        return .ended(result, body: bytes, headers: response.headers)
    }

    /// Reads a 2xx answer to its end — server-sent events when `streaming`, else one JSON document — handing each
    /// chunk to `forward` as it arrives, and returns how the call ended (a transport error, retryable, when the
    /// upstream broke off). An error thrown by `forward` (the client left) stops the read, which cancels the
    /// upstream call, and is rethrown. `observer` hears of a streamed answer's first chunk and of its content chunks
    /// as they accumulate (a whole answer's first chunk says nothing about its first token).
    func relay(
        _ stream: UpstreamStream, streaming: Bool, observer: StreamObserver = .none,
        forward: (ByteBuffer) async throws -> Void
    ) async rethrows -> ProxyCallResult {
        var accumulator = StreamAccumulator(streaming: streaming)
        var ttft: Double?
        var reported = 0
        var iterator = stream.body.makeAsyncIterator()
        func result(_ status: Int) -> ProxyCallResult {
            ProxyCallResult(
                statusCode: status, text: accumulator.text, finishReason: accumulator.finishReason,
                usage: accumulator.usage, outputTokens: accumulator.outputTokens,
                streamedChunks: streaming ? accumulator.contentChunks : nil, ttftMs: ttft,
                latencyMs: (ContinuousClock.now - stream.start).milliseconds)
        }
        while true {
            let next: ByteBuffer?
            do {
                next = try await iterator.next()
            } catch {
                var broken = result(0)
                broken.transportError = "the stream broke: \(error)"
                return broken
            }
            guard let chunk = next else { break }
            if ttft == nil {
                ttft = (ContinuousClock.now - stream.start).milliseconds
                if streaming { await observer.firstToken() }
            }
            accumulator.feed(chunk.readableBytesView)
            if streaming, accumulator.contentChunks >= reported + SchedulerEngine.chunksPerProgressReport {
                reported = accumulator.contentChunks
                await observer.chunks(reported)
            }
            try await forward(chunk)
        }
        accumulator.end()
        return result(stream.status)
    }

    /// `retry-after-ms`, else `retry-after` in seconds.
    static func retryAfterMs(_ headers: HTTPHeaders) -> Double? {
        if let value = headers.first(name: "retry-after-ms").flatMap(Double.init) { return value }
        return headers.first(name: "retry-after").flatMap(Double.init).map { $0 * 1000 }
    }
}

extension Duration {
    var milliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    }
}
