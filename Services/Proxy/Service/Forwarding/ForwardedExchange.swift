import Contracts
import CoreMetrics
import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import Prometheus
import ProxyCore
import ServiceRuntime

/// One forwarded call, from the client's request head to the last byte of the answer, run as callbacks on the client
/// connection's event loop: auth and limits, account choice and the wait queue, attempts within the deadline on other
/// accounts with back-off, the model rewrite, whole answers and streams without buffering, usage and accounting, over
/// the loop's own keep-alive upstream connections (plain or TLS).
final class ForwardedExchange: UpstreamResponseDelegate {
    private enum Phase {
        /// Reading the client's request.
        case request
        /// Waiting for a slot, a connection, a backoff or the upstream's head.
        case calling
        /// An error answer (429/5xx) being read before deciding whether to retry.
        case upstreamError(status: Int, head: HTTPResponseHead)
        /// A small non-streaming answer being read whole.
        case whole(head: HTTPResponseHead)
        /// The answer passing to the client chunk by chunk.
        case streaming
        case done
    }

    private let handler: ForwardingHandler
    private let forwarder: Forwarder
    private let head: HTTPRequest
    private let endpoint: UpstreamEndpoint
    private let started = ContinuousClock.now
    private let arrived: Double
    private var phase = Phase.request
    private var body = ByteBuffer()
    private var tooLarge = false
    private let requestID: String
    private let closeAfter: Bool
    private let loop: any EventLoop

    // The call, once the request is read.
    private var summary = RequestSummary(model: "")
    private var deadline = 0.0
    private var explicitDeadline = false
    /// The scheduler holds the provider at its slots (`X-Maitre-Paced: queueing`): a late first byte is its line.
    private var paced = false
    private var tokens = 0
    private var promptEstimate = 0
    private var upstreamHeaders = HTTPHeaders()
    private var excluded: Set<Int> = []
    private var attempts = 0
    /// Why the latest attempt failed before its answer, for the client's error when no attempt is left.
    private var lastFailure: UpstreamConnectionError = .closed(answered: false)
    private var lease: LeaseGuard?
    /// The call's reservation against its tenant's budget, if the tenant has one.
    private var budgetHold: BudgetHold?
    private var budgetOutput = 0
    /// The account of the latest attempt.
    private var currentAccount: Int?
    private var connection: UpstreamConnection?
    private var freshRetryUsed = false
    private var callStarted = 0.0
    private var collected = ByteBuffer()
    private var scanner = UsageScanner(streaming: false)
    private var firstChunkAt: Double?
    /// Whether stream bytes were written to the client since the last flush.
    private var unflushed = false
    private var status = 0
    private var waiting: Task<Void, Never>?
    private var backoff: Scheduled<Void>?

    static let errorBodyLimit = 1 << 16

    init(handler: ForwardingHandler, head: HTTPRequest, endpoint: UpstreamEndpoint, loop: any EventLoop) {
        self.handler = handler
        self.loop = loop
        self.forwarder = handler.forwarder
        self.head = head
        self.endpoint = endpoint
        self.arrived = MonotonicClock().now()
        self.requestID = RequestID.resolve(head.headerFields[RequestID.field])
        self.closeAfter = head.headerFields[.connection]?.lowercased() == "close"
    }

    private var isDone: Bool {
        if case .done = phase { return true }
        return false
    }

    /// Whether the client's request has been read to its end.
    var requestComplete: Bool {
        if case .request = phase { return false }
        return true
    }

    // MARK: The client's request

    func receive(_ part: HTTPRequestPart) {
        switch part {
        case .head:
            break
        case .body(var buffer):
            guard !tooLarge else { return }
            if body.readableBytes + buffer.readableBytes > forwarder.maxBodyBytes {
                tooLarge = true
                body = ByteBuffer()
                return
            }
            if body.readableBytes == 0 && body.capacity == 0 {
                body = buffer
            } else {
                body.writeBuffer(&buffer)
            }
        case .end:
            start()
        }
    }

