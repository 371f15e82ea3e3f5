import Foundation
import ProxyCore
import ServiceRuntime

/// Every setting of the proxy, with its default and environment variable, in one place.
public struct ProxyConfiguration: Sendable {
    public static let specs: [SettingSpec] =
        CommonSettings.specs(port: 3000) + [
            SettingSpec(
                "proxy-config", env: "PROXY_CONFIG", default: "",
                help:
                    "YAML file of deployments (native `models:` or LiteLLM `model_list:`); empty: one simulated upstream."
            ),
            SettingSpec(
                "default-upstream", env: "PROXY_DEFAULT_UPSTREAM", default: "http://127.0.0.1:8080/v1",
                help: "Upstream base URL used when no PROXY_CONFIG is given."),
            SettingSpec(
                "api-keys", env: "PROXY_API_KEYS", default: "",
                help: "Comma-separated keys clients must present as a bearer token; empty: no client auth."),
            SettingSpec(
                "stats-token", env: "STATS_TOKEN", default: "",
                help: "Bearer token GET /_stats requires; empty: /_stats is open."),
            SettingSpec(
                "predictor-base-url", env: "PREDICTOR_BASE_URL", default: "http://127.0.0.1:8000",
                help: "Predictor that receives outcome reports at /ingest/batch; empty: no reports."),
            SettingSpec(
                "initial-window", env: "PROXY_INITIAL_WINDOW", default: "8",
                help: "AIMD window each account starts with (capped by its max_concurrency)."),
            SettingSpec(
                "slow-start", env: "PROXY_SLOW_START", default: "true",
                help: "Grow a fresh window by one per success (TCP slow start) until the first congestion signal."),
            SettingSpec(
                "max-concurrency", env: "PROXY_MAX_CONCURRENCY", default: "64",
                help: "Window ceiling for deployments that set no max_concurrency."),
            SettingSpec(
                "latency-spike-factor", env: "PROXY_LATENCY_SPIKE_FACTOR", default: "3",
                help: "A success slower than the EWMA baseline times this halves the window."),
            SettingSpec(
                "queue-size", env: "PROXY_QUEUE_SIZE", default: "1024",
                help: "Requests that may wait for a free window; beyond it 429."),
            SettingSpec(
                "default-deadline-ms", env: "PROXY_DEFAULT_DEADLINE_MS", default: "60000",
                help: "Time budget to the first byte (queueing and retries included) without X-Deadline-Ms."),
            SettingSpec(
                "max-retries", env: "PROXY_MAX_RETRIES", default: "2",
                help: "Retries on other accounts after a failure before the first byte."),
            SettingSpec(
                "retry-backoff-ms", env: "PROXY_RETRY_BACKOFF_MS", default: "25",
                help: "Backoff before the first retry; doubles each retry."),
            SettingSpec(
                "ca-file", env: "PROXY_CA_FILE", default: "",
                help:
                    "PEM file of certificates trusted for https accounts besides the system's roots (a private CA); certificates are always verified, and the host name checked."
            ),
            SettingSpec(
                "connect-timeout-ms", env: "PROXY_CONNECT_TIMEOUT_MS", default: "2000",
                help: "Longest wait for an upstream connection (and, for https, again for its TLS handshake)."),
            SettingSpec(
                "read-timeout-ms", env: "PROXY_READ_TIMEOUT_MS", default: "120000",
                help: "Longest silence between two chunks of an upstream answer."),
            SettingSpec(
                "default-output-tokens", env: "PROXY_DEFAULT_OUTPUT_TOKENS", default: "256",
                help: "Expected output tokens reserved when neither X-Predicted-Output-Tokens nor max_tokens is given."),
            SettingSpec(
                "whole-answer-max-bytes", env: "PROXY_WHOLE_ANSWER_MAX_BYTES", default: "262144",
                help:
                    "Largest non-streaming answer (by Content-Length) read whole and written once, retried elsewhere if the upstream dies halfway; 0 passes every answer through chunk by chunk."
            ),
            SettingSpec(
                "rate-limit-cooldown-ms", env: "PROXY_RATE_LIMIT_COOLDOWN_MS", default: "1000",
                help: "Cooldown after a 429 without Retry-After."),
            SettingSpec(
                "failure-cooldown-ms", env: "PROXY_FAILURE_COOLDOWN_MS", default: "5000",
                help: "Cooldown after consecutive upstream failures."),
            SettingSpec(
                "failures-before-cooldown", env: "PROXY_FAILURES_BEFORE_COOLDOWN", default: "3",
                help: "Consecutive failures that cool an account down."),
            SettingSpec(
                "max-connections-per-host", env: "PROXY_MAX_CONNECTIONS_PER_HOST", default: "1024",
                help: "Idle keep-alive connections kept per upstream on each event loop."),
            SettingSpec(
                "report-buffer", env: "PROXY_REPORT_BUFFER", default: "10000",
                help: "Outcome reports held while the predictor is slow; beyond it they are dropped and counted."),
            SettingSpec(
                "report-batch-size", env: "PROXY_REPORT_BATCH_SIZE", default: "200",
                help: "Outcome reports per POST /ingest/batch."),
            SettingSpec(
                "report-interval-ms", env: "PROXY_REPORT_INTERVAL_MS", default: "1000",
                help: "Longest time a report waits before it is sent."),
            SettingSpec(
                "database-url", env: "DATABASE_URL", default: "",
                help:
                    "postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require]: account limits and tenant budgets shared by every proxy using the same database; empty: each proxy counts alone."
            ),
            SettingSpec(
                "limit-slice-ms", env: "PROXY_LIMIT_SLICE_MS", default: "1000",
                help:
                    "With DATABASE_URL: an account's limits are leased in slices of this much of its per-minute limit, each usable for twice as long."
            ),
        ]

