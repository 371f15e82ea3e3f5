import Hummingbird
import Logging
import ServiceRuntime

/// Builds the predictor's HTTP application; the executable and the tests both call this.
public func buildApplication(
    configuration: PredictorConfiguration,
    metrics: ServiceMetrics,
    logger: Logger
) async throws -> some ApplicationProtocol {
    let identity = ServiceIdentity(name: "predictor")
    let routes = ServiceRouter(identity: identity, server: configuration.server, metrics: metrics)
    return Application.service(router: routes, identity: identity, server: configuration.server, logger: logger)
}
