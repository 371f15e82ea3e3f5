import Contracts
import HTTPTypes
import Hummingbird
import MockLLMCore
import NIOCore
import ServiceRuntime

/// Plays one job against the latency model: waits in line, prefills, decodes token by token at the
/// in-flight-dependent pace, and writes the answer as JSON or SSE, with the job's fault applied.
struct Generator: Sendable {
    let runtime: ProviderRuntime
    /// Longest non-streaming decoding step (wall seconds) before tpot is re-read.
    let decodeStepSeconds: Double
    let streamChunkTokens: Int
    /// How long a hanging request hangs (wall seconds).
    let hangSeconds: Double

    /// The connection was cut on purpose (an injected reset).
    struct InjectedReset: Error {}

    func run(_ job: GenerationJob, lease: GenerationLease) async throws -> Response {
        var rateHeaders = HTTPFields()
        for (name, value) in lease.account?.status.headers ?? [] {
            if let field = HTTPField.Name(name) { rateHeaders[field] = value }
        }
        if let status = job.fault.status {
            lease.end(refund: true)
            runtime.count(.injectedError)
            throw Self.injectedError(status: status)
        }
        do {
            try await lease.acquireSlot()
        } catch {
            lease.end(refund: true)
            throw error
        }
        if job.fault.hang {
            try? await pause(hangSeconds)
            lease.end(refund: false)
            runtime.count(.hung)
            throw APIError(status: .gatewayTimeout, message: "The request timed out.", type: .timeout, code: "timeout")
        }
        do {
            try await pause(
                job.fault.slowFirstByteSeconds + runtime.latency.timeToFirstToken(promptTokens: job.promptTokens))
        } catch {
            lease.end(refund: false)
            throw error
        }
        let encoding = ResponseEncoding(job: job)
        if job.stream {
            return streamingResponse(job, encoding: encoding, lease: lease, headers: rateHeaders)
        }
        return try await completeResponse(job, encoding: encoding, lease: lease, headers: rateHeaders)
    }

    private func completeResponse(
        _ job: GenerationJob, encoding: ResponseEncoding, lease: GenerationLease, headers: HTTPFields
    ) async throws -> Response {
        defer { lease.end(refund: false) }
        let target = job.fault.resetAfterTokens.map { min($0, job.plan.tokens) } ?? job.plan.tokens
        try await decode(
            tokens: target, maxStepSeconds: decodeStepSeconds, chunkTokens: .max,
            stallAfter: job.fault.stallAfterTokens
        ) { _, _ in }
        var headers = headers
        headers[.contentType] = "application/json"
        if job.fault.resetAfterTokens != nil {
            runtime.count(.reset, promptTokens: job.promptTokens, completionTokens: target)
            // The length of the whole answer is promised, then half of it sent: a server that dies mid-answer.
            let (partial, completeLength) = encoding.truncatedBody()
            return Response(
                status: .ok, headers: headers,
                body: ResponseBody(contentLength: completeLength) { writer in
                    try await writer.write(partial)
                    throw InjectedReset()
                })
        }
        runtime.count(.completed, promptTokens: job.promptTokens, completionTokens: job.plan.tokens)
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: encoding.completeBody()))
    }

    private func streamingResponse(
        _ job: GenerationJob, encoding: ResponseEncoding, lease: GenerationLease, headers: HTTPFields
    ) -> Response {
        var headers = headers
        headers[.contentType] = "text/event-stream; charset=utf-8"
        headers[.cacheControl] = "no-cache"
        let runtime = runtime
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { [self] writer in
                defer { lease.end(refund: false) }
                var produced = 0
                do {
                    if let opening = try encoding.openingEvent() { try await writer.write(opening) }
                    let resetAt = job.fault.resetAfterTokens
                    try await decode(
                        tokens: min(resetAt ?? .max, job.plan.tokens), maxStepSeconds: .infinity,
                        chunkTokens: streamChunkTokens, stallAfter: job.fault.stallAfterTokens
                    ) { start, count in
                        try await writer.write(try encoding.contentEvent(from: start, count: count))
                        produced = start + count
                    }
                    if resetAt != nil {
                        runtime.count(.reset, promptTokens: job.promptTokens, completionTokens: produced)
                        // The bytes so far leave the socket before the cut (closing the channel drops writes still
                        // queued in it, which on a busy machine lost the chunks the reset was meant to follow).
                        try await Task.sleep(for: .milliseconds(50))
                        throw InjectedReset()
                    }
                    try await writer.write(try encoding.closingEvents())
                    try await writer.finish(nil)
                } catch let error as InjectedReset {
                    throw error
                } catch {
                    runtime.count(.disconnected, promptTokens: job.promptTokens, completionTokens: produced)
                    throw error
                }
                runtime.count(.completed, promptTokens: job.promptTokens, completionTokens: produced)
            })
    }

    /// Produces `tokens` output tokens in steps whose pace follows the current in-flight count,
    /// handing each step's token range to `emit` after its time has passed. With `stallAfter`, the
    /// decoding goes silent for the hang time once that many tokens are out (the step before it is cut there, so the
    /// count is met exactly once).
    private func decode(
        tokens: Int, maxStepSeconds: Double, chunkTokens: Int, stallAfter: Int? = nil,
        emit: (_ start: Int, _ count: Int) async throws -> Void
    ) async throws {
        var produced = 0
        let latency = runtime.latency
        while produced < tokens {
            if produced == stallAfter { try await pause(hangSeconds) }
            let inFlight = latency.tpotSeconds > 0 ? runtime.inFlight : 0
            var step = latency.decodeStep(
                remaining: tokens - produced, inFlight: inFlight, maxStepSeconds: maxStepSeconds,
                chunkTokens: chunkTokens, isFirst: produced == 0
            )
            if let stallAfter, produced < stallAfter, produced + step.tokens > stallAfter {
                step.seconds *= Double(stallAfter - produced) / Double(step.tokens)
                step.tokens = stallAfter - produced
            }
            try await pause(step.seconds)
            try await emit(produced, step.tokens)
            produced += step.tokens
        }
    }

    private func pause(_ seconds: Double) async throws {
        guard seconds > 0 else { return }
        try await Task.sleep(for: .nanoseconds(Int64(seconds * 1e9)))
    }

    static func injectedError(status: Int) -> APIError {
        switch status {
        case 500: return .internalError()
        case 503: return .serviceUnavailable("The server is overloaded or not ready yet.", code: "service_unavailable")
        case 429: return .rateLimited("Rate limit reached (injected).", retryAfterSeconds: 1)
        default:
            let type: ErrorType = status >= 500 ? .server : .invalidRequest
            return APIError(
                status: .init(code: status), message: "Injected fault: HTTP \(status).", type: type,
                code: "injected_fault")
        }
    }
}
