import Proxy
import ServiceRuntime

let settings = ServiceLauncher.resolveSettings(
    service: "proxy", specs: ProxyConfiguration.specs, openAPI: ProxyOpenAPI.document)
do {
    let configuration = try ProxyConfiguration(settings)
    let metrics = ServiceMetrics()
    let logger = ServiceLauncher.bootstrap(logLevel: configuration.server.logLevel, metrics: metrics)
    let app = try await buildApplication(configuration: configuration, metrics: metrics, logger: logger)
    try await ServiceLauncher.run(app)
} catch {
    ServiceLauncher.fail(service: "proxy", error)
}
