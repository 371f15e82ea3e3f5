import Predictor
import ServiceRuntime

let settings = ServiceLauncher.resolveSettings(service: "predictor", specs: PredictorConfiguration.specs)
do {
    let configuration = try PredictorConfiguration(settings)
    let metrics = ServiceMetrics()
    let logger = ServiceLauncher.bootstrap(logLevel: configuration.server.logLevel, metrics: metrics)
    let app = try await buildApplication(configuration: configuration, metrics: metrics, logger: logger)
    try await ServiceLauncher.run(app)
} catch {
    ServiceLauncher.fail(service: "predictor", error)
}
