import Contracts
import Foundation
import SchedulerCore
import ServiceRuntime

/// What to do at start-up with requests that were in flight when the process stopped.
public enum InflightRestartAction: String, Sendable, CaseIterable {
    /// Send them again (the upstream may see them twice; no request is lost).
    case requeue
    /// Mark them failed with reason `restart_failed` (never sent twice; the client must resubmit).
    case fail
}

/// Every setting of the scheduler, with its default and environment variable, in one place.
public struct SchedulerConfiguration: Sendable {
    public static let specs: [SettingSpec] =
        CommonSettings.specs(port: 8010) + [
            SettingSpec(
                "tick-ms", env: "TICK_MS", default: "50",
                help: "Self-tick period in ms (expiry, back-off release, mode dwell)."),
            SettingSpec(
                "predictor-base-url", env: "PREDICTOR_BASE_URL", default: "http://127.0.0.1:8000",
                help: "Predictor service base URL."),
            SettingSpec(
                "predictor-timeout-ms", env: "PREDICTOR_TIMEOUT_MS", default: "250",
                help: "Timeout of one /predict call; past it the local prompt-length prior is used."),
            SettingSpec(
                "proxy-urls", env: "PROXY_URLS", default: "http://127.0.0.1:3000",
                help: "Comma-separated proxy base URLs, or one URL whose host name is resolved to all its addresses."),
            SettingSpec(
                "proxy-api-key", env: "PROXY_API_KEY", default: "",
                help: "Bearer key the scheduler presents to the proxy (one of the proxy's PROXY_API_KEYS); empty: none."
            ),
            SettingSpec(
                "proxy-stats-token", env: "PROXY_STATS_TOKEN", default: "",
                help:
                    "Bearer token the scheduler presents to the proxies' GET /_stats (their STATS_TOKEN) for the operator page; empty: none."
            ),
            SettingSpec(
                "proxy-resolve-interval-ms", env: "PROXY_RESOLVE_INTERVAL_MS", default: "10000",
                help: "How often a proxy host name is resolved again."),
            SettingSpec(
                "dispatch-timeout-ms", env: "DISPATCH_TIMEOUT_MS", default: "600000",
                help: "Longest a dispatched request may take upstream before it counts as failed."),
            SettingSpec(
                "admin-token", env: "ADMIN_TOKEN", default: "",
                help: "Bearer token for /admin/config and /reset; empty disables them."),
            SettingSpec(
                "inflight-on-restart", env: "INFLIGHT_ON_RESTART", default: "requeue",
                help: "requeue or fail: what happens at start-up to requests that were in flight."),
            SettingSpec(
                "database-file", env: "SCHEDULER_DATABASE_FILE", default: "scheduler.sqlite",
                help: "SQLite file name inside the data directory (':memory:' for none); unused with DATABASE_URL."),
            SettingSpec(
                "database-url", env: "DATABASE_URL", default: "",
                help:
                    "postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require]: keep the queue in PostgreSQL, shared by scheduler replicas; empty: SQLite in the data directory."
            ),
            SettingSpec(
                "replica-lease-ms", env: "REPLICA_LEASE_MS", default: "5000",
                help:
                    "With DATABASE_URL: how long a replica's lease holds without renewal; a replica silent this long has its waiting work taken over by the others."
            ),
            SettingSpec(
                "event-capacity", env: "EVENT_CAPACITY", default: "10000", help: "Recent decisions kept for /events."),
            SettingSpec(
                "finished-in-memory", env: "FINISHED_IN_MEMORY", default: "5000",
                help: "Finished requests kept in memory for /status; older ones are read from SQLite."),
            SettingSpec(
                "allocation-policy", env: "ALLOCATION_POLICY", default: "adaptive_drr",
                help: "adaptive_drr, short_priority, fair_queuing, quota_tiered or fifo."),
            SettingSpec(
                "ordering-policy", env: "ORDERING_POLICY", default: "shortest_expected_work",
                help: "shortest_expected_work, feasible_set, edf, shortest_first, gittins or fifo."),
            SettingSpec(
                "predictions", env: "PREDICTIONS", default: "predictor",
                help:
                    "predictor (ask the predictor), or constant: every request predicted the same (the benchmarks' blind mode, to measure what the predictions are worth)."
            ),
            SettingSpec(
                "interactive-inflight-tokens", env: "INTERACTIVE_INFLIGHT_TOKENS", default: "3000",
                help: "Predicted output tokens interactive work may keep in flight."),
            SettingSpec(
                "heavy-inflight-tokens", env: "HEAVY_INFLIGHT_TOKENS", default: "7000",
                help: "Predicted output tokens heavy work may keep in flight."),
            SettingSpec(
                "interactive-deadline-ms", env: "INTERACTIVE_DEADLINE_MS", default: "15000",
                help: "Default time budget of an interactive request."),
            SettingSpec(
                "heavy-deadline-ms", env: "HEAVY_DEADLINE_MS", default: "120000",
                help: "Default time budget of a heavy request."),
            SettingSpec(
                "max-queue-length", env: "MAX_QUEUE_LENGTH", default: "100000",
                help: "Waiting requests beyond which submissions are refused (429)."),
            SettingSpec(
                "max-inflight-requests", env: "MAX_INFLIGHT_REQUESTS", default: "256",
                help: "Hard cap on requests in flight."),
        ]

