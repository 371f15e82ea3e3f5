import AsyncHTTPClient
import NIOCore
import ServiceLifecycle

/// The proxy's one upstream HTTP client: no redirects, no decompression, a large pool, reads that time out
/// between chunks, and no silent re-dialling of a refused connection, so a dead account fails at once and
/// the request moves to another account instead of spending its whole deadline on one.
public struct UpstreamClient: Service {
    public let client: HTTPClient

    public init(connectTimeout: TimeAmount, readTimeout: TimeAmount, maxConnectionsPerHost: Int) {
        self.client = Self.make(connectTimeout: connectTimeout, readTimeout: readTimeout, maxConnectionsPerHost: maxConnectionsPerHost)
    }

    /// A client configured as the proxy needs it; the caller shuts it down.
    public static func make(connectTimeout: TimeAmount = .seconds(2), readTimeout: TimeAmount = .seconds(120), maxConnectionsPerHost: Int = 1024) -> HTTPClient {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: connectTimeout, read: readTimeout),
            decompression: .disabled
        )
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: maxConnectionsPerHost)
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.httpVersion = .http1Only
        // No tracer is bootstrapped; without this the client opens a no-op span and sets its attributes per request.
        configuration.tracing.tracer = nil
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}
