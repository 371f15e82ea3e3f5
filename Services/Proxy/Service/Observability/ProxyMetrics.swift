import Foundation
import Prometheus
import ProxyCore
import ServiceRuntime

/// The proxy's Prometheus metrics, created once at start-up (per account and outcome) so the request path
/// only touches cached counters.
public final class ProxyMetrics: Sendable {
    /// The metric handles of one account.
    public struct Account: Sendable {
        let window: Gauge
        let inFlight: Gauge
        let cooling: Gauge
        let cooldowns: Counter
        let retries: Counter
        let latency: DurationHistogram
        let timeToFirstToken: DurationHistogram
        let outcomes: [Counter]
    }

    static let outcomeNames = [
        "success", "rate_limited", "server_error", "timeout", "connect_error", "client_error", "cancelled",
    ]
    static let latencyBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
        .seconds(60),
    ]

    public let accounts: [Account]
    let queueDepth: Gauge
    let queueRejected: Counter
    let queueTimeouts: Counter
    let reportsSent: Counter
    let reportsDropped: Counter
    let reportsFailed: Counter
    /// Leases of shared account limits by outcome (`LeaseOutcome`).
    let limitLeaseCounters: [Counter]
    /// 1 while this proxy enforces its local share because the shared store is unreachable.
    let limitsLocalShare: Gauge
    /// 1 while the shared tenant budgets are unreachable and tenants spend their local share.
    let budgetsLocalShare: Gauge
    /// Calls refused because their tenant's budget was used up.
    let budgetRejections: Counter
    /// Calls refused because the shared budgets could not be read.
    let budgetUnavailable: Counter

    /// How a request for a slice of an account's shared limits ended.
    enum LeaseOutcome: Int, CaseIterable {
        case granted, refused, failed
    }

    public init(registry: PrometheusCollectorRegistry, deployments: [Deployment]) {
        func descriptor(_ name: String, _ help: String, unit: String? = nil) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "proxy", metricName: name, unitName: unit, helpText: help)
        }
        self.accounts = deployments.map { deployment in
            let labels = [("account", deployment.name), ("model", deployment.modelName)]
            return Account(
                window: registry.makeGauge(
                    descriptor: descriptor("account_window", "AIMD concurrency window of the account."), labels: labels),
                inFlight: registry.makeGauge(
                    descriptor: descriptor("account_in_flight", "Requests in flight on the account."), labels: labels),
                cooling: registry.makeGauge(
                    descriptor: descriptor("account_cooling", "1 while the account is cooling down."), labels: labels),
                cooldowns: registry.makeCounter(
                    descriptor: descriptor("account_cooldowns", "Cooldowns started on the account.", unit: "total"),
                    labels: labels),
                retries: registry.makeCounter(
                    descriptor: descriptor("account_retries", "Calls to the account retried elsewhere.", unit: "total"),
                    labels: labels),
                latency: registry.makeDurationHistogram(
                    descriptor: descriptor(
                        "upstream_latency", "Upstream call duration to the last byte.", unit: "seconds"),
                    labels: labels, buckets: Self.latencyBuckets),
                timeToFirstToken: registry.makeDurationHistogram(
                    descriptor: descriptor("upstream_ttft", "Time to the first streamed chunk.", unit: "seconds"),
                    labels: labels, buckets: Self.latencyBuckets),
                outcomes: Self.outcomeNames.map { outcome in
                    registry.makeCounter(
                        descriptor: descriptor(
                            "account_calls", "Upstream calls by outcome (429s are rate_limited).", unit: "total"),
                        labels: labels + [("outcome", outcome)])
                }
            )
        }
        self.queueDepth = registry.makeGauge(
            descriptor: descriptor("queue_depth", "Requests waiting for a free window."), labels: [])
        self.queueRejected = registry.makeCounter(
            descriptor: descriptor(
                "queue_rejected", "Requests refused because the wait queue was full.", unit: "total"), labels: [])
        self.queueTimeouts = registry.makeCounter(
            descriptor: descriptor("queue_timeouts", "Requests whose deadline passed while waiting.", unit: "total"),
            labels: [])
        self.reportsSent = registry.makeCounter(
            descriptor: descriptor("reports_sent", "Outcome reports delivered to the predictor.", unit: "total"),
            labels: [])
        self.reportsDropped = registry.makeCounter(
            descriptor: descriptor(
                "reports_dropped", "Outcome reports dropped (buffer full or refused by the predictor).", unit: "total"),
            labels: [])
        self.reportsFailed = registry.makeCounter(
            descriptor: descriptor(
                "report_batches_failed", "Report batches the predictor did not accept.", unit: "total"), labels: [])
        self.limitLeaseCounters = LeaseOutcome.allCases.map { outcome in
            registry.makeCounter(
                descriptor: descriptor(
                    "limit_leases",
                    "Requests for slices of shared account limits: granted, refused (window full) or failed (database).",
                    unit: "total"),
                labels: [("outcome", "\(outcome)")])
        }
        self.limitsLocalShare = registry.makeGauge(
            descriptor: descriptor(
                "limits_local_share", "1 while the shared limits are unreachable and this proxy enforces its share."),
            labels: [])
        self.budgetsLocalShare = registry.makeGauge(
            descriptor: descriptor(
                "budgets_local_share",
                "1 while the shared tenant budgets are unreachable and tenants seen before spend this proxy's share."),
            labels: [])
        self.budgetRejections = registry.makeCounter(
            descriptor: descriptor(
                "budget_rejections", "Calls refused 429 because their tenant's budget was used up.", unit: "total"),
            labels: [])
        self.budgetUnavailable = registry.makeCounter(
            descriptor: descriptor(
                "budget_unavailable",
                "Calls refused 503: the shared tenant budgets were unreachable and the tenant was not seen before.",
                unit: "total"),
            labels: [])
        for (index, deployment) in deployments.enumerated() {
            accounts[index].window.set(Double(min(deployment.maxConcurrency, 2)))
        }
    }

    func limitLeases(_ outcome: LeaseOutcome) -> Counter { limitLeaseCounters[outcome.rawValue] }

    static func outcomeIndex(_ outcome: UpstreamAttemptOutcome) -> Int {
        switch outcome {
        case .success: return 0
        case .rateLimited: return 1
        case .serverError: return 2
        case .timeout: return 3
        case .connectFailure: return 4
        case .clientError: return 5
        case .cancelled: return 6
        }
    }

    /// Records an account's state after a change.
    func record(account index: Int, window: Double, inFlight: Int, cooling: Bool) {
        let account = accounts[index]
        account.window.set(to: window)
        account.inFlight.set(to: Double(inFlight))
        account.cooling.set(to: cooling ? 1.0 : 0.0)
    }

    func record(outcome: UpstreamAttemptOutcome, account index: Int, cooledDown: Bool) {
        let account = accounts[index]
        account.outcomes[Self.outcomeIndex(outcome)].increment()
        if cooledDown { account.cooldowns.increment() }
    }
}
