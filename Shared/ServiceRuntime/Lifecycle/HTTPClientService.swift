import AsyncHTTPClient
import Foundation
import NIOCore
import ServiceLifecycle

/// The process's one HTTP client, as a service: it lives until graceful shutdown, then shuts down after
/// the server has drained. Redirects and decompression are off; reads time out between chunks.
public struct HTTPClientService: Service {
    public let client: HTTPClient

    public init(
        connectTimeout: TimeAmount = .seconds(2), readTimeout: TimeAmount = .seconds(120),
        maxConnectionsPerHost: Int = 512
    ) {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: connectTimeout, read: readTimeout),
            decompression: .disabled
        )
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: maxConnectionsPerHost)
        configuration.httpVersion = .http1Only
        // No tracer is bootstrapped; without this the client opens a no-op span and sets its attributes per request.
        configuration.tracing.tracer = nil
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}