    private func start() {
        phase = .calling
        do {
            try prepare()
        } catch {
            fail(error)
            return
        }
        let tenant = head.headerFields[Forwarder.tenantField]
        guard let budgets = forwarder.budgets, budgets.budget(for: tenant) != nil, let tenant else {
            attempt()
            return
        }
        reserveBudget(budgets, tenant: tenant)
    }

    /// Reserves the call against its tenant's budget, then makes the first attempt (or answers 429 when it does not
    /// fit).
    private func reserveBudget(_ budgets: TenantBudgets, tenant: String) {
        let (model, prompt, output) = (
            summary.model, Forwarder.budgetPrompt(summary, counted: promptEstimate), budgetOutput
        )
        awaitOffLoop(
            { try await budgets.reserve(tenant: tenant, model: model, promptTokens: prompt, outputTokens: output) },
            abandoned: { $0?.release() },
            then: { exchange, hold in
                exchange.budgetHold = hold
                exchange.attempt()
            })
    }

    /// Runs `work` off the event loop (the exchange's `waiting` task, cancelled when the client leaves), then comes back
    /// to the loop with its value (`then`) or its error (answered to the client). A value that arrives after the
    /// exchange ended goes to `abandoned`, to give back what it holds.
    private func awaitOffLoop<Value: Sendable>(
        _ work: @escaping @Sendable () async throws -> Value, abandoned: @escaping @Sendable (Value) -> Void,
        then: @escaping (ForwardedExchange, Value) -> Void
    ) {
        let loop = self.loop
        let exchange = UnsafeTransfer(self)
        let next = UnsafeTransfer(then)
        waiting = Task {
            let result: Result<Value, any Error>
            do {
                result = .success(try await work())
            } catch {
                result = .failure(error)
            }
            loop.execute {
                let exchange = exchange.wrappedValue
                exchange.waiting = nil
                switch result {
                case .success(let value):
                    guard !exchange.isDone else {
                        abandoned(value)
                        return
                    }
                    next.wrappedValue(exchange, value)
                case .failure(let error):
                    guard !exchange.isDone else { return }
                    exchange.fail(error)
                }
            }
        }
    }

    /// Auth, limits and the body's summary; throws what the client should hear.
    private func prepare() throws {
        try forwarder.auth.authorize(head.headerFields)
        if tooLarge { throw APIError.payloadTooLarge(limit: forwarder.maxBodyBytes) }
        summary = try forwarder.summarize(body, maxJSONDepth: forwarder.maxJSONDepth)
        (deadline, explicitDeadline) = Forwarder.deadline(
            head.headerFields, arrived: arrived, defaultBudget: forwarder.options.defaultDeadline)
        let expectedOutput: Int
        (promptEstimate, expectedOutput) = forwarder.reservation(
            summary, headers: head.headerFields, endpoint: endpoint, bodyBytes: body.readableBytes)
        tokens = promptEstimate + expectedOutput
        budgetOutput = forwarder.budgetOutput(summary, headers: head.headerFields, endpoint: endpoint)
        upstreamHeaders = HeaderPolicy.upstreamHeaders(from: head.headerFields)
        paced = head.headerFields[Forwarder.pacedField]?.lowercased() == "queueing"
    }

    // MARK: Attempts

    private func attempt() {
        guard !isDone else { return }
        let now = forwarder.clock.now()
        if now >= deadline && attempts > 0 {
            giveUp()
            return
        }
        if let lease = forwarder.dispatcher.tryAcquire(model: summary.model, tokens: tokens, excluding: excluded) {
            send(lease)
            return
        }
        // Every window is full: wait in the dispatcher's queue, then come back to this loop.
        let dispatcher = forwarder.dispatcher
        let (model, tokens, excluded, deadline) = (summary.model, self.tokens, self.excluded, self.deadline)
        awaitOffLoop(
            { try await dispatcher.acquire(model: model, tokens: tokens, excluding: excluded, deadline: deadline) },
            abandoned: { dispatcher.release($0, outcome: .cancelled) },
            then: { exchange, lease in exchange.send(lease) })
    }

