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

/// The OpenAPI documents against the code: each service registers exactly the operations its document declares,
/// serves the document at `GET /openapi.json`, and the committed copy under `deploy/openapi` is that document.
@Suite struct OpenAPIContractTests {
    static var quietLogger: Logger {
        var logger = Logger(label: "openapi-test")
        logger.logLevel = .critical
        return logger
    }

    static let regenerate =
        "swift build && for s in predictor scheduler proxy mock-llm; do "
        + "\"$(swift build --show-bin-path)/maitre-$s\" --print-openapi > deploy/openapi/$s.json; done"

    /// Builds the application inside a route recorder, compares its routes with the document's operations, fetches
    /// the document from the running router, and compares it with the committed file.
    func expectAgreement<App: ApplicationProtocol>(
        _ service: String, document: OpenAPIDocument, build: () async throws -> App
    ) async throws {
        #expect(document.problems.isEmpty, "\(service): \(document.problems.joined(separator: "\n"))")
        let spec = try OpenAPISpec(service: service)
        #expect(
            spec.text == document.json,
            "deploy/openapi/\(service).json differs from the document the code builds; regenerate: \(Self.regenerate)")
        let recorder = RouteRecorder()
        let app = try await recorder.recording(build)
        let registered = recorder.operations
        #expect(!registered.isEmpty, "\(service): no routes were recorded")
        for missing in registered.subtracting(document.routes).sorted(by: { $0.description < $1.description }) {
            Issue.record("\(service): route \(missing) is registered but no operation declares it")
        }
        for extra in document.routes.subtracting(registered).sorted(by: { $0.description < $1.description }) {
            Issue.record("\(service): an operation declares \(extra), which the service does not register")
        }
        try await app.test(.router) { client in
            try await client.execute(uri: "/openapi.json", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                #expect(String(buffer: response.body) == document.json)
            }
        }
    }

    @Test func predictorRoutesAndServedDocumentMatchItsSpec() async throws {
        try await expectAgreement("predictor", document: PredictorOpenAPI.document) {
            try await Predictor.buildApplication(
                configuration: try PredictorConfiguration.defaults([:]), metrics: ServiceMetrics(),
                logger: Self.quietLogger, engines: .hashed(), store: try SQLiteHistoryStore.inMemory())
        }
    }

    @Test func schedulerRoutesAndServedDocumentMatchItsSpec() async throws {
        try await expectAgreement("scheduler", document: SchedulerOpenAPI.document) {
            try await Scheduler.buildApplication(
                configuration: try SchedulerConfiguration.defaults(["database-file": ":memory:", "admin-token": "t"]),
                metrics: ServiceMetrics(), logger: Self.quietLogger)
        }
    }

    @Test func proxyRoutesAndServedDocumentMatchItsSpec() async throws {
        try await expectAgreement("proxy", document: ProxyOpenAPI.document) {
            try await Proxy.buildApplication(
                configuration: try ProxyConfiguration.defaults(["predictor-base-url": ""]), metrics: ServiceMetrics(),
                logger: Self.quietLogger, tokenCounter: TextEngine.ApproximateTokenCounter())
        }
    }

    @Test func mockLLMRoutesAndServedDocumentMatchItsSpec() async throws {
        try await expectAgreement("mock-llm", document: MockLLMOpenAPI.document) {
            try await MockLLM.buildApplication(
                configuration: try MockLLMConfiguration.defaults(["latency-profile": "instant"]),
                metrics: ServiceMetrics(),
                logger: Self.quietLogger, tokenCounter: TextEngine.ApproximateTokenCounter())
        }
    }

    /// `--print-openapi` of each built executable writes the committed document (skipped for executables not built).
    @Test func executablesPrintTheCommittedDocuments() throws {
        guard let folder = ServiceCatalog.binaryFolder() else { return }
        for service in ServiceCatalog.services {
            let path = "\(folder)/\(service.executable)"
            guard FileManager.default.isExecutableFile(atPath: path) else { continue }
            let result = try RepositoryFiles.run(path, ["--print-openapi"])
            let committed = try OpenAPISpec(service: service.name).text
            #expect(result.status == 0, "\(service.executable) --print-openapi: \(result.errors)")
            #expect(
                result.output == committed,
                "\(service.executable) --print-openapi differs from deploy/openapi/\(service.name).json; regenerate: \(Self.regenerate)"
            )
        }
    }
}
