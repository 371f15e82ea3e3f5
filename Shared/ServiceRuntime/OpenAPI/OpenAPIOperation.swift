import Contracts
import HTTPTypes

/// One operation of a service's HTTP API, declared beside the route that serves it; its schemas are derived from
/// the Contracts types it names.
public struct OpenAPIOperation: Sendable {
    public var method: HTTPRequest.Method
    /// The path as OpenAPI writes it, parameters in braces (`/status/{id}`).
    public var path: String
    public var id: String
    public var summary: String
    public var parameters: [OpenAPIParameter]
    public var requestBody: DerivedSchema?
    public var responses: [OpenAPIResponse]
    /// Whether the operation takes `Authorization: Bearer`.
    public var bearerAuth: Bool

    public init(
        _ method: HTTPRequest.Method, _ path: String, id: String, summary: String,
        parameters: [OpenAPIParameter] = [], requestBody: DerivedSchema? = nil, responses: [OpenAPIResponse],
        bearerAuth: Bool = false
    ) {
        self.method = method
        self.path = path
        self.id = id
        self.summary = summary
        self.parameters = parameters
        self.requestBody = requestBody
        self.responses = responses
        self.bearerAuth = bearerAuth
    }

    /// A JSON operation: `answer` with `status` on success, OpenAI's error envelope for each of `errors` (and 400
    /// and 413 when it takes a `body`); `stream` names the chunk type when it can also answer server-sent events.
    public static func json(
        _ method: HTTPRequest.Method, _ path: String, id: String, summary: String,
        body: (any Decodable.Type)? = nil, answer: any Decodable.Type, status: Int = 200, answerText: String = "OK",
        errors: [Int] = [], parameters: [OpenAPIParameter] = [], bearerAuth: Bool = false,
        stream: (any Decodable.Type)? = nil
    ) -> OpenAPIOperation {
        json(
            method, path, id: id, summary: summary, body: body, answer: DerivedSchema(of: answer), status: status,
            answerText: answerText, errors: errors, parameters: parameters, bearerAuth: bearerAuth, stream: stream)
    }

    /// A JSON operation whose answer is written out rather than a wire type.
    public static func json(
        _ method: HTTPRequest.Method, _ path: String, id: String, summary: String,
        body: (any Decodable.Type)? = nil, answer: DerivedSchema, status: Int = 200, answerText: String = "OK",
        errors: [Int] = [], parameters: [OpenAPIParameter] = [], bearerAuth: Bool = false,
        stream: (any Decodable.Type)? = nil
    ) -> OpenAPIOperation {
        var content = ["application/json": OpenAPIMediaType(answer)]
        if let stream {
            content["text/event-stream"] = OpenAPIMediaType(
                DerivedSchema(OpenAPIMediaType.serverSentEvent), sseData: DerivedSchema(of: stream))
        }
        var statuses = Set(errors)
        if body != nil { statuses.formUnion([400, 413]) }
        let responses =
            [OpenAPIResponse(status: status, description: answerText, content: content)]
            + statuses.sorted().map(OpenAPIResponse.error)
        return OpenAPIOperation(
            method, path, id: id, summary: summary, parameters: parameters,
            requestBody: body.map { DerivedSchema(of: $0) },
            responses: responses, bearerAuth: bearerAuth)
    }

    /// A page or asset: text of `mediaType`.
    public static func page(_ path: String, id: String, summary: String, mediaType: String) -> OpenAPIOperation {
        OpenAPIOperation(
            .get, path, id: id, summary: summary,
            responses: [
                OpenAPIResponse(status: 200, description: "OK", content: [mediaType: OpenAPIMediaType(.string)])
            ])
    }

    var json: JSONValue {
        var fields: [String: JSONValue] = [
            "operationId": .string(id), "summary": .string(summary),
            "responses": .object(
                Dictionary(uniqueKeysWithValues: responses.map { (String($0.status), $0.json) })),
        ]
        if !parameters.isEmpty { fields["parameters"] = .array(parameters.map(\.json)) }
        if let requestBody {
            fields["requestBody"] = .object([
                "required": .bool(true),
                "content": .object(["application/json": .object(["schema": requestBody.schema.json])]),
            ])
        }
        if bearerAuth { fields["security"] = .array([.object(["bearerAuth": .array([])])]) }
        return .object(fields)
    }

