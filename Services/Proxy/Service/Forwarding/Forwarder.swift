import AsyncHTTPClient
import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import Prometheus
import ProxyCore
import ServiceRuntime

/// The OpenAI endpoints the proxy forwards, as paths below an account's `api_base`.
public enum UpstreamEndpoint: Int, Sendable, CaseIterable {
    case chatCompletions, completions, embeddings

    public var path: String {
        switch self {
        case .chatCompletions: return "/chat/completions"
        case .completions: return "/completions"
        case .embeddings: return "/embeddings"
        }
    }

    /// The proxy's own route for it (the metrics' `route` label).
    public var route: String {
        switch self {
        case .chatCompletions: return "/v1/chat/completions"
        case .completions: return "/v1/completions"
        case .embeddings: return "/v1/embeddings"
        }
    }
}

/// Failures of the upstream call itself, after retries.
enum UpstreamFailure: Error, APIErrorConvertible {
    case unreachable(attempts: Int)
    case timedOut(attempts: Int)

    var apiError: APIError {
        switch self {
        case .unreachable(let attempts):
            return .badGateway("No upstream account could be reached (\(attempts) attempt\(attempts == 1 ? "" : "s")).")
        case .timedOut(let attempts):
            return APIError(status: .gatewayTimeout, message: "The upstream did not answer in time (\(attempts) attempt\(attempts == 1 ? "" : "s")).", type: .timeout, code: "upstream_timeout")
        }
    }
}

/// Forwards one client call: picks an account, sends the body (only `model` rewritten), retries failures
/// that happen before the first byte on other accounts, and streams the answer back chunk by chunk while
/// reading usage on the side. Reports the outcome to the AIMD pool and to the predictor.
public final class Forwarder: Sendable {
    struct Options: Sendable {
        var retry: RetryPolicy
        var defaultDeadline: Double
        var readTimeout: Double
        var defaultOutputTokens: Int
        /// The largest non-streaming answer (by its Content-Length) read whole before it is passed on; larger
        /// ones, and answers without a length, are passed on chunk by chunk like streams.
        var wholeAnswerMaxBytes: Int
    }

    let dispatcher: AccountDispatcher
    let clients: UpstreamClients
    let tokenCounter: any TokenCounting
    let reporter: OutcomeReporter
    let metrics: ProxyMetrics
    let options: Options
    let clock = MonotonicClock()
    /// Per account and endpoint, the full upstream URL.
    let urls: [[String]]
    /// Per account, the `Authorization` value, if it has a key.
    let authorizations: [String?]
    /// Whether some account has a token limit (only then is the prompt counted before sending).
    let needsExactCount: Bool

    init(dispatcher: AccountDispatcher, clients: UpstreamClients, tokenCounter: any TokenCounting, reporter: OutcomeReporter, metrics: ProxyMetrics, options: Options) {
        self.dispatcher = dispatcher
        self.clients = clients
        self.tokenCounter = tokenCounter
        self.reporter = reporter
        self.metrics = metrics
        self.options = options
        self.urls = dispatcher.deployments.map { deployment in UpstreamEndpoint.allCases.map { deployment.apiBase + $0.path } }
        self.authorizations = dispatcher.deployments.map { $0.apiKey.map { "Bearer \($0)" } }
        self.needsExactCount = dispatcher.deployments.contains { $0.tpm != nil }
    }

    /// Added to the output tokens when a whole call's latency is turned into time per token.
    static let lengthOffsetTokens = 16

    static let predictedField = HTTPField.Name(MaitreHeader.predictedOutputTokens)!
    static let deadlineField = HTTPField.Name(MaitreHeader.deadlineMs)!
    static let tenantField = HTTPField.Name(MaitreHeader.tenant)!
    static let taskTypeField = HTTPField.Name(MaitreHeader.taskType)!

    /// The body's summary (400 when it does not parse, 404 for a model no account serves).
    func summarize(_ body: ByteBuffer, maxJSONDepth: Int) throws -> RequestSummary {
        let summary = try JSONBody.decode(RequestSummary.self, from: body, maxDepth: maxJSONDepth, fastPath: RequestSummary.read)
        guard dispatcher.serves(summary.model) else {
            throw DispatchError.unknownModel(summary.model, known: dispatcher.modelNames)
        }
        return summary
    }

