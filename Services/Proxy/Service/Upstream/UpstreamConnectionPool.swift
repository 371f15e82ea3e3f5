import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The upstream connections of one event loop, per upstream (accounts with the same `api_base` share theirs): idle
/// keep-alive connections are reused, new ones are opened on demand on the same loop, so a request read on loop L is
/// sent, answered and written back on L, TLS included.
final class UpstreamConnectionPool {
    let loop: any EventLoop
    let targets: [UpstreamTarget]
    let connectTimeout: TimeAmount
    let maxIdlePerTarget: Int
    /// The TLS client context of https targets (nil when every target is plain http).
    let tlsContext: NIOSSLContext?
    /// How long a connection may sit unused before it is closed.
    let idleTimeout: TimeAmount
    private var idle: [[UpstreamConnection]]

    init(
        loop: any EventLoop, targets: [UpstreamTarget], tlsContext: NIOSSLContext?, connectTimeout: TimeAmount,
        maxIdlePerTarget: Int,
        idleTimeout: TimeAmount = .seconds(60)
    ) {
        self.loop = loop
        self.tlsContext = tlsContext
        self.idleTimeout = idleTimeout
        self.targets = targets
        self.connectTimeout = connectTimeout
        self.maxIdlePerTarget = maxIdlePerTarget
        self.idle = Array(repeating: [], count: targets.count)
    }

    /// An idle connection to `target` when one is open, else a new one (for https, once its handshake is done).
    func connection(
        to target: Int, fresh: Bool = false,
        _ completion: @escaping (Result<UpstreamConnection, UpstreamConnectionError>) -> Void
    ) {
        loop.assertInEventLoop()
        if !fresh {
            while let connection = idle[target].popLast() {
                if connection.isActive {
                    completion(.success(connection))
                    return
                }
            }
        }
        let address = targets[target]
        let connectTimeout = self.connectTimeout
        let tlsContext = address.tls ? self.tlsContext : nil
        // Each channel the bootstrap tries (one per address of the host) gets its own handlers, made on this loop,
        // which they never leave; the one that connects is asked for its connection.
        let pool = UnsafeTransfer(self)
        ClientBootstrap(group: loop)
            .connectTimeout(connectTimeout)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tlsContext {
                        let tls = try NIOSSLClientHandler(context: tlsContext, serverHostname: address.serverName)
                        try channel.pipeline.syncOperations.addHandler(tls)
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    let connection = UpstreamConnection(target: target, tls: tlsContext != nil, pool: pool.wrappedValue)
                    try channel.pipeline.syncOperations.addHandler(connection)
                }
            }
            .connect(host: address.host, port: address.port)
            .hop(to: loop)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    guard let connection = try? channel.pipeline.syncOperations.handler(type: UpstreamConnection.self)
                    else {
                        channel.close(promise: nil)
                        completion(.failure(.closed(answered: false)))
                        return
                    }
                    connection.whenOpen(timeout: connectTimeout, completion)
                case .failure(let error):
                    completion(.failure(.connectFailed(error)))
                }
            }
    }

    /// Keeps an answered connection for the next call; false when the pool is full (the caller closes it).
    func checkIn(_ connection: UpstreamConnection) -> Bool {
        if idle[connection.target].count >= maxIdlePerTarget {
            // Connections the upstream closed while idle are dropped here, when popped, and at their idle timeout.
            idle[connection.target].removeAll { !$0.isActive }
        }
        guard idle[connection.target].count < maxIdlePerTarget else { return false }
        idle[connection.target].append(connection)
        return true
    }

    /// Forgets an idle connection (its idle timeout passed).
    func remove(_ connection: UpstreamConnection) {
        idle[connection.target].removeAll { $0 === connection }
    }
}

/// One `UpstreamConnectionPool` per event loop, made on first use on that loop.
final class UpstreamPools: Sendable {
    let targets: [UpstreamTarget]
    let connectTimeout: TimeAmount
    let maxIdlePerTarget: Int
    let tlsContext: NIOSSLContext?
    private let pools = NIOLockedValueBox<[ObjectIdentifier: UnsafeTransfer<UpstreamConnectionPool>]>([:])

    init(targets: [UpstreamTarget], tlsContext: NIOSSLContext?, connectTimeout: TimeAmount, maxIdlePerTarget: Int) {
        self.targets = targets
        self.tlsContext = tlsContext
        self.connectTimeout = connectTimeout
        self.maxIdlePerTarget = maxIdlePerTarget
    }

    /// The pool of `loop`; call on `loop` and use only there.
    func pool(for loop: any EventLoop) -> UpstreamConnectionPool {
        loop.assertInEventLoop()
        return pools.withLockedValue { pools in
            if let pool = pools[ObjectIdentifier(loop)] { return pool.wrappedValue }
            let pool = UpstreamConnectionPool(
                loop: loop, targets: targets, tlsContext: tlsContext, connectTimeout: connectTimeout,
                maxIdlePerTarget: maxIdlePerTarget)
            pools[ObjectIdentifier(loop)] = UnsafeTransfer(pool)
            return pool
        }
    }
}

/// Carries a loop-bound value across a `Sendable` boundary; only its own loop ever touches it.
struct UnsafeTransfer<Value>: @unchecked Sendable {
    let wrappedValue: Value
    init(_ wrappedValue: Value) { self.wrappedValue = wrappedValue }
}
