import Contracts
import Hummingbird
import Logging
import PostgresSupport
import ServiceLifecycle
import ServiceRuntime

/// Builds the predictor's HTTP application; the executable and the tests both call this.
public func buildApplication(
    configuration: PredictorConfiguration,
    metrics: ServiceMetrics,
    logger: Logger,
    engines: TextEngines? = nil,
    store: (any HistoryStore)? = nil
) async throws -> some ApplicationProtocol {
    let engines = try engines ?? TextEngines.load(configuration: configuration, logger: logger)
    var services: [any Service] = []
    var database: SharedDatabase?
    let history: any HistoryStore
    if let store {
        history = store
    } else if let url = configuration.databaseURL {
        let shared = try await SharedDatabase.open(url, migrations: PostgresHistoryStore.migrations, logger: logger)
        database = shared
        // Listed first, closed last.
        services.append(shared.connections)
        history = PostgresHistoryStore(database: shared)
        logger.notice("history in PostgreSQL", metadata: ["database": "\(url)"])
    } else {
        history = try SQLiteHistoryStore.open(
            directory: ServiceLauncher.prepareDataDirectory(configuration.server.dataDirectory))
    }
    let engine: PredictorEngine
    do {
        engine = try await PredictorEngine(
            configuration: configuration, store: history, engines: engines, logger: logger)
    } catch {
        database?.connections.close()
        throw error
    }
    if history.isShared {
        services.append(
            HistoryRefreshService(engine: engine, intervalMs: configuration.historyRefreshMs, logger: logger))
    }
    let identity = ServiceIdentity(name: "predictor")
    let routes = ServiceRouter(
        identity: identity, server: configuration.server, metrics: metrics,
        health: { await engine.state() },
        state: { .object(await engine.state().mapValues { .string($0) }) },
        openAPI: PredictorOpenAPI.document
    )
    PredictorRoutes(engine: engine, maxBatch: configuration.maxBatch).register(on: routes.router)
    return Application.service(
        router: routes, identity: identity, server: configuration.server, services: services, logger: logger)
}

/// The predictor's OpenAPI document.
public enum PredictorOpenAPI {
    /// Built on first use from the routes' operations and the Contracts types.
    public static let document = OpenAPIDocument(
        title: "maitre predictor", description: "Predicts output length and cost of prompts; learns from outcomes.",
        settings: PredictorConfiguration.specs, operations: PredictorRoutes.operations)
}
