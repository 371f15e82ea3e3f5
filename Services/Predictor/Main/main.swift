import Foundation
import Predictor
import ServiceRuntime

let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "evaluate", "seed", "export", "train-prior":
    await PredictorCommand.run(arguments: arguments)
default:
    let serveArguments = arguments.first == "serve" ? Array(arguments.dropFirst()) : arguments
    let settings = ServiceLauncher.resolveSettings(
        service: "predictor", specs: PredictorConfiguration.specs, openAPI: PredictorOpenAPI.document,
        arguments: serveArguments)
    do {
        let configuration = try PredictorConfiguration(settings)
        let metrics = ServiceMetrics()
        let logger = ServiceLauncher.bootstrap(logLevel: configuration.server.logLevel, metrics: metrics)
        let app = try await buildApplication(configuration: configuration, metrics: metrics, logger: logger)
        try await ServiceLauncher.run(app)
    } catch {
        ServiceLauncher.fail(service: "predictor", error)
    }
}
