import Contracts
import CoreMetrics
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOSSL
import Prometheus
import ProxyCore
import ServiceRuntime
import TextEngine

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
    /// The last account tried refused TLS: its certificate is not trusted or does not name its host.
    case tlsRefused(reason: String, attempts: Int)

    var apiError: APIError {
        switch self {
        case .unreachable(let attempts):
            return .badGateway("No upstream account could be reached (\(Self.count(attempts))).")
        case .timedOut(let attempts):
            return APIError(
                status: .gatewayTimeout, message: "The upstream did not answer in time (\(Self.count(attempts))).",
                type: .timeout, code: "upstream_timeout")
        case .tlsRefused(let reason, let attempts):
            return .badGateway(
                "The upstream's TLS certificate was refused: \(reason) (\(Self.count(attempts))).",
                code: "upstream_tls_error")
        }
    }

    private static func count(_ attempts: Int) -> String { "\(attempts) attempt\(attempts == 1 ? "" : "s")" }
}

/// The proxy's one forwarding engine, shared by every client connection: what a forwarded call needs (accounts and
/// their wait queue, limits, the per-loop upstream pools, token counting, reports, metrics) and the steps that are the
/// same for every call — the body's summary, the token reservation, what an upstream error says, and the accounting
/// after the last byte. Each connection's `ForwardingHandler` runs the calls as `ForwardedExchange`s.
final class Forwarder: Sendable {
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
    /// Tenant budgets, when the deployment file sets some.
    let budgets: TenantBudgets?
    let tokenCounter: any TokenCounter
    let reporter: OutcomeReporter
    let metrics: ProxyMetrics
    let options: Options
    let clock = MonotonicClock()
    let pools: UpstreamPools
    let auth: ClientAuthMiddleware
    let maxBodyBytes: Int
    let maxJSONDepth: Int
    let instruments = RequestInstruments()
    let metricsFactory: any MetricsFactory
    /// Per account, the index of its upstream in `pools.targets`.
    let targetOfAccount: [Int]
    /// Per account, the `Authorization` value, if it has a key.
    let authorizations: [String?]
    /// Whether some account has a token limit or some tenant a budget (only then is the prompt counted before sending).
    let needsExactCount: Bool

    /// Throws a `SettingError` when an account's `api_base` is not a usable http(s) URL or the CA file cannot be read.
    init(
        dispatcher: AccountDispatcher, budgets: TenantBudgets? = nil, tokenCounter: any TokenCounter,
        reporter: OutcomeReporter,
        metrics: ProxyMetrics, options: Options,
        clientKeys: [String], server: ServerSettings, connectTimeoutMs: Int, maxIdlePerUpstream: Int, caFile: String?,
        metricsFactory: any MetricsFactory
    ) throws {
        var targets: [UpstreamTarget] = []
        var targetOfAccount: [Int] = []
        for deployment in dispatcher.deployments {
            guard let target = UpstreamTarget(apiBase: deployment.apiBase) else {
                throw SettingError(
                    key: "proxy-config",
                    message:
                        "account \(deployment.name): api_base \(deployment.apiBase) is not an http:// or https:// URL without user or query"
                )
            }
            if let index = targets.firstIndex(of: target) {
                targetOfAccount.append(index)
            } else {
                targets.append(target)
                targetOfAccount.append(targets.count - 1)
            }
        }
        let tlsContext = targets.contains(where: \.tls) ? try UpstreamTLS.makeContext(caFile: caFile) : nil
        self.dispatcher = dispatcher
        self.budgets = budgets
        self.tokenCounter = tokenCounter
        self.reporter = reporter
        self.metrics = metrics
        self.options = options
        self.pools = UpstreamPools(
            targets: targets, tlsContext: tlsContext, connectTimeout: .milliseconds(Int64(connectTimeoutMs)),
            maxIdlePerTarget: maxIdlePerUpstream)
        self.auth = ClientAuthMiddleware(keys: clientKeys)
        self.maxBodyBytes = server.maxBodyBytes
        self.maxJSONDepth = server.maxJSONDepth
        self.targetOfAccount = targetOfAccount
        self.metricsFactory = metricsFactory
        self.authorizations = dispatcher.deployments.map { $0.apiKey.map { "Bearer \($0)" } }
        self.needsExactCount = dispatcher.deployments.contains { $0.tpm != nil } || budgets != nil
    }

    /// How many accounts call their upstream over TLS.
    var httpsAccounts: Int { targetOfAccount.filter { pools.targets[$0].tls }.count }

    /// The endpoint a request head asks for, when it is one the proxy forwards.
    func endpoint(for head: HTTPRequest) -> UpstreamEndpoint? {
        guard head.method == .post, var path = head.path else { return nil }
        if let query = path.firstIndex(of: "?") { path = String(path[..<query]) }
        return UpstreamEndpoint.allCases.first(where: { $0.route == path })
    }

    func makeHandler() -> ForwardingHandler { ForwardingHandler(forwarder: self) }

    /// Added to the output tokens when a whole call's latency is turned into time per token.
    static let lengthOffsetTokens = 16

    static let predictedField = HTTPField.Name(MaitreHeader.predictedOutputTokens)!
    static let predictedP90Field = HTTPField.Name(MaitreHeader.predictedOutputTokensP90)!
    static let deadlineField = HTTPField.Name(MaitreHeader.deadlineMs)!
    static let pacedField = HTTPField.Name(MaitreHeader.paced)!
    static let tenantField = HTTPField.Name(MaitreHeader.tenant)!
    static let taskTypeField = HTTPField.Name(MaitreHeader.taskType)!

