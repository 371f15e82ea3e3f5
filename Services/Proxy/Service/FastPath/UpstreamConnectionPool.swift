import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import ProxyCore

/// Where an account's calls go, parsed once from its `api_base`. Only plain `http://` bases qualify for the
/// fast path; `https://` accounts go through AsyncHTTPClient.
struct UpstreamTarget: Hashable, Sendable {
    let host: String
    let port: Int
    /// The base's path, without a trailing slash (`/v1`); the endpoint's path is appended.
    let pathPrefix: String
    /// The `Host` header value.
    let authority: String

    init?(apiBase: String) {
        guard let components = URLComponents(string: apiBase), components.scheme?.lowercased() == "http",
            let host = components.host, !host.isEmpty, components.user == nil, components.query == nil
        else { return nil }
        let port = components.port ?? 80
        guard (1...65535).contains(port) else { return nil }
        self.host = host
        self.port = port
        var path = components.percentEncodedPath
        while path.hasSuffix("/") { path.removeLast() }
        self.pathPrefix = path
        self.authority = components.port == nil ? host : "\(host):\(port)"
    }
}

/// Why an upstream exchange ended before its last byte.
enum UpstreamConnectionError: Error {
    /// No connection could be opened.
    case connectFailed(any Error)
    /// The connection closed, or broke, before the answer ended; `answered` when its head had arrived.
    case closed(answered: Bool)
    /// No head before the head deadline, or silence longer than the read timeout between two chunks.
    case timedOut

    /// What the failure says about the account.
    var outcome: CallOutcome {
        switch self {
        case .timedOut: return .timeout
        case .connectFailed, .closed: return .connectFailure
        }
    }
}

/// What an upstream connection tells the exchange it is serving, on the connection's event loop.
protocol UpstreamResponseDelegate: AnyObject {
    func upstreamHead(_ head: HTTPResponseHead)
    func upstreamBody(_ buffer: ByteBuffer)
    func upstreamEnd()
    /// The end of one read from the upstream's socket: what it carried can go on to the client in one write.
    func upstreamReadComplete()
    func upstreamFailed(_ error: UpstreamConnectionError)
}

