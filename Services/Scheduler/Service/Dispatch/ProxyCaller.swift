import AsyncHTTPClient
import Contracts
import Foundation
import NIOCore
import NIOHTTP1
import SchedulerCore

/// How one upstream call ended, as the scheduler records it.
struct UpstreamCallResult: Sendable {
    var statusCode: Int
    var text: String?
    var finishReason: String?
    var usage: Usage?
    var outputTokens: Int
    var ttftMs: Double?
    var latencyMs: Double
    var retryAfterMs: Double?
    var error: ErrorBody?
    /// Set when no HTTP answer arrived at all (connection refused, timeout before the first byte).
    var transportError: String?

    /// The outcome the engine learns from.
    var outcome: Outcome {
        if transportError != nil {
            return Outcome(status: .retryable, retryAfterMs: retryAfterMs,
                reason: DecisionReason(code: "upstream_unreachable", message: "The proxy could not be reached: \(transportError ?? "").")
            )
        }
        switch statusCode {
        case 200..<300:
            return .succeeded(outputTokens: outputTokens, latencyMs: latencyMs, ttftMs: ttftMs)
        case 429:
            return Outcome(status: .rateLimited, retryAfterMs: retryAfterMs)
        default:
            return Outcome(status: .failed,
                reason: DecisionReason(code: "upstream_failed", message: "The upstream answered \(statusCode): \(error?.message ?? "no message")."))
        }
    }

    var upstreamResult: UpstreamResult {
        UpstreamResult(statusCode: statusCode, outputText: text, finishReason: finishReason, usage: usage, error: error)
    }
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

    /// The HTTP request for a dispatch: the stored chat completion body, plus `X-Predicted-Output-Tokens`,
    /// `X-Request-ID`, `X-Tenant-ID` and `X-Deadline-Ms` (time left until the deadline).
    func request(body: ByteBuffer, dispatch: Dispatch, nowMs: Double, base: String, extraHeaders: [(String, String)] = []) -> HTTPClientRequest {
        var http = HTTPClientRequest(url: base + "/v1/chat/completions")
        http.method = .POST
        http.headers.add(name: "content-type", value: "application/json")
        if let apiKey, !apiKey.isEmpty { http.headers.add(name: "Authorization", value: "Bearer " + apiKey) }
        http.headers.add(name: MaitreHeader.predictedOutputTokens, value: String(dispatch.predictedOutputTokens))
        http.headers.add(name: MaitreHeader.requestID, value: dispatch.requestId)
        http.headers.add(name: MaitreHeader.tenant, value: Self.headerSafe(dispatch.tenantId))
        // The proxy may queue a request for this long. A request dispatched late is still meant to be served, so
        // the proxy gets at least `minDeadlineMs`, never a budget of zero.
        let budgetMs = min(max(dispatch.deadlineAtMs - nowMs, minDeadlineMs), Intake.maxDeadlineMs)
        http.headers.add(name: MaitreHeader.deadlineMs, value: String(Int(budgetMs)))
        http.headers.add(name: MaitreHeader.requestClass, value: dispatch.requestClass.rawValue)
        for (name, value) in extraHeaders { http.headers.add(name: name, value: value) }
        http.body = .bytes(body)
        return http
    }

    var timeout: TimeAmount { .milliseconds(Int64(timeoutMs)) }

    /// A call to proxy `base` that got no answer (refused, timed out before the head): that proxy is skipped for a
    /// while, and while another one is available the request may be sent again at once rather than backing off.
    func unreachable(_ base: String, error: any Error, latencyMs: Double) -> UpstreamCallResult {
        targets.markUnreachable(base)
        return UpstreamCallResult(
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

    /// Calls the proxy for a queued (non front door) request, streaming so that time to first token is measured,
    /// and collects the answer.
    func call(body: ChatCompletionRequest, dispatch: Dispatch, nowMs: Double) async -> UpstreamCallResult {
        var streamed = body
        streamed.stream = true
        streamed.streamOptions = StreamOptions(includeUsage: true)
        let start = ContinuousClock.now
        func elapsedMs() -> Double { (ContinuousClock.now - start).milliseconds }
        let encoded: Data
        do {
            encoded = try JSONEncoder().encode(streamed)
        } catch {
            return UpstreamCallResult(statusCode: 400, outputTokens: 0, latencyMs: 0, transportError: nil)
        }
        let base = targets.next()
        let response: HTTPClientResponse
        do {
            response = try await client.execute(
                request(body: ByteBuffer(bytes: encoded), dispatch: dispatch, nowMs: nowMs, base: base), timeout: timeout)
        } catch {
            return unreachable(base, error: error, latencyMs: elapsedMs())
        }
        targets.markReachable(base)
        do {
            let status = Int(response.status.code)
            var accumulator = StreamAccumulator()
            var ttft: Double?
            if (200..<300).contains(status) {
                for try await chunk in response.body {
                    if ttft == nil { ttft = elapsedMs() }
                    accumulator.feed(chunk.readableBytesView)
                }
                return UpstreamCallResult(
                    statusCode: status, text: accumulator.text, finishReason: accumulator.finishReason,
                    usage: accumulator.usage, outputTokens: accumulator.outputTokens, ttftMs: ttft, latencyMs: elapsedMs())
            }
            let bytes = try await response.body.collect(upTo: 1 << 20)
            let envelope = try? JSONDecoder().decode(ErrorEnvelope.self, from: Data(bytes.readableBytesView))
            return UpstreamCallResult(
                statusCode: status, outputTokens: 0, latencyMs: elapsedMs(),
                retryAfterMs: Self.retryAfterMs(response.headers), error: envelope?.error)
        } catch {
            return UpstreamCallResult(statusCode: 0, outputTokens: 0, latencyMs: elapsedMs(), transportError: "\(error)")
        }
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