    /// The body's summary (400 when it does not parse, 404 for a model no account serves).
    func summarize(_ body: ByteBuffer, maxJSONDepth: Int) throws -> RequestSummary {
        let summary = try JSONBody.decode(
            RequestSummary.self, from: body, maxDepth: maxJSONDepth, fastPath: RequestSummary.read)
        guard dispatcher.serves(summary.model) else {
            throw DispatchError.unknownModel(summary.model, known: dispatcher.modelNames)
        }
        return summary
    }

    /// The tokens a call reserves: the prompt (counted with cl100k when some account has a token limit, else
    /// estimated from the body's size) and the expected output (`X-Predicted-Output-Tokens`, else `max_tokens`,
    /// else the default; none for embeddings).
    func reservation(_ summary: RequestSummary, headers: HTTPFields, endpoint: UpstreamEndpoint, bodyBytes: Int) -> (
        promptEstimate: Int, expectedOutput: Int
    ) {
        let expectedOutput =
            endpoint == .embeddings
            ? 0 : (headers[Self.predictedField].flatMap { Int($0) } ?? summary.maxTokens ?? options.defaultOutputTokens)
        let promptEstimate =
            needsExactCount
            ? tokenCounter.count(summary.promptText) + summary.inputTokenArrays
            : ApproximateTokenCounter.tokens(utf8Count: bodyBytes)
        return (promptEstimate, expectedOutput)
    }

    /// The prompt tokens a tenant budget reserves: the counted text, plus OpenAI's framing of chat messages (3 per
    /// message and its role, 3 priming the reply), so the reservation covers what the upstream will bill.
    static func budgetPrompt(_ summary: RequestSummary, counted: Int) -> Int {
        guard let messages = summary.messages else { return counted }
        return counted + 3 + 4 * messages.count
    }

    /// The output tokens a tenant budget reserves: the scheduler's p90 prediction (`X-Predicted-Output-Tokens-P90`),
    /// else `max_tokens`, else the p50 prediction, else the default; none for embeddings.
    func budgetOutput(_ summary: RequestSummary, headers: HTTPFields, endpoint: UpstreamEndpoint) -> Int {
        guard endpoint != .embeddings else { return 0 }
        return headers[Self.predictedP90Field].flatMap { Int($0) } ?? summary.maxTokens
            ?? headers[Self.predictedField].flatMap { Int($0) } ?? options.defaultOutputTokens
    }

    /// What a 429 or 5xx answer says about the account, with its `Retry-After`.
    static func errorOutcome(status: Int, headers: HTTPHeaders) -> UpstreamAttemptOutcome {
        let retryAfter = RetryAfter.seconds(
            retryAfterMs: headers.first(name: "retry-after-ms"), retryAfter: headers.first(name: "retry-after"))
        return status == 429 ? .rateLimited(retryAfter: retryAfter) : .serverError(retryAfter: retryAfter)
    }

    /// Whether a successful answer is read whole before the client gets any of it: not a stream, and a
    /// `Content-Length` within `wholeAnswerMaxBytes`.
    func readsWhole(_ summary: RequestSummary, headers: HTTPHeaders) -> Bool {
        guard !summary.stream, options.wholeAnswerMaxBytes > 0,
            let length = headers.first(name: "content-length").flatMap({ Int($0) })
        else { return false }
        return length <= options.wholeAnswerMaxBytes
    }

    struct ReportContext: Sendable {
        var tenant: String?
        var taskType: String?
        var requestID: String
        var promptEstimate: Int?
    }

    /// Accounting after the last byte: AIMD and rate-window reconciliation, metrics, the outcome report. Returns the
    /// tokens a successful call used (prompt and output), for its tenant's budget.
    @discardableResult
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
    ) -> (prompt: Int, output: Int)? {
        let accountMetrics = metrics.accounts[lease.lease.account]
        accountMetrics.latency.record(.seconds(finished - callStarted))
        guard (200..<300).contains(status) else {
            lease.release(.clientError)
            return nil
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
        lease.release(
            .success(
                latencyMs: signalMs, kind: summary.stream ? .firstByte : .complete, totalTokens: total,
                elapsedMs: elapsedMs))
        let used = (prompt: facts.promptTokens ?? report.promptEstimate ?? 0, output: outputTokens)
        guard isChat, reporter.isEnabled else { return used }
        reporter.submit(
            OutcomeReport(
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
        return used
    }

    /// Deadline in monotonic seconds from `X-Deadline-Ms` (a budget in ms, or Unix ms when that large),
    /// else the default budget; and whether the client set it. Budgets are capped at `maxBudgetMs`, so a huge
    /// header value cannot overflow the nanosecond deadline of the upstream connection.
    static func deadline(_ headers: HTTPFields, arrived: Double, defaultBudget: Double) -> (Double, Bool) {
        guard let text = headers[deadlineField], let value = Double(text.trimmingCharacters(in: .whitespaces)),
            value.isFinite
        else {
            return (arrived + defaultBudget, false)
        }
        let budgetMs = value > 1e12 ? value - Date().timeIntervalSince1970 * 1000 : value
        return (arrived + min(max(0, budgetMs), maxBudgetMs) / 1000, true)
    }

    /// The longest budget `X-Deadline-Ms` can give: one day.
    static let maxBudgetMs = 86_400_000.0
}
