import AsyncHTTPClient
import Contracts
import Foundation
import Hummingbird
import Logging
import PostgresSupport
import SchedulerCore
import ServiceLifecycle
import ServiceRuntime

/// Builds the scheduler's HTTP application; the executable and the tests both call this.
/// `execute` replaces the proxy call for queued requests (router tests); nil calls the proxy.
public func buildApplication(
    configuration: SchedulerConfiguration,
    metrics: ServiceMetrics,
    logger: Logger,
    execute: (
        @Sendable (Dispatch, ChatCompletionRequest, Double) async -> (status: Int, outputTokens: Int, latencyMs: Double)
    )? = nil
) async throws -> some ApplicationProtocol {
    let identity = ServiceIdentity(name: "scheduler")
    let store: any RequestStore
    let shared: SharedStore?
    if let url = configuration.databaseURL {
        let opened = try await SharedStore.open(url, leaseMs: configuration.replicaLeaseMs, logger: logger)
        shared = opened
        store = opened.store
        logger.notice("queue in PostgreSQL", metadata: ["database": "\(url)", "replica": "\(opened.store.replica)"])
    } else {
        shared = nil
        let storePath: String
        if configuration.databaseFile == ":memory:" {
            storePath = ":memory:"
        } else {
            storePath = try ServiceLauncher.prepareDataDirectory(configuration.server.dataDirectory)
                .appendingPathComponent(configuration.databaseFile).path
        }
        store = try SQLiteRequestStore.open(path: storePath)
    }
    // Created only once nothing before it can fail: an HTTPClient released without shutdown() traps, which turned
    // a clear start-up error (an unwritable data directory) into a crash.
    let httpClient = HTTPClientService(readTimeout: .milliseconds(Int64(configuration.dispatchTimeoutMs)))
    let targets = ProxyTargets(urls: configuration.proxyURLs)
    targets.refresh()
    let caller = ProxyCaller(
        client: httpClient.client, targets: targets, timeoutMs: configuration.dispatchTimeoutMs,
        apiKey: configuration.proxyAPIKey)
    let executor: UpstreamExecutor
    if let execute {
        executor = { dispatch, body, now, _ in
            let answer = await execute(dispatch, body, now)
            return ProxyCallResult(
                statusCode: answer.status, outputTokens: answer.outputTokens, latencyMs: answer.latencyMs,
                retryAfterMs: answer.status == 429 ? 100 : nil)
        }
    } else {
        executor = { dispatch, body, now, observer in
            await caller.call(body: body, dispatch: dispatch, nowMs: now, stream: observer)
        }
    }
    let runtime = SchedulerRuntime(
        policy: configuration.policy, store: store, eventCapacity: configuration.eventCapacity,
        finishedInMemory: configuration.finishedInMemory, logger: logger, execute: executor)
    let recovered: (restored: Int, failed: Int)
    do {
        recovered = try await runtime.recover(inflight: configuration.inflightOnRestart)
    } catch {
        try? await httpClient.client.shutdown()
        shared?.connections.close()
        throw error
    }
    if recovered.restored + recovered.failed > 0 {
        logger.notice(
            "recovered unfinished requests",
            metadata: ["restored": "\(recovered.restored)", "failed": "\(recovered.failed)"])
    }
    let predictor = PredictorClient(
        client: httpClient.client, baseURL: configuration.predictorBaseURL, timeoutMs: configuration.predictorTimeoutMs,
        logger: logger)
    let intake = Intake(runtime: runtime, predictor: predictor, constantPredictions: configuration.constantPredictions)
    let routes = ServiceRouter(
        identity: identity,
        server: configuration.server,
        metrics: metrics,
        health: {
            let snapshot = await runtime.metricsSnapshot()
            var health = ["mode": snapshot.mode.rawValue, "proxies": targets.current.joined(separator: ",")]
            health["store"] = shared == nil ? "sqlite" : "postgresql"
            if let shared { health["replica"] = shared.store.replica }
            return health
        },
        state: {
            let snapshot = await runtime.metricsSnapshot()
            guard let data = try? JSONEncoder().encode(snapshot) else { return nil }
            return try? JSONDecoder().decode(JSONValue.self, from: data)
        },
        openAPI: SchedulerOpenAPI.document
    )
    SchedulerController(intake: intake).register(on: routes.router)
    AdminController(runtime: runtime, adminToken: configuration.adminToken).register(on: routes.router)
    FrontDoorController(intake: intake, caller: caller).register(on: routes.router)
    let accounts = ProxyAccountsReader(
        client: httpClient.client, targets: targets, statsToken: configuration.proxyStatsToken)
    OperatorPageController(runtime: runtime, accounts: accounts).register(on: routes.router)
    var services: [any Service] = [httpClient]
    if let shared {
        // Shut down in reverse order: the lease ends after the last tick's writes, the pool after everything.
        services.insert(shared.connections, at: 0)
        services.append(ReplicaLeaseService(leases: shared.leases, runtime: runtime, logger: logger))
    }
    services += [
        TickService(runtime: runtime, tickMs: configuration.tickMs, metrics: metrics),
        ProxyResolutionService(targets: targets, intervalMs: configuration.proxyResolveIntervalMs),
    ]
    return Application.service(
        router: routes, identity: identity, server: configuration.server, services: services, logger: logger)
}

/// The scheduler's OpenAPI document.
public enum SchedulerOpenAPI {
    /// Built on first use from the controllers' operations and the Contracts types.
    public static let document = OpenAPIDocument(
        title: "maitre scheduler", description: "Admits, orders and dispatches LLM requests under overload.",
        settings: SchedulerConfiguration.specs,
        operations: SchedulerController.operations + AdminController.operations + FrontDoorController.operations
            + OperatorPageController.operations)
}
