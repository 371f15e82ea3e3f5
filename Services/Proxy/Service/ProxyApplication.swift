import AsyncHTTPClient
import Contracts
import Foundation
import Hummingbird
import Logging
import NIOCore
import PostgresSupport
import ProxyCore
import ServiceLifecycle
import ServiceRuntime
import TextEngine

/// Builds the proxy's HTTP application; the executable and the tests both call this. `deployments` replaces
/// the configured ones (tests); `httpClient`, the client outcome reports are sent with, lets tests share a client
/// they shut down themselves.
public func buildApplication(
    configuration: ProxyConfiguration,
    metrics: ServiceMetrics,
    logger: Logger,
    deployments: [Deployment]? = nil,
    tokenCounter: (any TokenCounter)? = nil,
    httpClient: HTTPClient? = nil
) async throws -> some ApplicationProtocol {
    let identity = ServiceIdentity(name: "proxy")
    let deployments = try deployments ?? DeploymentLoader.load(configuration)
    var services: [any Service] = []
    let proxyMetrics = ProxyMetrics(registry: metrics.registry, deployments: deployments)
    let dispatcher = AccountDispatcher(
        deployments: deployments, settings: configuration.pool, queueLimit: configuration.queueSize,
        metrics: proxyMetrics)
    let budgetList = try DeploymentLoader.budgets(configuration, deployments: deployments)
    var sharedLimits: SharedLimits?
    var budgetStore: TenantBudgetStore?
    if let url = configuration.databaseURL {
        let store = try await SharedLimitStore.open(
            url, accounts: deployments.filter { $0.rpm != nil || $0.tpm != nil }.map(\.name),
            timeout: SharedLimits.operationTimeout, logger: logger)
        let limits = SharedLimits(
            store: store, dispatcher: dispatcher, policy: configuration.limitSlices, metrics: proxyMetrics,
            logger: logger)
        // The pool opens first and closes last; the limits give their slices back before it closes.
        services.insert(store.database.connections, at: 0)
        services.append(limits)
        sharedLimits = limits
        budgetStore = TenantBudgetStore(database: store.database)
        logger.notice(
            "account limits and tenant budgets shared in PostgreSQL",
            metadata: ["database": "\(url)", "replica": "\(store.replica)"])
    }
    // Created only once nothing before it can fail: an HTTPClient released without shutdown() traps.
    let reportClient: HTTPClient
    if let httpClient {
        reportClient = httpClient
    } else {
        let clientService = HTTPClientService(
            connectTimeout: .milliseconds(Int64(configuration.connectTimeoutMs)),
            readTimeout: .milliseconds(Int64(configuration.readTimeoutMs)))
        reportClient = clientService.client
        services.append(clientService)
    }
    let budgets =
        budgetList.isEmpty
        ? nil
        : TenantBudgets(
            budgetList, deployments: deployments, store: budgetStore, metrics: proxyMetrics, logger: logger,
            replicas: { [sharedLimits] in sharedLimits?.status.replicas ?? 1 })
    let reporter = OutcomeReporter(
        predictorBaseURL: configuration.predictorBaseURL,
        client: reportClient,
        capacity: configuration.reportBuffer,
        batchSize: configuration.reportBatchSize,
        intervalMs: configuration.reportIntervalMs,
        metrics: proxyMetrics,
        logger: logger
    )
    // The reporter stops before the client it sends with (services shut down in reverse order).
    services.append(reporter)
    let counter = tokenCounter ?? StandardTokenCounter.load(logger: logger)
    let forwarder = try Forwarder(
        dispatcher: dispatcher,
        budgets: budgets,
        tokenCounter: counter,
        reporter: reporter,
        metrics: proxyMetrics,
        options: .init(
            retry: configuration.retry,
            defaultDeadline: configuration.defaultDeadlineMs / 1000,
            readTimeout: Double(configuration.readTimeoutMs) / 1000,
            defaultOutputTokens: configuration.defaultOutputTokens,
            wholeAnswerMaxBytes: configuration.wholeAnswerMaxBytes
        ),
        clientKeys: configuration.clientKeys,
        server: configuration.server,
        connectTimeoutMs: configuration.connectTimeoutMs,
        maxIdlePerUpstream: configuration.maxConnectionsPerHost,
        caFile: configuration.caFile,
        metricsFactory: metrics.factory
    )
    let trust = configuration.caFile.map { "system roots + \($0)" } ?? "system roots"
    let instance = "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)"
    let controller = ProxyController(
        dispatcher: dispatcher, clientKeys: configuration.clientKeys, statsToken: configuration.statsToken,
        instance: instance)
    let limits = sharedLimits
    let routes = ServiceRouter(
        identity: identity,
        server: configuration.server,
        metrics: metrics,
        health: {
            [
                "accounts": String(deployments.count), "models": dispatcher.modelNames.joined(separator: ","),
                "reports_pending": String(reporter.pending), "https_accounts": String(forwarder.httpsAccounts),
                "upstream_trust": trust,
            ].merging(limitsHealth(limits)) { $1 }.merging(budgetsHealth(budgets)) { $1 }
        },
        state: {
            let stats = controller.stats()
            guard let data = try? JSONEncoder().encode(stats) else { return nil }
            return try? JSONDecoder().decode(JSONValue.self, from: data)
        },
        openAPI: ProxyOpenAPI.document
    )
    controller.register(on: routes.router)
    logger.info(
        "proxy configured",
        metadata: [
            "deployments": "\(deployments.map(\.description).joined(separator: "; "))",
            "client_auth": "\(!configuration.clientKeys.isEmpty)",
            "predictor": "\(configuration.predictorBaseURL ?? "off")",
            "https_accounts": "\(forwarder.httpsAccounts)",
            "upstream_trust": "\(trust)",
            "tenant_budgets": "\(budgetList.count)",
        ]
    )
    return Application.service(
        router: routes, identity: identity, server: configuration.server, services: services, logger: logger,
        channelHandlers: { [forwarder.makeHandler()] }
    )
}

/// The proxy's OpenAPI document.
public enum ProxyOpenAPI {
    /// Built on first use from the controller's operations and the Contracts types.
    public static let document = OpenAPIDocument(
        title: "maitre proxy",
        description: "OpenAI-compatible proxy over a pool of upstream accounts (AIMD windows).",
        settings: ProxyConfiguration.specs,
        operations: ProxyController.operations)
}

/// The `/health` fields of the tenant budgets, when there are any: `budgets` (`local`, `shared` or `local_share`)
/// and, while the shared store is unreachable, `budgets_reason`.
func budgetsHealth(_ budgets: TenantBudgets?) -> [String: String] {
    guard let budgets else { return [:] }
    let (mode, reason) = budgets.mode
    var fields = ["budgets": mode]
    if let reason { fields["budgets_reason"] = "\(reason); tenants seen before spend this proxy's share" }
    return fields
}

/// The `/health` fields that say where the account limits come from: `limits` (`local`, `shared` or `local_share`),
/// and while degraded, `limits_reason` and the replica count the limits are divided by.
func limitsHealth(_ limits: SharedLimits?) -> [String: String] {
    guard let limits else { return ["limits": LimitsMode.local.rawValue] }
    let status = limits.status
    var fields = ["limits": status.mode.rawValue, "limits_replicas": String(status.replicas)]
    if let reason = status.reason {
        fields["limits_reason"] = "\(reason); each account's limits divided by \(status.replicas) replicas"
    }
    return fields
}