    /// Every derived schema the operation uses.
    var schemas: [DerivedSchema] {
        [requestBody].compactMap { $0 } + responses.flatMap { $0.content.values.flatMap(\.schemas) }
    }
}

/// One answer of an operation: its status, a sentence, and its body per media type.
public struct OpenAPIResponse: Sendable {
    public var status: Int
    public var description: String
    public var content: [String: OpenAPIMediaType]

    public init(status: Int, description: String, content: [String: OpenAPIMediaType]) {
        self.status = status
        self.description = description
        self.content = content
    }

    /// OpenAI's error envelope with `status`, described by what that status means from any maitre service.
    public static func error(_ status: Int) -> OpenAPIResponse {
        OpenAPIResponse(
            status: status, description: errorText[status] ?? "Error.",
            content: ["application/json": OpenAPIMediaType(DerivedSchema(of: ErrorEnvelope.self))])
    }

    static let errorText = [
        400: "Invalid request: bad JSON, a wrong type, a missing or out-of-range field.",
        401: "Missing or invalid bearer token.",
        404: "Not found.",
        413: "Request body larger than the service's limit.",
        429: "Rate limited or refused by the scheduler; `Retry-After` says when to retry.",
        500: "Internal error.",
        502: "Upstream unreachable or broken.",
        503: "Temporarily unavailable.",
        504: "Upstream timed out.",
    ]

    var json: JSONValue {
        var fields: [String: JSONValue] = ["description": .string(description)]
        if !content.isEmpty { fields["content"] = .object(content.mapValues(\.json)) }
        return .object(fields)
    }
}

/// A body of one media type; for server-sent events, `sseData` is the schema of each event's `data` (as JSON).
public struct OpenAPIMediaType: Sendable {
    public var schema: DerivedSchema
    public var sseData: DerivedSchema?

    public init(_ schema: DerivedSchema, sseData: DerivedSchema? = nil) {
        self.schema = schema
        self.sseData = sseData
    }

    public init(_ schema: OpenAPISchema) {
        self.init(DerivedSchema(schema))
    }

    /// One server-sent event, as OpenAPI 3.2's `itemSchema` would describe it; `x-sse-data` names its data's schema.
    static let serverSentEvent = OpenAPISchema([
        "type": .string("object"),
        "properties": .object([
            "event": OpenAPISchema.string.json, "data": OpenAPISchema.string.json, "id": OpenAPISchema.string.json,
            "retry": OpenAPISchema.integer.json,
        ]),
    ])

    var json: JSONValue {
        var fields: [String: JSONValue] = ["schema": schema.schema.json]
        if let sseData { fields["x-sse-data"] = sseData.schema.json }
        return .object(fields)
    }

    var schemas: [DerivedSchema] { [schema] + [sseData].compactMap { $0 } }
}

/// A query, path or header parameter.
public struct OpenAPIParameter: Sendable {
    public var name: String
    public var location: String
    public var required: Bool
    public var schema: OpenAPISchema
    public var description: String

    /// An optional query parameter.
    public static func query(_ name: String, _ schema: OpenAPISchema, _ description: String) -> OpenAPIParameter {
        OpenAPIParameter(name: name, location: "query", required: false, schema: schema, description: description)
    }

    /// A path parameter (a string).
    public static func path(_ name: String, _ description: String) -> OpenAPIParameter {
        OpenAPIParameter(name: name, location: "path", required: true, schema: .string, description: description)
    }

    /// An optional header.
    public static func header(_ name: String, _ schema: OpenAPISchema, _ description: String) -> OpenAPIParameter {
        OpenAPIParameter(name: name, location: "header", required: false, schema: schema, description: description)
    }

    var json: JSONValue {
        .object([
            "name": .string(name), "in": .string(location), "required": .bool(required), "schema": schema.json,
            "description": .string(description),
        ])
    }
}
