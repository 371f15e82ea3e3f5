import Contracts
import CoreMetrics
import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import ProxyCore
import ServiceRuntime

/// Sits in each client connection's pipeline between HTTP decoding and Hummingbird. `POST` to the three forwarded
/// OpenAI endpoints is served here, on the connection's event loop, with no task and no router in the way; everything
/// else passes on to Hummingbird untouched. Requests on one connection are answered in order, even when a client
/// pipelines them: while one is in flight (either way), the parts of the next wait here.
final class ForwardingHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    enum State {
        case idle
        /// A request handed to Hummingbird; `requestEnded` once its last part went on.
        case passing(requestEnded: Bool)
        case forwarding(ForwardedExchange)
    }

    let forwarder: Forwarder
    private var state: State = .idle
    private var pending = CircularBuffer<HTTPRequestPart>()
    private var draining = false
    private var quiesceHeld = false
    private(set) var context: ChannelHandlerContext?
    private(set) var pool: UpstreamConnectionPool?

    /// Parts held while a request is in flight; beyond this a pipelining client is cut off.
    static let pendingLimit = 4096

    init(forwarder: Forwarder) {
        self.forwarder = forwarder
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.pool = forwarder.pools.pool(for: context.eventLoop)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if !pending.isEmpty || draining {
            hold(part, context: context)
            return
        }
        handle(part, context: context)
    }

    private func hold(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        pending.append(part)
        if pending.count > Self.pendingLimit { context.close(promise: nil) }
    }

    private func handle(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch state {
        case .idle:
            if case .head(let head) = part, let endpoint = forwarder.endpoint(for: head) {
                state = .forwarding(
                    ForwardedExchange(handler: self, head: head, endpoint: endpoint, loop: context.eventLoop))
                // A client that waits for leave to send its body (curl does for bodies over 1 kB) gets it at once.
                if head.headerFields[.expect]?.lowercased() == "100-continue" {
                    context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
                }
                return
            }
            if case .head = part { state = .passing(requestEnded: false) }
            context.fireChannelRead(wrapInboundOut(part))
        case .passing(let requestEnded):
            if requestEnded {
                hold(part, context: context)
                return
            }
            if case .end = part { state = .passing(requestEnded: true) }
            context.fireChannelRead(wrapInboundOut(part))
        case .forwarding(let exchange):
            if exchange.requestComplete {
                hold(part, context: context)
            } else {
                exchange.receive(part)
            }
        }
    }

    /// Hummingbird's answers pass through; the end of one frees the connection for the next request.
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(data, promise: promise)
        if case .end = unwrapOutboundIn(data), case .passing = state {
            state = .idle
            drain(context: context)
        }
    }

    /// The exchange wrote its last part (or gave up).
    func exchangeFinished(_ exchange: ForwardedExchange, close: Bool) {
        guard let context, case .forwarding(let current) = state, current === exchange else { return }
        state = .idle
        if close {
            context.close(promise: nil)
            return
        }
        drain(context: context)
    }

    /// Replays held parts now that nothing is in flight.
    private func drain(context: ChannelHandlerContext) {
        guard !draining else { return }
        draining = true
        var replayed = false
        defer {
            draining = false
            // Hummingbird's side hands reads on at the end of a read burst; replayed parts form one.
            if replayed { context.fireChannelReadComplete() }
        }
        while let part = pending.first {
            switch state {
            case .idle: break
            case .passing(let ended) where !ended: break
            case .forwarding(let exchange) where !exchange.requestComplete: break
            default:
                return
            }
            pending.removeFirst()
            replayed = true
            handle(part, context: context)
        }
        if quiesceHeld, case .idle = state {
            quiesceHeld = false
            context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if case .forwarding(let exchange) = state { exchange.clientWritabilityChanged(context.channel.isWritable) }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .forwarding(let exchange) = state {
            state = .idle
            exchange.clientGone()
        }
        pending.removeAll()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A server shutting down closes idle connections; one with an exchange in flight is not idle yet.
        if event is ChannelShouldQuiesceEvent, case .forwarding = state {
            quiesceHeld = true
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if case .forwarding(let exchange) = state {
            state = .idle
            exchange.clientGone()
        }
        context.fireErrorCaught(error)
    }

    // Writing for the exchange.

    func writeHead(_ response: HTTPResponse) {
        context?.write(wrapOutboundOut(.head(response)), promise: nil)
    }

    func writeBody(_ buffer: ByteBuffer, flush: Bool) {
        guard let context else { return }
        if flush {
            context.writeAndFlush(wrapOutboundOut(.body(buffer)), promise: nil)
        } else {
            context.write(wrapOutboundOut(.body(buffer)), promise: nil)
        }
    }

    func flush() {
        context?.flush()
    }

    func writeEnd() {
        context?.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
