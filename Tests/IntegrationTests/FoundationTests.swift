import Contracts
import Foundation
import ProcessLauncher
import Testing

/// Every service executable, its product name and the name it reports.
let allServices: [(product: String, name: String)] = [
    ("maitre-predictor", "predictor"),
    ("maitre-scheduler", "scheduler"),
    ("maitre-proxy", "proxy"),
    ("maitre-mock-llm", "mock-llm"),
]

@Suite struct FoundationTests {
    @Test(arguments: allServices.map(\.product))
    func healthNamesServiceAndVersionAndMetricsPassPromtool(product: String) async throws {
        let service = try await LaunchedService.start(product)
        defer { service.stop() }
        let health = try await TestHTTP.get("\(service.baseURL)/health")
        #expect(health.status == 200)
        let body = try health.decode(HealthResponse.self)
        #expect(body.service == allServices.first { $0.product == product }?.name)
        #expect(!body.version.isEmpty)

        let text = try await TestHTTP.get("\(service.baseURL)/metrics", headers: ["Accept": "text/plain"])
        #expect(text.status == 200)
        #expect(text.text.contains("http_requests_total"))
        let check = try Command.run("promtool", ["check", "metrics"], input: text.body)
        #expect(check.status == 0, "promtool: \(check.output)")

        let json = try await TestHTTP.get("\(service.baseURL)/metrics")
        #expect(json.header("Content-Type") == "application/json")
        _ = try json.decode(MetricsSnapshot.self)
    }

    @Test(arguments: allServices.map(\.product))
    func unknownRoutesAndWrongMethodsGetTheEnvelope(product: String) async throws {
        let service = try await LaunchedService.start(product)
        defer { service.stop() }
        let unknown = try await TestHTTP.get("\(service.baseURL)/definitely/not/here")
        #expect(unknown.status == 404)
        let unknownEnvelope = try unknown.decode(ErrorEnvelope.self)
        #expect(unknownEnvelope.error.code == "unknown_url")

        let wrongMethod = try await TestHTTP.post("\(service.baseURL)/health", raw: "{}")
        #expect(wrongMethod.status == 405)
        #expect(wrongMethod.header("Allow") == "GET")
        let wrongEnvelope = try wrongMethod.decode(ErrorEnvelope.self)
        #expect(wrongEnvelope.error.code == "method_not_allowed")
        #expect(service.isRunning)
    }

    @Test(arguments: allServices.map(\.product))
    func helpListsEverySettingWithItsEnvironmentVariable(product: String) throws {
        let binary = try BinaryLocator.url(for: product)
        let result = try Command.run(binary.path, ["--help"])
        #expect(result.status == 0)
        for variable in ["HOST", "PORT", "DATA_DIR", "LOG_LEVEL", "MAX_BODY_BYTES"] {
            #expect(result.output.contains("(\(variable))"), "\(product) --help lacks \(variable)")
        }
    }

    @Test func badSettingIsAClearStartupError() throws {
        let binary = try BinaryLocator.url(for: "maitre-mock-llm")
        let result = try Command.run(binary.path, ["--port", "not-a-port"])
        #expect(result.status == 2)
        #expect(result.output.contains("port"))
    }
}