    private func send(_ lease: Lease, freshConnection: Bool = false) {
        if !freshConnection { attempts += 1 }
        let guarded = LeaseGuard(lease: lease, dispatcher: forwarder.dispatcher)
        self.lease = guarded
        guard let pool = handler.pool else {
            guarded.release(.cancelled)
            return
        }
        let account = lease.account
        currentAccount = account
        let target = forwarder.targetOfAccount[account]
        callStarted = forwarder.clock.now()
        pool.connection(to: target, fresh: freshConnection) { [self] result in
            switch result {
            case .success(let connection):
                guard !isDone else {
                    connection.release()
                    guarded.release(.cancelled)
                    return
                }
                self.connection = connection
                let body = upstreamBody(account: account)
                connection.send(
                    head: requestHead(account: account, target: pool.targets[target], length: body.readableBytes),
                    body: body,
                    delegate: self,
                    headDeadline: .uptimeNanoseconds(
                        UInt64(max(0, explicitDeadline ? deadline : callStarted + forwarder.options.readTimeout) * 1e9)),
                    readTimeout: .nanoseconds(Int64(forwarder.options.readTimeout * 1e9))
                )
            case .failure(let error):
                guard !isDone else {
                    guarded.release(.cancelled)
                    return
                }
                transportFailed(error)
            }
        }
    }

    private func requestHead(account: Int, target: UpstreamTarget, length: Int) -> HTTPRequestHead {
        var headers = upstreamHeaders
        headers.add(name: "Host", value: target.authority)
        // A length, not chunked framing: some upstreams and their load balancers refuse chunked request bodies.
        headers.add(name: "Content-Length", value: String(length))
        if let authorization = forwarder.authorizations[account] {
            headers.add(name: "Authorization", value: authorization)
        }
        for header in forwarder.dispatcher.deployments[account].extraHeaders {
            headers.replaceOrAdd(name: header.name, value: header.value)
        }
        return HTTPRequestHead(
            version: .http1_1, method: .POST, uri: target.pathPrefix + endpoint.path, headers: headers)
    }

    private func upstreamBody(account: Int) -> ByteBuffer {
        let upstreamModel = forwarder.dispatcher.deployments[account].upstreamModel(for: summary.model)
        if upstreamModel != summary.model,
            let rewritten = ModelRewriter.rewrite(Array(body.readableBytesView), model: upstreamModel)
        {
            return ByteBuffer(bytes: rewritten)
        }
        return body
    }

    // MARK: The upstream's answer

    func upstreamHead(_ head: HTTPResponseHead) {
        guard !isDone else { return }
        status = Int(head.status.code)
        if status == 429 || status >= 500 {
            collected = ByteBuffer()
            phase = .upstreamError(status: status, head: head)
            return
        }
        if forwarder.readsWhole(summary, headers: head.headers) {
            collected = ByteBuffer()
            phase = .whole(head: head)
            return
        }
        phase = .streaming
        scanner = UsageScanner(streaming: summary.stream)
        var fields = clientFields(head)
        if !summary.stream, let length = head.headers.first(name: "content-length") { fields[.contentLength] = length }
        fields[RequestID.field] = requestID
        handler.writeHead(HTTPResponse(status: .init(code: status), headerFields: fields))
    }

    func upstreamBody(_ buffer: ByteBuffer) {
        switch phase {
        case .upstreamError:
            var buffer = buffer
            if collected.readableBytes + buffer.readableBytes <= Self.errorBodyLimit { appendCollected(&buffer) }
        case .whole:
            var buffer = buffer
            appendCollected(&buffer)
        case .streaming:
            if firstChunkAt == nil {
                let now = forwarder.clock.now()
                firstChunkAt = now
                if summary.stream, let lease {
                    lease.observeFirstByte(latencyMs: (now - callStarted) * 1000, paced: paced)
                }
            }
            // Flushed at the end of the upstream read that carried it (`upstreamReadComplete`): the SSE events of one
            // read leave in one write, none of them later than the read's end.
            handler.writeBody(buffer, flush: false)
            unflushed = true
            buffer.withUnsafeReadableBytes { scanner.feed($0) }
        default:
            break
        }
    }

    func upstreamReadComplete() {
        guard unflushed else { return }
        unflushed = false
        handler.flush()
    }