    public var server: ServerSettings
    public var tickMs: Int
    public var predictorBaseURL: String
    public var predictorTimeoutMs: Int
    /// Whether requests are predicted by the predictor or all alike (`constant`).
    public var constantPredictions: Bool
    public var proxyURLs: [String]
    public var proxyResolveIntervalMs: Int
    /// Bearer key sent to the proxy with every dispatch, when the proxy requires client keys.
    public var proxyAPIKey: String?
    /// Bearer token for the proxies' `/_stats`, read for the operator page; never served.
    public var proxyStatsToken: String?
    public var dispatchTimeoutMs: Int
    public var adminToken: String
    public var inflightOnRestart: InflightRestartAction
    public var databaseFile: String
    /// The shared PostgreSQL store; nil: SQLite in the data directory.
    public var databaseURL: DatabaseURL?
    public var replicaLeaseMs: Int
    public var eventCapacity: Int
    public var finishedInMemory: Int
    /// The scheduling policy at start-up (hot-reloadable through `/admin/config`).
    public var policy: SchedulerPolicy

    public init(_ settings: ResolvedSettings) throws {
        // Everything is read into locals first and the properties are set only once nothing can throw. A crash here in
        // "outlined destroy of SchedulerConfiguration" after `SchedulerPolicy` changed comes from an incremental debug
        // build that kept stale copies of that function in other modules (clean builds pass):
        // `rm -rf .build/debug/*Tests.build` and build again.
        let server = try ServerSettings(settings)
        let tickMs = try settings.int("tick-ms", in: 1...60_000)
        let predictorBaseURL = try settings.string("predictor-base-url")
        let predictorTimeoutMs = try settings.int("predictor-timeout-ms", in: 1...60_000)
        let constantPredictions = try settings.choice("predictions", of: ["predictor", "constant"]) == "constant"
        let proxyURLs = try settings.list("proxy-urls")
        guard !proxyURLs.isEmpty else { throw SettingError(key: "proxy-urls", message: "needs at least one URL") }
        let proxyAPIKey = try settings.optionalString("proxy-api-key")
        let proxyStatsToken = try settings.optionalString("proxy-stats-token")
        let proxyResolveIntervalMs = try settings.int("proxy-resolve-interval-ms", in: 100...86_400_000)
        let dispatchTimeoutMs = try settings.int("dispatch-timeout-ms", in: 100...86_400_000)
        let adminToken = try settings.string("admin-token")
        let inflightOnRestart = InflightRestartAction(
            rawValue: try settings.choice("inflight-on-restart", of: InflightRestartAction.allCases.map(\.rawValue)))!
        let databaseFile = try settings.string("database-file")
        let databaseURL = try settings.databaseURL("database-url")
        let replicaLeaseMs = try settings.int("replica-lease-ms", in: 500...600_000)
        let eventCapacity = try settings.int("event-capacity", in: 0...10_000_000)
        let finishedInMemory = try settings.int("finished-in-memory", in: 1...10_000_000)
        let policy = try Self.policy(settings)
        self.server = server
        self.tickMs = tickMs
        self.predictorBaseURL = predictorBaseURL
        self.predictorTimeoutMs = predictorTimeoutMs
        self.constantPredictions = constantPredictions
        self.proxyURLs = proxyURLs
        self.proxyAPIKey = proxyAPIKey
        self.proxyStatsToken = proxyStatsToken
        self.proxyResolveIntervalMs = proxyResolveIntervalMs
        self.dispatchTimeoutMs = dispatchTimeoutMs
        self.adminToken = adminToken
        self.inflightOnRestart = inflightOnRestart
        self.databaseFile = databaseFile
        self.databaseURL = databaseURL
        self.replicaLeaseMs = replicaLeaseMs
        self.eventCapacity = eventCapacity
        self.finishedInMemory = finishedInMemory
        self.policy = policy
    }

    /// The start-up policy: the defaults with the policy settings applied.
    static func policy(_ settings: ResolvedSettings) throws -> SchedulerPolicy {
        var document = SchedulerConfigDocument()
        document.allocationPolicy = try settings.string("allocation-policy")
        document.orderingPolicy = try settings.string("ordering-policy")
        document.interactiveInflightTokens = try settings.int("interactive-inflight-tokens", in: 1...100_000_000)
        document.heavyInflightTokens = try settings.int("heavy-inflight-tokens", in: 1...100_000_000)
        document.interactiveDeadlineMs = try settings.double("interactive-deadline-ms", in: 1...1e9)
        document.heavyDeadlineMs = try settings.double("heavy-deadline-ms", in: 1...1e9)
        document.maxQueueLength = try settings.int("max-queue-length", in: 1...100_000_000)
        document.extra = [
            "max_inflight_requests": .number(Double(try settings.int("max-inflight-requests", in: 1...1_000_000)))
        ]
        do {
            return try SchedulerPolicy().applying(document)
        } catch let error as PolicyValidationError {
            throw SettingError(key: error.field.replacingOccurrences(of: "_", with: "-"), message: error.message)
        }
    }

    /// Defaults with overrides, for tests.
    public static func defaults(_ overrides: [String: String] = [:]) throws -> SchedulerConfiguration {
        try SchedulerConfiguration(ResolvedSettings.defaults(specs, overriding: overrides))
    }
}