    /// The tokens a call reserves: the prompt (counted with cl100k when some account has a token limit, else
    /// estimated from the body's size) and the expected output (`X-Predicted-Output-Tokens`, else `max_tokens`,
    /// else the default; none for embeddings).
    func reservation(_ summary: RequestSummary, headers: HTTPFields, endpoint: UpstreamEndpoint, bodyBytes: Int) -> (promptEstimate: Int, expectedOutput: Int) {
        let expectedOutput = endpoint == .embeddings ? 0 : (headers[Self.predictedField].flatMap { Int($0) } ?? summary.maxTokens ?? options.defaultOutputTokens)
        let promptEstimate = needsExactCount ? tokenCounter.count(summary.promptText) + summary.inputTokenArrays : bodyBytes / 4
        return (promptEstimate, expectedOutput)
    }

    /// What a 429 or 5xx answer says about the account, with its `Retry-After`.
    static func errorOutcome(status: Int, headers: HTTPHeaders) -> CallOutcome {
        let retryAfter = RetryAfter.seconds(retryAfterMs: headers.first(name: "retry-after-ms"), retryAfter: headers.first(name: "retry-after"))
        return status == 429 ? .rateLimited(retryAfter: retryAfter) : .serverError(retryAfter: retryAfter)
    }

    /// Whether a successful answer is read whole before the client gets any of it: not a stream, and a
    /// `Content-Length` within `wholeAnswerMaxBytes`.
    func readsWhole(_ summary: RequestSummary, headers: HTTPHeaders) -> Bool {
        guard !summary.stream, options.wholeAnswerMaxBytes > 0, let length = headers.first(name: "content-length").flatMap({ Int($0) }) else { return false }
        return length <= options.wholeAnswerMaxBytes
    }

