import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MockLLM
import MockLLMCore
import Predictor
import ProcessLauncher
import Proxy
import Scheduler
import ServiceRuntime
import Testing
import TextEngine

/// The committed OpenAPI documents against the code: each service registers exactly the operations its
/// document lists and serves the committed bytes at `GET /openapi.json`.
@Suite struct OpenAPIContractTests {
    static var quietLogger: Logger {
        var logger = Logger(label: "openapi-test")
        logger.logLevel = .critical
        return logger
    }

    /// Builds the application inside a route recorder, compares its routes with the document, and fetches the
    /// document from the running router.
    func expectAgreement<App: ApplicationProtocol>(
        _ service: String, embedded: String, build: () async throws -> App
    ) async throws {
        let spec = try OpenAPISpec(service: service)
        #expect(
            embedded == spec.text,
            "\(service): embedded document differs from deploy/openapi/\(service).json; run scripts/openapi/generate.py"
        )
        let recorder = RouteRecorder()
        let app = try await recorder.recording(build)
        let registered = recorder.operations
        #expect(!registered.isEmpty, "\(service): no routes were recorded")
        for missing in registered.subtracting(spec.operations).sorted(by: { $0.description < $1.description }) {
            Issue.record("\(service): route \(missing) is registered but not in deploy/openapi/\(service).json")
        }
        for extra in spec.operations.subtracting(registered).sorted(by: { $0.description < $1.description }) {
            Issue.record(
                "\(service): deploy/openapi/\(service).json lists \(extra), which the service does not register")
        }
        try await app.test(.router) { client in
            try await client.execute(uri: "/openapi.json", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                #expect(String(buffer: response.body) == spec.text)
            }
        }
    }

    @Test func predictorRoutesAndServedDocumentMatchItsSpec() async throws {
        try await expectAgreement("predictor", embedded: PredictorOpenAPI.json) {
            try await Predictor.buildApplication(
                configuration: try PredictorConfiguration.defaults([:]), metrics: ServiceMetrics(),
                logger: Self.quietLogger, engines: .hashed(), store: try SQLiteHistoryStore.inMemory())
        }
    }

    @Test func schedulerRoutesAndServedDocumentMatchItsSpec() async throws {
        try await expectAgreement("scheduler", embedded: SchedulerOpenAPI.json) {
            try await Scheduler.buildApplication(
                configuration: try SchedulerConfiguration.defaults(["database-file": ":memory:", "admin-token": "t"]),
                metrics: ServiceMetrics(), logger: Self.quietLogger)
        }
    }

    @Test func proxyRoutesAndServedDocumentMatchItsSpec() async throws {
        try await expectAgreement("proxy", embedded: ProxyOpenAPI.json) {
            try await Proxy.buildApplication(
                configuration: try ProxyConfiguration.defaults(["predictor-base-url": ""]), metrics: ServiceMetrics(),
                logger: Self.quietLogger, tokenCounter: TextEngine.ApproximateTokenCounter())
        }
    }

    @Test func mockLLMRoutesAndServedDocumentMatchItsSpec() async throws {
        try await expectAgreement("mock-llm", embedded: MockLLMOpenAPI.json) {
            try await MockLLM.buildApplication(
                configuration: try MockLLMConfiguration.defaults(["latency-profile": "instant"]),
                metrics: ServiceMetrics(),
                logger: Self.quietLogger, tokenCounter: TextEngine.ApproximateTokenCounter())
        }
    }

    @Test func theGeneratorReproducesTheCommittedDocuments() throws {
        let python = try #require(RepositoryFiles.which("python3"), "python3 is needed to run the generator")
        let result = try RepositoryFiles.run(python, ["scripts/openapi/generate.py", "--check"])
        #expect(result.status == 0, "\(result.output)\(result.errors)")
    }
}
