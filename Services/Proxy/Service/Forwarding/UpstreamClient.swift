import AsyncHTTPClient
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The proxy's upstream HTTP clients: no redirects, no decompression, a large pool, reads that time out
/// between chunks, and no silent re-dialling of a refused connection, so a dead account fails at once and
/// the request moves to another account instead of spending its whole deadline on one.
///
/// When handlers run on the event loops (`PROXY_EVENT_LOOP_EXECUTOR`), there is one client per loop, whose
/// connections all live on that loop: a request read on loop L is sent upstream on a connection of L, its answer is
/// read on L and written back to the client on L, with no thread hand-off between them. Otherwise one client over
/// the whole group serves every request.
public final class UpstreamClients: Sendable {
    /// The client over the whole group: requests from outside an event loop, and outcome reports.
    public let shared: HTTPClient
    /// Per event loop (by identity), the client whose connections live on it.
    private let byLoop: [ObjectIdentifier: HTTPClient]
    /// Whether `shared` was made here (and is shut down here).
    private let ownsShared: Bool

    /// One `shared` client from the caller (tests), and no per-loop clients.
    public init(shared: HTTPClient) {
        self.shared = shared
        self.byLoop = [:]
        self.ownsShared = false
    }

    init(connectTimeout: TimeAmount, readTimeout: TimeAmount, maxConnectionsPerHost: Int, perLoop: Bool) {
        let group = MultiThreadedEventLoopGroup.singleton
        self.shared = Self.make(group: group, connectTimeout: connectTimeout, readTimeout: readTimeout, maxConnectionsPerHost: maxConnectionsPerHost)
        var byLoop: [ObjectIdentifier: HTTPClient] = [:]
        if perLoop {
            for loop in group.makeIterator() {
                byLoop[ObjectIdentifier(loop)] = Self.make(group: loop, connectTimeout: connectTimeout, readTimeout: readTimeout, maxConnectionsPerHost: maxConnectionsPerHost)
            }
        }
        self.byLoop = byLoop
        self.ownsShared = true
    }

    /// The client for a request handled on the calling thread: its event loop's own, else the shared one.
    public func current() -> HTTPClient {
        guard !byLoop.isEmpty, let loop = MultiThreadedEventLoopGroup.currentEventLoop, let client = byLoop[ObjectIdentifier(loop)] else {
            return shared
        }
        return client
    }

    /// How many per-loop clients there are (0 when every request uses `shared`).
    public var perLoopCount: Int { byLoop.count }

    func shutdown() async throws {
        for client in byLoop.values { try await client.shutdown() }
        if ownsShared { try await shared.shutdown() }
    }

    /// A client configured as the proxy needs it, over `group`; the caller shuts it down.
    public static func make(
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, connectTimeout: TimeAmount = .seconds(2), readTimeout: TimeAmount = .seconds(120),
        maxConnectionsPerHost: Int = 1024
    ) -> HTTPClient {
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
        return HTTPClient(eventLoopGroupProvider: .shared(group), configuration: configuration)
    }
}

/// Shuts the upstream clients down when the service stops.
public struct UpstreamClient: Service {
    public let clients: UpstreamClients

    public init(connectTimeout: TimeAmount, readTimeout: TimeAmount, maxConnectionsPerHost: Int, perLoop: Bool) {
        self.clients = UpstreamClients(connectTimeout: connectTimeout, readTimeout: readTimeout, maxConnectionsPerHost: maxConnectionsPerHost, perLoop: perLoop)
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await clients.shutdown()
    }
}