    public func forward(_ request: Request, context: ServiceRequestContext, endpoint: UpstreamEndpoint) async throws -> Response {
        let arrived = clock.now()
        let body = try await request.collectBody(context: context)
        let summary = try summarize(body, maxJSONDepth: context.maxJSONDepth)
        let (deadline, explicitDeadline) = Self.deadline(request.headers, arrived: arrived, defaultBudget: options.defaultDeadline)
        let (promptEstimate, expectedOutput) = reservation(summary, headers: request.headers, endpoint: endpoint, bodyBytes: body.readableBytes)
        let upstreamHeaders = HeaderPolicy.upstreamHeaders(from: request.headers)

        var excluded: Set<Int> = []
        var attempts = 0
        var lastFailure: CallOutcome = .connectFailure
        while true {
            if clock.now() >= deadline && attempts > 0 { break }
            let lease = try await dispatcher.acquire(model: summary.model, tokens: promptEstimate + expectedOutput, excluding: excluded, deadline: deadline)
            attempts += 1
            let deployment = dispatcher.deployments[lease.account]
            var upstream = HTTPClientRequest(url: urls[lease.account][endpoint.rawValue])
            upstream.method = .POST
            upstream.headers = upstreamHeaders
            if let authorization = authorizations[lease.account] { upstream.headers.add(name: "Authorization", value: authorization) }
            for header in dispatcher.deployments[lease.account].extraHeaders {
                upstream.headers.replaceOrAdd(name: header.name, value: header.value)
            }
            let upstreamModel = deployment.upstreamModel(for: summary.model)
            if upstreamModel != summary.model, let rewritten = ModelRewriter.rewrite(Array(body.readableBytesView), model: upstreamModel) {
                upstream.body = .bytes(ByteBuffer(bytes: rewritten))
            } else {
                upstream.body = .bytes(body)
            }
            let callStarted = clock.now()
            let headDeadline = explicitDeadline ? deadline : callStarted + options.readTimeout
            let response: HTTPClientResponse
            do {
                response = try await clients.current().execute(upstream, deadline: .uptimeNanoseconds(UInt64(max(0, headDeadline) * 1e9)))
            } catch {
                guard try await failed(error, lease: lease, attempts: attempts, deadline: deadline, lastFailure: &lastFailure) else { break }
                excluded.insert(lease.account)
                continue
            }
            let status = Int(response.status.code)
            if status == 429 || status >= 500 {
                let outcome = Self.errorOutcome(status: status, headers: response.headers)
                let errorBody = (try? await response.body.collect(upTo: 1 << 16)) ?? ByteBuffer()
                dispatcher.release(lease, outcome: outcome)
                if try await backOff(after: outcome, retry: attempts, deadline: deadline, account: lease.account) {
                    excluded.insert(lease.account)
                    continue
                }
                // Out of retries: the client sees the upstream's own answer, Retry-After included.
                let headers = HeaderPolicy.clientHeaders(from: response.headers, account: deployment.name, attempts: attempts)
                return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: errorBody))
            }
            let report = ReportContext(
                tenant: request.headers[Self.tenantField],
                taskType: request.headers[Self.taskTypeField],
                requestID: context.requestID,
                promptEstimate: needsExactCount ? promptEstimate : nil
            )
            // A small non-streaming answer is read whole before the client gets any of it: one write instead of
            // the response writer's hand-off per chunk, and an upstream that fails halfway through is retried
            // like one that fails before answering (nothing has reached the client yet).
            if readsWhole(summary, headers: response.headers), let length = response.headers.first(name: "content-length").flatMap({ Int($0) }) {
                let answer: ByteBuffer
                do {
                    answer = try await response.body.collect(upTo: length)
                } catch {
                    metrics.accounts[lease.account].latency.record(.seconds(clock.now() - callStarted))
                    guard try await failed(error, lease: lease, attempts: attempts, deadline: deadline, lastFailure: &lastFailure) else { break }
                    excluded.insert(lease.account)
                    continue
                }
                let finished = clock.now()
                var scanner = UsageScanner(streaming: false)
                answer.withUnsafeReadableBytes { scanner.feed($0) }
                finish(
                    lease: LeaseGuard(lease: lease, dispatcher: dispatcher), status: status, summary: summary, endpoint: endpoint,
                    facts: scanner.finish(), callStarted: callStarted, firstChunkAt: finished, finished: finished, report: report)
                let headers = HeaderPolicy.clientHeaders(from: response.headers, account: deployment.name, attempts: attempts)
                return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: answer))
            }
            return stream(
                response,
                lease: LeaseGuard(lease: lease, dispatcher: dispatcher),
                summary: summary,
                endpoint: endpoint,
                callStarted: callStarted,
                attempts: attempts,
                report: report
            )
        }
        switch lastFailure {
        case .timeout: throw UpstreamFailure.timedOut(attempts: attempts)
        default: throw UpstreamFailure.unreachable(attempts: attempts)
        }
    }

    /// After a transport failure of the call under `lease`: releases the lease with what the error says about the
    /// account and waits out the backoff; true when another account should be tried.
    private func failed(_ error: any Error, lease: Lease, attempts: Int, deadline: Double, lastFailure: inout CallOutcome) async throws -> Bool {
        let outcome = Self.classify(error)
        dispatcher.release(lease, outcome: outcome)
        if outcome == .cancelled { throw CancellationError() }
        lastFailure = outcome
        return try await backOff(after: outcome, retry: attempts, deadline: deadline, account: lease.account)
    }

    /// Waits out the backoff before a retry; false when no retry should happen.
    private func backOff(after outcome: CallOutcome, retry: Int, deadline: Double, account: Int) async throws -> Bool {
        guard let delay = options.retry.nextDelay(after: outcome, retry: retry, now: clock.now(), deadline: deadline, jitter: Double.random(in: 0...1)) else {
            return false
        }
        metrics.accounts[account].retries.increment()
        try await Task.sleep(nanoseconds: UInt64(delay * 1e9))
        return true
    }

    struct ReportContext: Sendable {
        var tenant: String?
        var taskType: String?
        var requestID: String
        var promptEstimate: Int?
    }

    /// The client's response: upstream status and headers, and a body that passes each chunk on as it arrives.
    private func stream(
        _ response: HTTPClientResponse,
        lease: LeaseGuard,
        summary: RequestSummary,
        endpoint: UpstreamEndpoint,
        callStarted: Double,
        attempts: Int,
        report: ReportContext
    ) -> Response {
        let account = dispatcher.deployments[lease.lease.account]
        let status = Int(response.status.code)
        let headers = HeaderPolicy.clientHeaders(from: response.headers, account: account.name, attempts: attempts)
        let contentLength = summary.stream ? nil : response.headers.first(name: "content-length").flatMap { Int($0) }
        let body = ResponseBody(contentLength: contentLength) { [self] writer in
            var scanner = UsageScanner(streaming: summary.stream)
            var firstChunkAt: Double?
            var clientGone = false
            do {
                for try await chunk in response.body {
                    if firstChunkAt == nil {
                        let now = clock.now()
                        firstChunkAt = now
                        if summary.stream { dispatcher.observeFirstByte(lease.lease, latencyMs: (now - callStarted) * 1000) }
                    }
                    do {
                        try await writer.write(chunk)
                    } catch {
                        clientGone = true
                        throw error
                    }
                    chunk.withUnsafeReadableBytes { scanner.feed($0) }
                }
                try await writer.finish(nil)
            } catch {
                let outcome: CallOutcome = clientGone || Task.isCancelled ? .cancelled : Self.classify(error)
                lease.release(outcome)
                metrics.accounts[lease.lease.account].latency.record(.seconds(clock.now() - callStarted))
                throw error
            }
            let finished = clock.now()
            let facts = scanner.finish()
            finish(lease: lease, status: status, summary: summary, endpoint: endpoint, facts: facts, callStarted: callStarted, firstChunkAt: firstChunkAt, finished: finished, report: report)
        }
        return Response(status: .init(code: status), headers: headers, body: body)
    }

    /// Accounting after the last byte: AIMD and rate-window reconciliation, metrics, the outcome report.
    func finish(
        lease: LeaseGuard,
        status: Int,
        summary: RequestSummary,
        endpoint: UpstreamEndpoint,
        facts: ResponseFacts,
        callStarted: Double,
        firstChunkAt: Double?,
        finished: Double,
        report: ReportContext
    ) {
        let accountMetrics = metrics.accounts[lease.lease.account]
        accountMetrics.latency.record(.seconds(finished - callStarted))
        guard (200..<300).contains(status) else {
            lease.release(.clientError)
            return
        }
        let ttft = firstChunkAt.map { $0 - callStarted }
        if summary.stream, let ttft { accountMetrics.timeToFirstToken.record(.seconds(ttft)) }
        let isChat = endpoint != .embeddings
        let outputTokens = facts.completionTokens ?? (isChat ? tokenCounter.count(facts.streamedText) : 0)
        let promptTokens = facts.promptTokens ?? report.promptEstimate
        let total = facts.totalTokens ?? promptTokens.map { $0 + outputTokens }
        // The congestion signal: time to first byte for streams, time per output token otherwise (see LatencyKind).
        let signalMs: Double?
        let elapsedMs: Double
        if summary.stream, let ttft {
            // The window took this sample when the first byte arrived.
            elapsedMs = ttft * 1000
            signalMs = nil
        } else {
            elapsedMs = (finished - callStarted) * 1000
            signalMs = elapsedMs / Double(outputTokens + Self.lengthOffsetTokens)
        }
        lease.release(.success(latencyMs: signalMs, kind: summary.stream ? .firstByte : .complete, totalTokens: total, elapsedMs: elapsedMs))
        guard isChat, reporter.isEnabled else { return }
        reporter.submit(OutcomeReport(
            prompt: summary.messages == nil ? summary.prompt : nil,
            messages: summary.messages,
            outputTokens: outputTokens,
            promptTokens: promptTokens ?? tokenCounter.count(summary.promptText),
            maxTokens: summary.maxTokens,
            model: summary.model,
            taskType: report.taskType,
            tenantId: report.tenant,
            success: true,
            latencyMs: (finished - callStarted) * 1000,
            ttftMs: summary.stream ? ttft.map { $0 * 1000 } : nil,
            finishReason: facts.finishReason,
            requestId: report.requestID
        ))
    }

    /// Deadline in monotonic seconds from `X-Deadline-Ms` (a budget in ms, or Unix ms when that large),
    /// else the default budget; and whether the client set it. Budgets are capped at `maxBudgetMs`, so a huge
    /// header value cannot overflow the nanosecond deadline handed to the HTTP client.
    static func deadline(_ headers: HTTPFields, arrived: Double, defaultBudget: Double) -> (Double, Bool) {
        guard let text = headers[deadlineField], let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite else {
            return (arrived + defaultBudget, false)
        }
        let budgetMs = value > 1e12 ? value - Date().timeIntervalSince1970 * 1000 : value
        return (arrived + min(max(0, budgetMs), maxBudgetMs) / 1000, true)
    }

    /// The longest budget `X-Deadline-Ms` can give: one day.
    static let maxBudgetMs = 86_400_000.0

    /// What a transport error says about the account.
    static func classify(_ error: any Error) -> CallOutcome {
        if error is CancellationError { return .cancelled }
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout: return .timeout
            case .cancelled: return .cancelled
            default: return .connectFailure
            }
        }
        return .connectFailure
    }
}
