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

    /// The operation `register` adds, for the OpenAPI document.
    static let operations: [OpenAPIOperation] = [
        .json(
            .post, "/v1/chat/completions", id: "chatCompletions",
            summary:
                "OpenAI-compatible front door: waits in the queue, then answers from the proxy (its errors pass through).",
            body: ChatCompletionRequest.self, answer: ChatCompletionResponse.self,
            errors: OpenAPIOperation.openAIGenerationErrors + [401],
            parameters: [
                .header("X-Tenant-ID", .string, "Tenant (default: the body's `user`, else `default`)."),
                .header("X-Request-Class", .enumeration(RequestClass.allCases.map(\.rawValue)), "Service class."),
                .header(
                    "X-Deadline-Ms",
                    OpenAPISchema.number.refined(.exclusiveMinimum(0), .maximum(SubmitRequest.maxDeadlineMs)),
                    "Time budget in ms."),
                .header(
                    "X-Priority",
                    OpenAPISchema.integer.refined(
                        .minimum(Double(SubmitRequest.priorities.lowerBound)),
                        .maximum(Double(SubmitRequest.priorities.upperBound))),
                    "Priority, 0 to 9 (default 5)."),
                .header("X-Task-Type", .string, "Task type, for prediction."),
            ],
            stream: ChatCompletionChunk.self)
    ]

    func register(on router: Router<ServiceRequestContext>) {
        router.post("/v1/chat/completions") { request, context in
            let raw = try await request.collectBody(context: context)
            let body = try JSONBody.decode(
                ChatCompletionRequest.self, from: Data(raw.readableBytesView), maxDepth: context.maxJSONDepth)
            let ask = try Self.ask(
                body: body, headers: request.headers, oracle: try SchedulerController.oracleTokens(request))
            let admission = try await intake.admit(ask)
            let streaming = body.stream == true
            return try await context.cancellingWhenClientLeaves {
                try await serve(admission.requestId, raw: raw, streaming: streaming, context: context)
            }
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
                throw APIError.invalidRequest(
                    "'\(MaitreHeader.requestClass)' must be interactive or heavy.", param: MaitreHeader.requestClass)
            }
            requestClass = value
        }
        var deadline: Double?
        if let text = header(headers, MaitreHeader.deadlineMs) {
            guard let value = Double(text) else {
                throw APIError.invalidRequest(
                    "'\(MaitreHeader.deadlineMs)' must be a number of milliseconds.", param: MaitreHeader.deadlineMs)
            }
            try Intake.validate(deadlineMs: value, param: MaitreHeader.deadlineMs)
            deadline = value
        }
        var priority = 5
        if let text = header(headers, MaitreHeader.priority) {
            guard let value = Int(text) else {
                throw APIError.invalidRequest(
                    "'\(MaitreHeader.priority)' must be an integer from 0 to 9.", param: MaitreHeader.priority)
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
    /// in the queue (up to the engine's attempt limit) instead of failing the client. Cancelled (the client left),
    /// the request is withdrawn: out of the queue if waiting, its upstream call stopped if sent.
    private func serve(
        _ id: String, raw: ByteBuffer, streaming: Bool, context: ServiceRequestContext
    ) async throws -> Response {
        let runtime = intake.runtime
        while true {
            let dispatch: Dispatch
            switch await runtime.waitForDispatch(id) {
            case .refused(let reason, let retryAfterMs):
                throw APIError.rateLimited(
                    "\(reason.message) [\(reason.code)]", retryAfterSeconds: retryAfterMs / 1000, code: reason.code)
            case .dispatched(let value):
                dispatch = value
            case .cancelled:
                try await withdraw(id, context: context)
            }
            if Task.isCancelled { try await withdraw(id, context: context) }
            let answer = await caller.open(body: raw, dispatch: dispatch, nowMs: runtime.now)
            if Task.isCancelled { try await withdraw(id, context: context) }
            switch answer {
            case .ended(let result, let bytes, let headers):
                if await runtime.finish(id, result: result) == .requeued { continue }
                if let problem = result.transportError {
                    throw APIError.badGateway("The proxy could not be reached: \(problem).")
                }
                return Response(
                    status: .init(code: result.statusCode), headers: Self.passThroughHeaders(headers, id: id),
                    body: .init(byteBuffer: bytes))
            case .answering(let stream):
                let body = ResponseBody { writer in
                    var result: ProxyCallResult
                    do {
                        result = try await caller.relay(
                            stream, streaming: streaming, observer: runtime.streamObserver(id)
                        ) { try await writer.write($0) }
                    } catch {
                        let reason = ReasonCode.clientDisconnected.reason(
                            "The client closed the connection during the answer.")
                        await runtime.cancel(id, reason: reason)
                        throw error
                    }
                    if let broke = result.transportError {
                        // Part of the answer has reached the client, so the request cannot be sent again: it failed,
                        // and the connection ends so that the client does not take the part for a whole answer.
                        result.statusCode = 502
                        result.transportError = nil
                        result.error = ErrorBody(message: "The upstream broke off: \(broke).", type: "api_error")
                        await runtime.finish(id, result: result)
                        throw APIError.badGateway("The upstream broke off: \(broke).")
                    }
                    await runtime.finish(id, result: result)
                    try await writer.finish(nil)
                }
                return Response(
                    status: .init(code: stream.status), headers: Self.passThroughHeaders(stream.headers, id: id),
                    body: body)
            }
        }
    }

    /// Withdraws a request whose wait was cancelled before the answer: it is never, or no longer, sent upstream. The
    /// reason says whether its client left or the scheduler is shutting down.
    private func withdraw(_ id: String, context: ServiceRequestContext) async throws -> Never {
        let reason =
            await context.clientLeft()
            ? ReasonCode.clientDisconnected.reason("The client closed the connection before the answer.")
            : ReasonCode.shutdown.reason("The scheduler shut down before the answer.")
        await intake.runtime.cancel(id, reason: reason)
        throw CancellationError()
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
