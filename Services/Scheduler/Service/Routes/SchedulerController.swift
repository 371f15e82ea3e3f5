import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import SchedulerCore
import ServiceRuntime

/// `POST /submit`, `GET /status/{id}`, `POST /tick`, `GET /events`.
struct SchedulerController {
    let intake: Intake

    /// The operations `register` adds, for the OpenAPI document.
    static let operations: [OpenAPIOperation] = [
        .json(
            .post, "/submit", id: "submit", summary: "Schedule a request; answers the admission decision.",
            body: SubmitRequest.self, answer: SubmitResponse.self, status: 202, answerText: "Accepted", errors: [429]),
        .json(
            .get, "/status/{id}", id: "status", summary: "State, timings and result of one request.",
            answer: StatusResponse.self, errors: [404], parameters: [.path("id", "Request id from /submit.")]),
        .json(.post, "/tick", id: "tick", summary: "Run one scheduling tick now.", answer: TickResponse.self),
        .json(
            .get, "/events", id: "events", summary: "Recent scheduling decisions.", answer: EventsResponse.self,
            errors: [400],
            parameters: [
                .query("since", OpenAPISchema.integer.refined(.minimum(0)), "Sequence to start after."),
                .query(
                    "limit", OpenAPISchema.integer.refined(.minimum(1), .maximum(10_000)),
                    "Most events to return (default 1000)."),
            ]),
    ]

    func register(on router: Router<ServiceRequestContext>) {
        router.post("/submit") { request, context in
            let submit = try await request.decodeJSON(as: SubmitRequest.self, context: context)
            var ask = try Intake.validate(submit)
            ask.oracleTokens = try Self.oracleTokens(request)
            let admission = try await intake.admit(ask)
            let body = SubmitResponse(
                requestId: admission.requestId,
                state: admission.decision.state,
                requestClass: admission.decision.requestClass,
                deadlineUnixMs: admission.decision.deadlineAtMs,
                prediction: admission.prediction,
                reason: admission.decision.reason
            )
            return try Response.streamedJSON(body, status: .accepted)
        }
        router.get("/status/{id}") { _, context in
            let id = try context.parameters.require("id")
            guard let status = try await intake.runtime.status(id) else {
                throw APIError.notFound("No request with id '\(id)'.", param: "id")
            }
            return try Response.json(status)
        }
        router.post("/tick") { _, _ in
            try Response.json(await intake.runtime.tick())
        }
        router.get("/events") { request, _ in
            let since = try Self.integer(request, "since") ?? 0
            let limit = try Self.integer(request, "limit") ?? 1000
            guard (1...10_000).contains(limit) else {
                throw APIError.invalidRequest("'limit' must be between 1 and 10000.", param: "limit")
            }
            return try Response.json(try await intake.runtime.events(since: since, limit: limit))
        }
    }

    static func integer(_ request: Request, _ name: String) throws -> Int? {
        guard let text = request.uri.queryParameters.get(name) else { return nil }
        guard let value = Int(text), value >= 0 else {
            throw APIError.invalidRequest("'\(name)' must be a non-negative integer.", param: name)
        }
        return value
    }

    static func oracleTokens(_ request: Request) throws -> Int? {
        guard let name = HTTPField.Name(Intake.oracleHeader), let text = request.headers[name] else { return nil }
        guard let value = Int(text), value > 0 else {
            throw APIError.invalidRequest(
                "'\(Intake.oracleHeader)' must be a positive integer.", param: Intake.oracleHeader)
        }
        return value
    }
}

/// `GET|POST /admin/config` and `POST /reset`, behind `Authorization: Bearer $ADMIN_TOKEN`.
struct AdminController {
    let runtime: SchedulerRuntime
    let adminToken: String

    /// The operations `register` adds, for the OpenAPI document.
    static let operations: [OpenAPIOperation] = [
        .json(
            .get, "/admin/config", id: "getConfig", summary: "The live policy.", answer: SchedulerConfigDocument.self,
            errors: [401], bearerAuth: true),
        .json(
            .post, "/admin/config", id: "setConfig",
            summary: "Change the live policy (fields left out stay as they are).",
            body: SchedulerConfigDocument.self, answer: SchedulerConfigDocument.self, errors: [401], bearerAuth: true),
        .json(
            .post, "/reset", id: "reset", summary: "Drop every waiting request.", answer: ResetResponse.self,
            errors: [401], bearerAuth: true),
    ]

    func register(on router: Router<ServiceRequestContext>) {
        router.get("/admin/config") { request, _ in
            try authorize(request)
            return try Response.json(await runtime.policy.document)
        }
        router.post("/admin/config") { request, context in
            try authorize(request)
            let document = try await request.decodeJSON(as: SchedulerConfigDocument.self, context: context)
            do {
                return try Response.json(try await runtime.reconfigure(document))
            } catch let error as PolicyValidationError {
                throw APIError.invalidRequest(
                    "Invalid configuration: \(error.field) \(error.message).", param: error.field)
            }
        }
        router.post("/reset") { request, _ in
            try authorize(request)
            let dropped = await runtime.reset()
            return try Response.json(ResetResponse(reset: true, droppedWaiting: dropped))
        }
    }

    private func authorize(_ request: Request) throws {
        guard !adminToken.isEmpty else {
            throw APIError.unauthorized("Administration is disabled: set ADMIN_TOKEN to enable it.")
        }
        let header = request.headers[.authorization] ?? ""
        let prefix = "Bearer "
        guard header.hasPrefix(prefix),
            ConstantTime.equals(Array(adminToken.utf8), Array(header.dropFirst(prefix.count).utf8))
        else {
            throw APIError.unauthorized()
        }
    }
}
