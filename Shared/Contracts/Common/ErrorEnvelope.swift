import Foundation

/// OpenAI's error body: `{"error": {"message", "type", "code", "param"}}`, returned for every 4xx and 5xx.
public struct ErrorEnvelope: Codable, Sendable, Equatable {
    public var error: ErrorBody

    public init(error: ErrorBody) {
        self.error = error
    }

    public init(message: String, type: ErrorType, code: String? = nil, param: String? = nil) {
        self.error = ErrorBody(message: message, type: type.rawValue, code: code, param: param)
    }
}

/// The inner object of an `ErrorEnvelope`.
public struct ErrorBody: Codable, Sendable, Equatable {
    public var message: String
    public var type: String
    public var code: String?
    public var param: String?

    public init(message: String, type: String, code: String? = nil, param: String? = nil) {
        self.message = message
        self.type = type
        self.code = code
        self.param = param
    }

    public func encode(to encoder: any Encoder) throws {
        // OpenAI sends `code` and `param` as explicit nulls; client libraries read them either way.
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(message, forKey: .message)
        try container.encode(type, forKey: .type)
        try container.encode(code, forKey: .code)
        try container.encode(param, forKey: .param)
    }
}

/// The `type` values OpenAI's client libraries recognise, plus the scheduler's own overload type.
public enum ErrorType: String, Codable, Sendable {
    case invalidRequest = "invalid_request_error"
    case authentication = "authentication_error"
    case permission = "permission_error"
    case notFound = "not_found_error"
    case rateLimit = "rate_limit_error"
    case server = "server_error"
    case upstream = "upstream_error"
    case timeout = "timeout_error"
    case overloaded = "overloaded_error"
}

extension ErrorEnvelope: OpenAPIComponent {
    public static let schemaDescription = "OpenAI's error envelope; every error of every service has this shape."
}

extension ErrorBody: OpenAPIComponent {
    public static let schemaDescription = "The error itself; `code` and `param` are explicit nulls when unknown."
}
