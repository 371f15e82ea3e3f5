import Contracts
import Hummingbird
import Logging
import ServiceRuntime

/// Builds the predictor's HTTP application; the executable and the tests both call this.
public func buildApplication(
    configuration: PredictorConfiguration,
    metrics: ServiceMetrics,
    logger: Logger,
    engines: TextEngines? = nil,
    store: HistoryStore? = nil
) async throws -> some ApplicationProtocol {
    let engines = try engines ?? TextEngines.load(configuration: configuration, logger: logger)
    let store = try store ?? HistoryStore.open(directory: ServiceLauncher.prepareDataDirectory(configuration.server.dataDirectory))
    let engine = try await PredictorEngine(configuration: configuration, store: store, engines: engines, logger: logger)
    let identity = ServiceIdentity(name: "predictor")
    let routes = ServiceRouter(
        identity: identity, server: configuration.server, metrics: metrics,
        health: { await engine.state() },
        state: { .object(await engine.state().mapValues { .string($0) }) },
        openAPI: PredictorOpenAPI.json
    )
    PredictorRoutes(engine: engine, maxBatch: configuration.maxBatch).register(on: routes.router)
    return Application.service(router: routes, identity: identity, server: configuration.server, logger: logger)
}
