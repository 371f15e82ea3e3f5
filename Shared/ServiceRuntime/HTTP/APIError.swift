import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An error answered in OpenAI's envelope with one HTTP status. Every service error ends up as one of these.
public struct APIError: Error, HTTPResponseError, Sendable, Equatable {
    public var status: HTTPResponse.Status
    public var envelope: ErrorEnvelope
    public var extraHeaders: [String: String]

    public init(
        status: HTTPResponse.Status,
        message: String,
        type: ErrorType,
        code: String? = nil,
        param: String? = nil,
        headers: [String: String] = [:]
    ) {
        self.status = status
        self.envelope = ErrorEnvelope(message: message, type: type, code: code, param: param)
        self.extraHeaders = headers
    }

    public var headers: HTTPFields {
        var fields = HTTPFields()
        for (name, value) in extraHeaders {
            if let field = HTTPField.Name(name) { fields[field] = value }
        }
        return fields
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: responseHeaders, body: .init(byteBuffer: body))
    }

    /// The answer's headers: the extra ones and the JSON content type.
    public var responseHeaders: HTTPFields {
        var fields = headers
        fields[.contentType] = "application/json"
        return fields
    }

    /// The envelope as the answer's body.
    public var body: ByteBuffer {
        let data =
            (try? JSONEncoder().encode(envelope))
            ?? Data("{\"error\":{\"message\":\"internal error\",\"type\":\"server_error\"}}".utf8)
        return ByteBuffer(bytes: data)
    }

    /// The answer to an error that needs no request to describe it: API errors as they are, convertible ones
    /// converted, decoding and setting errors as 400s, cancellation as 499, anything else a 500.
    public init(describing error: any Error) {
        switch error {
        case let error as APIError:
            self = error
        case let error as any APIErrorConvertible:
            self = error.apiError
        case let error as DecodingError:
            self = JSONBody.apiError(for: error)
        case let error as SettingError:
            self = .invalidRequest(error.message, param: error.key)
        case is CancellationError:
            self = APIError(
                status: .init(code: 499, reasonPhrase: "Client Closed Request"), message: "The request was cancelled.",
                type: .server, code: "cancelled")
        default:
            self = .internalError()
        }
    }

    public static func invalidRequest(_ message: String, param: String? = nil, code: String? = "invalid_value")
        -> APIError
    {
        APIError(status: .badRequest, message: message, type: .invalidRequest, code: code, param: param)
    }

    public static func missingParameter(_ param: String) -> APIError {
        APIError(
            status: .badRequest, message: "Missing required parameter: '\(param)'.", type: .invalidRequest,
            code: "missing_required_parameter", param: param)
    }

    public static func notFound(_ message: String, code: String = "not_found", param: String? = nil) -> APIError {
        APIError(status: .notFound, message: message, type: .invalidRequest, code: code, param: param)
    }

    public static func unauthorized(_ message: String = "Missing or invalid bearer token.") -> APIError {
        APIError(
            status: .unauthorized, message: message, type: .authentication, code: "invalid_api_key",
            headers: ["WWW-Authenticate": "Bearer"])
    }

    /// 429 with a `Retry-After` in whole seconds (at least 1), as OpenAI clients expect.
    public static func rateLimited(_ message: String, retryAfterSeconds: Double, code: String = "rate_limit_exceeded")
        -> APIError
    {
        let seconds = max(1, Int(retryAfterSeconds.rounded(.up)))
        let milliseconds = max(1, Int((retryAfterSeconds * 1000).rounded(.up)))
        return APIError(
            status: .tooManyRequests,
            message: message,
            type: .rateLimit,
            code: code,
            headers: ["Retry-After": String(seconds), "retry-after-ms": String(milliseconds)]
        )
    }

    public static func payloadTooLarge(limit: Int) -> APIError {
        APIError(
            status: .contentTooLarge, message: "Request body is larger than the limit of \(limit) bytes.",
            type: .invalidRequest, code: "request_too_large")
    }

    public static func badGateway(_ message: String, code: String = "upstream_unreachable") -> APIError {
        APIError(status: .badGateway, message: message, type: .upstream, code: code)
    }

    public static func serviceUnavailable(
        _ message: String, code: String = "unavailable", retryAfterSeconds: Double? = nil
    ) -> APIError {
        var headers: [String: String] = [:]
        if let retryAfterSeconds { headers["Retry-After"] = String(max(1, Int(retryAfterSeconds.rounded(.up)))) }
        return APIError(status: .serviceUnavailable, message: message, type: .server, code: code, headers: headers)
    }

    public static func internalError(_ message: String = "The server had an error while processing your request.")
        -> APIError
    {
        APIError(status: .internalServerError, message: message, type: .server, code: "internal_error")
    }
}

/// A service's own error type, mapped to exactly one `APIError` by the error middleware.
public protocol APIErrorConvertible: Error {
    var apiError: APIError { get }
}
