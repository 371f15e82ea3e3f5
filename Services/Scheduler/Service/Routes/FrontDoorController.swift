import AsyncHTTPClient
import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import SchedulerCore
import ServiceRuntime

/// OpenAI-compatible front door: `POST /v1/chat/completions` is scheduled like a submission (tenant, class, deadline
/// and priority from headers), waits in the queue instead of failing, then passes the proxy's answer through —
/// streamed when the client asked for a stream.
struct FrontDoorController {
    let intake: Intake
    let caller: ProxyCaller

    func register(on router: Router<ServiceRequestContext>) {
        router.post("/v1/chat/completions") { request, context in
            let raw = try await request.collectBody(context: context)
            let body = try JSONBody.decode(ChatCompletionRequest.self, from: Data(raw.readableBytesView), maxDepth: context.maxJSONDepth)
            let ask = try Self.ask(body: body, headers: request.headers, oracle: try SchedulerController.oracleTokens(request))
            let admission = try await intake.admit(ask)
            return try await serve(admission.requestId, raw: raw, streaming: body.stream == true)
        }
    }

    static func header(_ headers: HTTPFields, _ name: String) -> String? {
        HTTPField.Name(name).flatMap { headers[$0] }.flatMap { $0.isEmpty ? nil : $0 }
    }

    static func ask(body: ChatCompletionRequest, headers: HTTPFields, oracle: Int?) throws -> Intake.Ask {
        guard !body.messages.isEmpty else {
            throw APIError.invalidRequest("'messages' must hold at least one message.", param: "messages")
        }
        if let limit = body.outputTokenLimit, limit <= 0 {
            throw APIError.invalidRequest("'max_tokens' must be a positive integer.", param: "max_tokens")
        }
        var requestClass: RequestClass?
        if let text = header(headers, MaitreHeader.requestClass) {
            guard let value = RequestClass(rawValue: text.lowercased()) else {
                throw APIError.invalidRequest("'\(MaitreHeader.requestClass)' must be interactive or heavy.", param: MaitreHeader.requestClass)
            }
            requestClass = value
        }
        var deadline: Double?
        if let text = header(headers, MaitreHeader.deadlineMs) {
            guard let value = Double(text) else {
                throw APIError.invalidRequest("'\(MaitreHeader.deadlineMs)' must be a number of milliseconds.", param: MaitreHeader.deadlineMs)
            }
            try Intake.validate(deadlineMs: value, param: MaitreHeader.deadlineMs)
            deadline = value
        }
        var priority = 5
        if let text = header(headers, MaitreHeader.priority) {
            guard let value = Int(text) else {
                throw APIError.invalidRequest("'\(MaitreHeader.priority)' must be an integer from 0 to 9.", param: MaitreHeader.priority)
            }
            try Intake.validate(priority: value, param: MaitreHeader.priority)
            priority = value
        }
        return Intake.Ask(
            body: body,
            tenantId: header(headers, MaitreHeader.tenant) ?? body.user ?? "default",
            requestClass: requestClass,
            priority: priority,
            deadlineMs: deadline,
            taskType: header(headers, MaitreHeader.taskType),
            oracleTokens: oracle,
            frontDoor: true
        )
    }

    /// Waits for the dispatch, calls the proxy, and answers; an upstream 429 before any byte puts the request back
    /// in the queue (up to the engine's attempt limit) instead of failing the client.
    private func serve(_ id: String, raw: ByteBuffer, streaming: Bool) async throws -> Response {
        let runtime = intake.runtime
        while true {
            let dispatch: Dispatch
            switch await runtime.waitForDispatch(id) {
            case .refused(let reason, let retryAfterMs):
                throw APIError.rateLimited("\(reason.message) [\(reason.code)]", retryAfterSeconds: retryAfterMs / 1000, code: reason.code)
            case .dispatched(let value):
                dispatch = value
            }
            let start = ContinuousClock.now
            let response: HTTPClientResponse
            let base = caller.targets.next()
            do {
                response = try await caller.client.execute(
                    caller.request(body: raw, dispatch: dispatch, nowMs: runtime.now, base: base), timeout: caller.timeout)
            } catch {
                let result = caller.unreachable(base, error: error, latencyMs: (ContinuousClock.now - start).milliseconds)
                if await runtime.finish(id, result: result) == .requeued { continue }
                throw APIError.badGateway("The proxy could not be reached: \(error).")
            }
            caller.targets.markReachable(base)
            let status = Int(response.status.code)
            if status == 429 || !(200..<300).contains(status) {
                let bytes = try await response.body.collect(upTo: 1 << 20)
                let envelope = try? JSONDecoder().decode(ErrorEnvelope.self, from: Data(bytes.readableBytesView))
                let result = UpstreamCallResult(
                    statusCode: status, outputTokens: 0, latencyMs: (ContinuousClock.now - start).milliseconds,
                    retryAfterMs: ProxyCaller.retryAfterMs(response.headers), error: envelope?.error)
                if await runtime.finish(id, result: result) == .requeued { continue }
                return Response(status: .init(code: status), headers: Self.passThroughHeaders(response.headers, id: id), body: .init(byteBuffer: bytes))
            }
            let headers = Self.passThroughHeaders(response.headers, id: id)
            if !streaming {
                let bytes = try await response.body.collect(upTo: 64 << 20)
                var accumulator = StreamAccumulator()
                accumulator.read(document: Data(bytes.readableBytesView))
                await runtime.finish(id, result: Self.result(status, accumulator, ttft: nil, start: start))
                return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: bytes))
            }
            let upstream = response.body
            let body = ResponseBody { writer in
                var accumulator = StreamAccumulator()
                var ttft: Double?
                do {
                    for try await chunk in upstream {
                        if ttft == nil { ttft = (ContinuousClock.now - start).milliseconds }
                        accumulator.feed(chunk.readableBytesView)
                        try await writer.write(chunk)
                    }
                    try await writer.finish(nil)
                } catch {
                    var failed = Self.result(status, accumulator, ttft: ttft, start: start)
                    failed.statusCode = 502
                    failed.error = ErrorBody(message: "The stream broke: \(error).", type: "api_error")
                    await runtime.finish(id, result: failed)
                    throw error
                }
                await runtime.finish(id, result: Self.result(status, accumulator, ttft: ttft, start: start))
            }
            return Response(status: .init(code: status), headers: headers, body: body)
        }
    }

    static func result(_ status: Int, _ accumulator: StreamAccumulator, ttft: Double?, start: ContinuousClock.Instant) -> UpstreamCallResult {
        UpstreamCallResult(
            statusCode: status, text: accumulator.text, finishReason: accumulator.finishReason, usage: accumulator.usage,
            outputTokens: accumulator.outputTokens, ttftMs: ttft, latencyMs: (ContinuousClock.now - start).milliseconds)
    }

    /// Content type and the upstream's rate-limit hints pass through; the request id is ours.
    static func passThroughHeaders(_ upstream: HTTPHeaders, id: String) -> HTTPFields {
        var fields = HTTPFields()
        for name in ["content-type", "retry-after", "retry-after-ms", "cache-control"] {
            if let value = upstream.first(name: name), let field = HTTPField.Name(name) { fields[field] = value }
        }
        if let field = HTTPField.Name(MaitreHeader.requestID) { fields[field] = id }
        return fields
    }
}