    private func appendCollected(_ buffer: inout ByteBuffer) {
        if collected.readableBytes == 0 {
            collected = buffer
        } else {
            collected.writeBuffer(&buffer)
        }
    }

    func upstreamEnd() {
        let connection = self.connection
        self.connection = nil
        connection?.release()
        guard let lease, !isDone else { return }
        switch phase {
        case .upstreamError(let status, let head):
            let outcome = Forwarder.errorOutcome(status: status, headers: head.headers)
            lease.release(outcome)
            self.lease = nil
            if retryLater(after: outcome, account: lease.lease.account) { return }
            // Out of retries: the client sees the upstream's own answer, Retry-After included.
            respond(status: status, fields: clientFields(head), body: collected)
        case .whole(let head):
            let finished = forwarder.clock.now()
            var scanner = UsageScanner(streaming: false)
            collected.withUnsafeReadableBytes { scanner.feed($0) }
            let used = forwarder.finish(
                lease: lease, status: status, summary: summary, endpoint: endpoint, facts: scanner.finish(),
                callStarted: callStarted,
                firstChunkAt: finished, finished: finished, report: report())
            settleBudget(used, account: lease.lease.account)
            self.lease = nil
            respond(status: status, fields: clientFields(head), body: collected)
        case .streaming:
            let finished = forwarder.clock.now()
            handler.writeEnd()
            settleStream(lease, finished: finished)
            complete(status: status)
        default:
            break
        }
    }

    func upstreamFailed(_ error: UpstreamConnectionError) {
        let connection = self.connection
        self.connection = nil
        guard let lease, !isDone else { return }
        if case .streaming = phase {
            // Bytes already reached the client: nothing is retried; the client gets what came, then sees the answer cut off.
            handler.flush()
            lease.release(error.outcome)
            budgetHold?.charge()
            self.lease = nil
            recordLatency(account: lease.lease.account)
            phase = .done
            recordMetrics(status: status)
            handler.exchangeFinished(self, close: true)
            return
        }
        // A kept-alive connection the upstream had already closed says nothing about the account: once per
        // request, the same slot tries again on a new connection.
        if case .closed(answered: false) = error, connection?.reused == true, !freshRetryUsed {
            freshRetryUsed = true
            phase = .calling
            self.lease = nil
            // The slot passes to the new attempt's guard.
            lease.disarm()
            send(lease.lease, freshConnection: true)
            return
        }
        if case .whole = phase { recordLatency(account: lease.lease.account) }
        transportFailed(error)
    }

    /// A failure before any byte reached the client: the account hears of it, and another one is tried when
    /// the retry policy and the deadline allow.
    private func transportFailed(_ error: UpstreamConnectionError) {
        guard let lease else { return }
        phase = .calling
        let outcome = error.outcome
        lease.release(outcome)
        self.lease = nil
        lastFailure = error
        if retryLater(after: outcome, account: lease.lease.account) { return }
        giveUp()
    }

