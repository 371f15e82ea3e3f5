import MockLLM
import ServiceRuntime

let settings = ServiceLauncher.resolveSettings(
    service: "mock-llm", specs: MockLLMConfiguration.specs, openAPI: MockLLMOpenAPI.document)
do {
    let configuration = try MockLLMConfiguration(settings)
    let metrics = ServiceMetrics()
    let logger = ServiceLauncher.bootstrap(logLevel: configuration.server.logLevel, metrics: metrics)
    let app = try await buildApplication(configuration: configuration, metrics: metrics, logger: logger)
    try await ServiceLauncher.run(app)
} catch {
    ServiceLauncher.fail(service: "mock-llm", error)
}