    public var server: ServerSettings
    public var deploymentFile: String?
    public var defaultUpstream: String
    public var clientKeys: [String]
    public var statsToken: String?
    public var predictorBaseURL: String?
    public var pool: PoolSettings
    public var defaultMaxConcurrency: Int
    public var queueSize: Int
    public var defaultDeadlineMs: Double
    public var retry: RetryPolicy
    public var connectTimeoutMs: Int
    public var readTimeoutMs: Int
    public var defaultOutputTokens: Int
    public var wholeAnswerMaxBytes: Int
    public var caFile: String?
    public var maxConnectionsPerHost: Int
    public var reportBuffer: Int
    public var reportBatchSize: Int
    public var reportIntervalMs: Int
    public var databaseURL: DatabaseURL?
    public var limitSlices: SliceLeasePolicy

    public init(_ settings: ResolvedSettings) throws {
        self.server = try ServerSettings(settings)
        self.deploymentFile = try settings.optionalString("proxy-config")
        self.defaultUpstream = try settings.string("default-upstream")
        self.clientKeys = try settings.list("api-keys")
        self.statsToken = try settings.optionalString("stats-token")
        self.predictorBaseURL = try settings.optionalString("predictor-base-url").map {
            $0.hasSuffix("/") ? String($0.dropLast()) : $0
        }
        self.defaultMaxConcurrency = try settings.int("max-concurrency", in: 1...100_000)
        let aimd = AIMDSettings(
            initialWindow: Double(try settings.int("initial-window", in: 1...100_000)),
            maxWindow: Double(defaultMaxConcurrency),
            spikeFactor: try settings.double("latency-spike-factor", in: 1...1000),
            slowStart: try settings.bool("slow-start")
        )
        self.pool = PoolSettings(
            aimd: aimd,
            rateLimitCooldown: Double(try settings.int("rate-limit-cooldown-ms", in: 0...3_600_000)) / 1000,
            failuresBeforeCooldown: try settings.int("failures-before-cooldown", in: 1...1000),
            failureCooldown: Double(try settings.int("failure-cooldown-ms", in: 0...3_600_000)) / 1000
        )
        self.queueSize = try settings.int("queue-size", in: 0...1_000_000)
        self.defaultDeadlineMs = Double(try settings.int("default-deadline-ms", in: 1...3_600_000))
        self.retry = RetryPolicy(
            maxRetries: try settings.int("max-retries", in: 0...20),
            baseBackoff: Double(try settings.int("retry-backoff-ms", in: 0...60_000)) / 1000
        )
        self.connectTimeoutMs = try settings.int("connect-timeout-ms", in: 1...600_000)
        self.readTimeoutMs = try settings.int("read-timeout-ms", in: 1...3_600_000)
        self.defaultOutputTokens = try settings.int("default-output-tokens", in: 0...10_000_000)
        self.wholeAnswerMaxBytes = try settings.int("whole-answer-max-bytes", in: 0...(64 << 20))
        self.caFile = try settings.optionalString("ca-file")
        self.maxConnectionsPerHost = try settings.int("max-connections-per-host", in: 1...100_000)
        self.reportBuffer = try settings.int("report-buffer", in: 0...10_000_000)
        self.reportBatchSize = try settings.int("report-batch-size", in: 1...100_000)
        self.reportIntervalMs = try settings.int("report-interval-ms", in: 1...3_600_000)
        self.databaseURL = try settings.databaseURL("database-url")
        let sliceSeconds = Double(try settings.int("limit-slice-ms", in: 10...30_000)) / 1000
        self.limitSlices = SliceLeasePolicy(sliceSeconds: sliceSeconds, validitySeconds: 2 * sliceSeconds)
    }

    /// Defaults with overrides, for tests.
    public static func defaults(_ overrides: [String: String] = [:]) throws -> ProxyConfiguration {
        try ProxyConfiguration(ResolvedSettings.defaults(specs, overriding: overrides))
    }
}