    /// Schedules the next attempt on another account after the policy's backoff; false when none should happen.
    private func retryLater(after outcome: UpstreamAttemptOutcome, account: Int) -> Bool {
        let options = forwarder.options
        guard
            let delay = options.retry.nextDelay(
                after: outcome, retry: attempts, now: forwarder.clock.now(), deadline: deadline,
                jitter: Double.random(in: 0...1))
        else { return false }
        forwarder.metrics.accounts[account].retries.increment()
        excluded.insert(account)
        phase = .calling
        backoff = loop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: .nanoseconds(Int64(delay * 1e9))) { [self] in
            backoff = nil
            attempt()
        }
        return true
    }

    private func giveUp() {
        switch lastFailure {
        case .timedOut: fail(UpstreamFailure.timedOut(attempts: attempts))
        case .tlsRefused(let reason): fail(UpstreamFailure.tlsRefused(reason: reason, attempts: attempts))
        case .connectFailed, .closed: fail(UpstreamFailure.unreachable(attempts: attempts))
        }
    }

    private func report() -> Forwarder.ReportContext {
        Forwarder.ReportContext(
            tenant: head.headerFields[Forwarder.tenantField],
            taskType: head.headerFields[Forwarder.taskTypeField],
            requestID: requestID,
            promptEstimate: forwarder.needsExactCount ? promptEstimate : nil
        )
    }

    // MARK: Answering the client

    private func clientFields(_ head: HTTPResponseHead) -> HTTPFields {
        let account = currentAccount.map { forwarder.dispatcher.deployments[$0].name } ?? ""
        return HeaderPolicy.clientHeaders(from: head.headers, account: account, attempts: attempts)
    }

    private func respond(status: Int, fields: HTTPFields, body: ByteBuffer) {
        var fields = fields
        fields[.contentLength] = String(body.readableBytes)
        fields[RequestID.field] = requestID
        handler.writeHead(HTTPResponse(status: .init(code: status), headerFields: fields))
        if body.readableBytes > 0 { handler.writeBody(body, flush: false) }
        handler.writeEnd()
        complete(status: status)
    }

    /// Answers with `error` in OpenAI's envelope.
    private func fail(_ error: any Error) {
        let apiError = APIError(describing: error)
        phase = .calling
        respond(status: Int(apiError.status.code), fields: apiError.responseHeaders, body: apiError.body)
    }

    /// Accounts for a streamed answer that is whole (window, usage, outcome report) and settles its budget.
    private func settleStream(_ lease: LeaseGuard, finished: Double) {
        let used = forwarder.finish(
            lease: lease, status: status, summary: summary, endpoint: endpoint, facts: scanner.finish(),
            callStarted: callStarted, firstChunkAt: firstChunkAt, finished: finished, report: report())
        settleBudget(used, account: lease.lease.account)
        self.lease = nil
    }

    /// Charges the tenant's budget what a successful call used, at the price of the account that answered; an
    /// unsuccessful one gives its reservation back.
    private func settleBudget(_ used: (prompt: Int, output: Int)?, account: Int) {
        guard let budgetHold else { return }
        guard let used else {
            budgetHold.release()
            return
        }
        budgetHold.settle(
            ModelPrice.charge(
                input: used.prompt, output: used.output, price: forwarder.dispatcher.deployments[account].price))
    }

    private func complete(status: Int) {
        // Whatever did not settle the reservation (an error answer) gives it back.
        budgetHold?.release()
        phase = .done
        recordMetrics(status: status)
        handler.exchangeFinished(self, close: closeAfter)
    }

    private func recordMetrics(status: Int) {
        let (counter, timer) = forwarder.instruments.get(
            route: endpoint.route, method: "POST", status: status, factory: forwarder.metricsFactory)
        counter.increment()
        timer.recordElapsed(since: started)
    }

    // MARK: Flow control and the client leaving

    func clientWritabilityChanged(_ writable: Bool) {
        connection?.setReading(writable)
    }

    /// The client closed its connection: whatever is in progress stops, and the slot is returned as cancelled. A
    /// client that leaves once the stream's `[DONE]` has reached it (as clients do on reading it) had its whole
    /// answer: the call counts as completed (window, usage, budget, outcome report), and only the upstream connection,
    /// with the rest of its body unread, is dropped.
    func clientGone() {
        guard !isDone else { return }
        let previous = phase
        phase = .done
        waiting?.cancel()
        waiting = nil
        backoff?.cancel()
        backoff = nil
        if let connection {
            self.connection = nil
            connection.abandon()
        }
        if case .streaming = previous, scanner.sawDone, let lease {
            settleStream(lease, finished: forwarder.clock.now())
            recordMetrics(status: status)
            return
        }
        if let lease {
            self.lease = nil
            lease.release(.cancelled)
            recordLatency(account: lease.lease.account)
        }
        // Gone mid-answer: the upstream produced tokens, so the reservation stands; gone before: it is given back.
        if case .streaming = previous { budgetHold?.charge() } else { budgetHold?.release() }
    }

    /// The account's call latency, for a call that ended without `Forwarder.finish`.
    private func recordLatency(account: Int) {
        forwarder.metrics.accounts[account].latency.record(.seconds(forwarder.clock.now() - callStarted))
    }
}