/// One keep-alive HTTP/1.1 connection to an upstream, serving one exchange at a time. It lives on one event loop
/// and is only touched there.
final class UpstreamConnection: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let target: Int
    private weak var pool: UpstreamConnectionPool?
    private var context: ChannelHandlerContext?
    private var delegate: (any UpstreamResponseDelegate)?
    private var timer: Scheduled<Void>?
    /// When the current exchange times out; a chunk only moves this, the timer re-arms itself when it fires early.
    private var deadline = NIODeadline.distantFuture
    /// When the pending timer fires.
    private var timerFiresAt = NIODeadline.distantFuture
    private var readTimeout: TimeAmount = .seconds(120)
    private var answered = false
    /// False while the client's socket is full and reading is paused.
    private var reading = true
    /// Whether the connection may serve another exchange after this one.
    private(set) var reusable = true
    /// Whether it has served an exchange before the current one (a closed keep-alive connection is then no
    /// sign of a failing account).
    private(set) var reused = false

    init(target: Int, pool: UpstreamConnectionPool) {
        self.target = target
        self.pool = pool
    }

    var isActive: Bool { context?.channel.isActive ?? false }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Sends one request; the answer goes to `delegate`. `headDeadline` bounds the wait for the answer's head,
    /// `readTimeout` each silence after it.
    func send(head: HTTPRequestHead, body: ByteBuffer, delegate: any UpstreamResponseDelegate, headDeadline: NIODeadline, readTimeout: TimeAmount) {
        guard let context, context.channel.isActive else {
            delegate.upstreamFailed(.closed(answered: false))
            return
        }
        self.delegate = delegate
        self.answered = false
        self.readTimeout = readTimeout
        extend(to: headDeadline)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    /// Pauses or resumes reading the answer (the client's socket is full, or has room again).
    func setReading(_ reading: Bool) {
        guard let channel = context?.channel, reading != self.reading else { return }
        self.reading = reading
        try? channel.syncOptions?.setOption(ChannelOptions.autoRead, value: reading)
        if reading { channel.read() }
    }

    /// Drops the exchange (its client left): the connection closes, since its answer is unread.
    func abandon() {
        delegate = nil
        reusable = false
        cancelTimer()
        context?.close(promise: nil)
    }

    /// Back to the pool after the answer's end (or closed, when it cannot serve again).
    func release() {
        reused = true
        setReading(true)
        if reusable, isActive, let pool, pool.checkIn(self) {
            // Closed after a while unused, as AsyncHTTPClient's pool does, so an idle proxy holds no descriptors.
            extend(to: .now() + pool.idleTimeout)
        } else {
            context?.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch part {
        case .head(let head):
            answered = true
            if !head.isKeepAlive { reusable = false }
            extend(to: .now() + readTimeout)
            delegate?.upstreamHead(head)
        case .body(let buffer):
            extend(to: .now() + readTimeout)
            delegate?.upstreamBody(buffer)
        case .end:
            // The timer stays: `release` gives it the idle deadline, and the next exchange its own.
            deadline = .distantFuture
            let delegate = self.delegate
            self.delegate = nil
            delegate?.upstreamEnd()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        delegate?.upstreamReadComplete()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        reusable = false
        cancelTimer()
        if let delegate {
            self.delegate = nil
            delegate.upstreamFailed(.closed(answered: answered))
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        reusable = false
        context.close(promise: nil)
    }

    /// Moves the deadline. Cheap per chunk: the timer is only replaced when the deadline comes earlier than it fires.
    private func extend(to deadline: NIODeadline) {
        self.deadline = deadline
        if timer != nil && timerFiresAt <= deadline { return }
        timer?.cancel()
        schedule(at: deadline)
    }

    private func schedule(at when: NIODeadline) {
        guard let context else { return }
        timerFiresAt = when
        timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: when) { [weak self] in
            guard let self else { return }
            self.timer = nil
            if self.deadline == .distantFuture { return }
            if NIODeadline.now() < self.deadline {
                self.schedule(at: self.deadline)
                return
            }
            self.reusable = false
            if let delegate = self.delegate {
                // No head before the head deadline, or silence past the read timeout.
                self.delegate = nil
                delegate.upstreamFailed(.timedOut)
            } else {
                // Unused for the idle timeout.
                self.pool?.remove(self)
            }
            self.context?.close(promise: nil)
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
        deadline = .distantFuture
    }
}

/// The upstream connections of one event loop, per target: idle keep-alive connections are reused, new ones
/// are opened on demand on the same loop, so a request read on loop L is sent, answered and written back on L.
final class UpstreamConnectionPool {
    let loop: any EventLoop
    let targets: [UpstreamTarget]
    let connectTimeout: TimeAmount
    let maxIdlePerTarget: Int
    /// How long a connection may sit unused before it is closed.
    let idleTimeout: TimeAmount
    private var idle: [[UpstreamConnection]]

    init(loop: any EventLoop, targets: [UpstreamTarget], connectTimeout: TimeAmount, maxIdlePerTarget: Int, idleTimeout: TimeAmount = .seconds(60)) {
        self.loop = loop
        self.idleTimeout = idleTimeout
        self.targets = targets
        self.connectTimeout = connectTimeout
        self.maxIdlePerTarget = maxIdlePerTarget
        self.idle = Array(repeating: [], count: targets.count)
    }

    /// An idle connection to `target` when one is open, else a new one.
    func connection(to target: Int, fresh: Bool = false, _ completion: @escaping (Result<UpstreamConnection, any Error>) -> Void) {
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
        let connection = UpstreamConnection(target: target, pool: self)
        // The channel is made on this loop, so the handler never leaves it.
        let handler = UnsafeTransfer(connection)
        ClientBootstrap(group: loop)
            .connectTimeout(connectTimeout)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(handler.wrappedValue)
                }
            }
            .connect(host: address.host, port: address.port)
            .hop(to: loop)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .success: completion(.success(connection))
                case .failure(let error): completion(.failure(UpstreamConnectionError.connectFailed(error)))
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
    private let pools = NIOLockedValueBox<[ObjectIdentifier: UnsafeTransfer<UpstreamConnectionPool>]>([:])

    init(targets: [UpstreamTarget], connectTimeout: TimeAmount, maxIdlePerTarget: Int) {
        self.targets = targets
        self.connectTimeout = connectTimeout
        self.maxIdlePerTarget = maxIdlePerTarget
    }

    /// The pool of `loop`; call on `loop` and use only there.
    func pool(for loop: any EventLoop) -> UpstreamConnectionPool {
        loop.assertInEventLoop()
        return pools.withLockedValue { pools in
            if let pool = pools[ObjectIdentifier(loop)] { return pool.wrappedValue }
            let pool = UpstreamConnectionPool(loop: loop, targets: targets, connectTimeout: connectTimeout, maxIdlePerTarget: maxIdlePerTarget)
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
