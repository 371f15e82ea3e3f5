import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The one place where errors become HTTP responses: every error a route or middleware throws leaves
/// as OpenAI's envelope with one status. Unknown URLs answer 404, known URLs with the wrong method 405.
public struct ErrorEnvelopeMiddleware: RouterMiddleware {
    public typealias Context = ServiceRequestContext
    let catalog: RouteCatalog

    public init(catalog: RouteCatalog) {
        self.catalog = catalog
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch {
            let apiError = map(error, request: request, context: context)
            if apiError.status.code >= 500 {
                context.logger.error("request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            }
            var response = try apiError.response(from: request, context: context)
            if !context.requestID.isEmpty {
                response.headers[RequestID.field] = context.requestID
            }
            return response
        }
    }

    func map(_ error: any Error, request: Request, context: Context) -> APIError {
        switch error {
        case let error as HTTPError:
            return map(error, request: request)
        case is NIOTooManyBytesError:
            return .payloadTooLarge(limit: context.maxBodyBytes)
        default:
            return APIError(describing: error)
        }
    }

    func map(_ error: HTTPError, request: Request) -> APIError {
        switch error.status {
        case .notFound:
            let allowed = catalog.allowedMethods(for: request.uri.path)
            if !allowed.isEmpty && !allowed.contains(request.method.rawValue) {
                return APIError(
                    status: .methodNotAllowed,
                    message:
                        "Method \(request.method.rawValue) is not allowed on \(request.uri.path); use \(allowed.joined(separator: ", ")).",
                    type: .invalidRequest,
                    code: "method_not_allowed",
                    headers: ["Allow": allowed.joined(separator: ", ")]
                )
            }
            if let message = error.body, !message.isEmpty {
                return .notFound(message)
            }
            return .notFound(
                "Unknown request URL: \(request.method.rawValue) \(request.uri.path).", code: "unknown_url")
        case .contentTooLarge:
            return APIError(
                status: .contentTooLarge, message: error.body ?? "Request body is too large.", type: .invalidRequest,
                code: "request_too_large")
        case .unauthorized:
            return .unauthorized(error.body ?? "Missing or invalid bearer token.")
        default:
            let type: ErrorType = error.status.code >= 500 ? .server : .invalidRequest
            return APIError(
                status: error.status, message: error.body ?? error.status.reasonPhrase, type: type, code: nil)
        }
    }
}

/// Stamps every request with an `X-Request-ID` (the caller's, when it sends a sane one), echoes it on the
/// response, puts it in the log metadata, and sets the context's body limits.
public struct RequestIDMiddleware: RouterMiddleware {
    public typealias Context = ServiceRequestContext
    let maxBodyBytes: Int
    let maxJSONDepth: Int

    public init(maxBodyBytes: Int, maxJSONDepth: Int) {
        self.maxBodyBytes = maxBodyBytes
        self.maxJSONDepth = maxJSONDepth
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        var context = context
        context.requestID = RequestID.resolve(request.headers[RequestID.field])
        context.maxBodyBytes = maxBodyBytes
        context.maxJSONDepth = maxJSONDepth
        context.logger[metadataKey: "request_id"] = .string(context.requestID)
        var response = try await next(request, context)
        response.headers[RequestID.field] = context.requestID
        return response
    }

    /// Printable ASCII, at most 128 characters: anything else is replaced, never logged.
    static func isAcceptable(_ value: String) -> Bool {
        !value.isEmpty && value.utf8.count <= 128 && value.utf8.allSatisfy { $0 > 32 && $0 < 127 }
    }
}

/// Request identifiers: a prefix and 24 hex digits — 12 of milliseconds since 1970, then 12 random. Ids made later
/// sort later, so a store keyed by them appends to its index instead of touching a random page per insert; 48
/// random bits keep them unguessable within a millisecond.
public enum RequestID {
    /// `X-Request-ID`.
    public static let field = HTTPField.Name(MaitreHeader.requestID)!

    /// The caller's id when it is acceptable (`RequestIDMiddleware.isAcceptable`), else a new one.
    public static func resolve(_ given: String?) -> String {
        if let given, RequestIDMiddleware.isAcceptable(given) { return given }
        return make()
    }

    public static func make(prefix: String = "req_") -> String {
        var generator = SystemRandomNumberGenerator()
        let milliseconds = UInt64(max(0, Date().timeIntervalSince1970 * 1000)) & 0xFFFF_FFFF_FFFF
        let random = (generator.next() as UInt64) & 0xFFFF_FFFF_FFFF
        return prefix + String(milliseconds, radix: 16).leftPadded(to: 12)
            + String(random, radix: 16).leftPadded(to: 12)
    }
}

extension String {
    func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
