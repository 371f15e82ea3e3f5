import HTTPTypes
import Hummingbird
import ServiceRuntime

/// Requires one of the configured client keys as `Authorization: Bearer <key>` (or `api-key: <key>`, as
/// Azure-style clients send) on the forwarding routes. Keys are compared in constant time.
public struct ClientAuthMiddleware: RouterMiddleware {
    public typealias Context = ServiceRequestContext
    let keys: [[UInt8]]

    public init(keys: [String]) {
        self.keys = keys.map { Array($0.utf8) }
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        try authorize(request.headers)
        return try await next(request, context)
    }

    /// Throws the 401 unless no keys are configured or `headers` present one of them.
    public func authorize(_ headers: HTTPFields) throws {
        guard !keys.isEmpty else { return }
        guard let presented = Self.presentedKey(headers), keys.contains(where: { ConstantTime.equals($0, presented) })
        else {
            throw APIError.unauthorized(
                "Incorrect or missing API key. Send one of the proxy's keys as `Authorization: Bearer <key>`.")
        }
    }

    static let apiKeyField = HTTPField.Name("api-key")!

    /// The bearer token or `api-key` header, as bytes.
    static func presentedKey(_ headers: HTTPFields) -> [UInt8]? {
        if let authorization = headers[.authorization] {
            let prefix = "bearer "
            guard authorization.count > prefix.count, authorization.prefix(prefix.count).lowercased() == prefix else {
                return nil
            }
            return Array(authorization.utf8.dropFirst(prefix.count))
        }
        return headers[apiKeyField].map { Array($0.utf8) }
    }
}
