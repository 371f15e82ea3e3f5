import Scheduler
import ServiceRuntime

let settings = ServiceLauncher.resolveSettings(
    service: "scheduler", specs: SchedulerConfiguration.specs, openAPI: SchedulerOpenAPI.document)
do {
    let configuration = try SchedulerConfiguration(settings)
    let metrics = ServiceMetrics()
    let logger = ServiceLauncher.bootstrap(logLevel: configuration.server.logLevel, metrics: metrics)
    let app = try await buildApplication(configuration: configuration, metrics: metrics, logger: logger)
    try await ServiceLauncher.run(app)
} catch {
    ServiceLauncher.fail(service: "scheduler", error)
}
