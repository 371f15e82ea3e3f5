import NIOCore
import NIOHTTP1
import NIOSSL
import NIOTLS
import ProxyCore

/// Why an upstream exchange ended before its last byte.
enum UpstreamConnectionError: Error {
    /// No connection could be opened.
    case connectFailed(any Error)
    /// The TLS handshake failed: the certificate was not trusted or does not name the host, or no common protocol.
    case tlsRefused(reason: String)
    /// The connection closed, or broke, before the answer ended; `answered` when its head had arrived.
    case closed(answered: Bool)
    /// No head before the head deadline, or silence longer than the read timeout between two chunks.
    case timedOut

    /// What the failure says about the account.
    var outcome: UpstreamAttemptOutcome {
        switch self {
        case .timedOut: return .timeout
        case .connectFailed, .tlsRefused, .closed: return .connectFailure
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

/// One keep-alive HTTP/1.1 connection to an upstream, plain or over TLS, serving one exchange at a time. It lives on
/// one event loop and is only touched there.
final class UpstreamConnection: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let target: Int
    private weak var pool: UpstreamConnectionPool?
    private var context: ChannelHandlerContext?
    private var delegate: (any UpstreamResponseDelegate)?
    /// Whether the connection can carry a request: at once for plain http, after the handshake for TLS.
    private var open: Bool
    /// Why the TLS handshake failed, once it has.
    private var handshakeFailure: UpstreamConnectionError?
    /// The first error seen during the handshake: it names the reason when the channel closes.
    private var handshakeError: (any Error)?
    /// Who waits for the handshake.
    private var opening: ((Result<UpstreamConnection, UpstreamConnectionError>) -> Void)?
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

    /// A connection of a new channel; `tls` when a TLS handler sits before it in the pipeline.
    init(target: Int, tls: Bool, pool: UpstreamConnectionPool) {
        self.target = target
        self.open = !tls
        self.pool = pool
    }

    var isActive: Bool { context?.channel.isActive ?? false }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: Opening

    /// Calls `opened` once the connection can carry a request: at once for plain http, after the TLS handshake
    /// (within `timeout`) otherwise.
    func whenOpen(
        timeout: TimeAmount, _ opened: @escaping (Result<UpstreamConnection, UpstreamConnectionError>) -> Void
    ) {
        if open {
            opened(.success(self))
        } else if let handshakeFailure {
            opened(.failure(handshakeFailure))
        } else if !isActive {
            opened(.failure(.tlsRefused(reason: "the upstream closed the connection during the TLS handshake")))
        } else {
            opening = opened
            extend(to: .now() + timeout)
        }
    }

    private func finishOpening(_ result: Result<UpstreamConnection, UpstreamConnectionError>) {
        guard let opened = opening else { return }
        opening = nil
        if case .success = result { cancelTimer() }
        opened(result)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            open = true
            finishOpening(.success(self))
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: Exchanges

    /// Sends one request; the answer goes to `delegate`. `headDeadline` bounds the wait for the answer's head,
    /// `readTimeout` each silence after it.
    func send(
        head: HTTPRequestHead, body: ByteBuffer, delegate: any UpstreamResponseDelegate, headDeadline: NIODeadline,
        readTimeout: TimeAmount
    ) {
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
            // Closed after a while unused, as a keep-alive pool should, so an idle proxy holds no descriptors.
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
        if !open {
            let reason =
                handshakeError.map(UpstreamTLS.reason) ?? "the upstream closed the connection during the TLS handshake"
            handshakeFailure = .tlsRefused(reason: reason)
            finishOpening(.failure(.tlsRefused(reason: reason)))
        }
        if let delegate {
            self.delegate = nil
            delegate.upstreamFailed(.closed(answered: answered))
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !open, handshakeError == nil { handshakeError = error }
        reusable = false
        context.close(promise: nil)
    }

    // MARK: Timeouts

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
            if self.opening != nil {
                // No TLS handshake within the connect timeout.
                self.finishOpening(.failure(.connectFailed(ChannelError.connectTimeout(.zero))))
            } else if let delegate = self.delegate {
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
