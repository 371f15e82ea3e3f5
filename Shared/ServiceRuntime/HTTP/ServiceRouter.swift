import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle

/// Name and version a service reports on `/health`, and when it started.
public struct ServiceIdentity: Sendable {
    public static let maitreVersion = "0.1.0"

    public var name: String
    public var version: String
    public var startedAt: Date

    public init(name: String, version: String = ServiceIdentity.maitreVersion, startedAt: Date = Date()) {
        self.name = name
        self.version = version
        self.startedAt = startedAt
    }
}

/// Builds the router every service starts from: request IDs and body limits, the error envelope, request
/// metrics, `GET /health`, `GET /metrics` and, given the service's OpenAPI document, `GET /openapi.json`.
/// The service adds its routes, then calls `finish`.
public struct ServiceRouter {
    public let router: Router<ServiceRequestContext>
    public let catalog: RouteCatalog

    public init(
        identity: ServiceIdentity,
        server: ServerSettings,
        metrics: ServiceMetrics,
        health: @escaping @Sendable () async -> [String: String] = { [:] },
        state: @escaping @Sendable () async -> JSONValue? = { nil },
        openAPI: OpenAPIDocument? = nil
    ) {
        let router = Router(context: ServiceRequestContext.self)
        let catalog = RouteCatalog()
        router.add(
            middleware: RequestIDMiddleware(maxBodyBytes: server.maxBodyBytes, maxJSONDepth: server.maxJSONDepth))
        router.add(middleware: ErrorEnvelopeMiddleware(catalog: catalog))
        router.add(middleware: RequestMetricsMiddleware(metrics: metrics))
        router.get("/health") { _, _ in
            let details = await health()
            let body = HealthResponse(
                status: details["status"] ?? "ok",
                service: identity.name,
                version: identity.version,
                uptimeSeconds: Date().timeIntervalSince(identity.startedAt),
                details: details.filter { $0.key != "status" }
            )
            return try Response.json(body)
        }
        router.get("/metrics") { request, _ in
            switch try MetricsFormat.negotiate(request) {
            case .prometheus:
                var headers = HTTPFields()
                headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
                return Response(
                    status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: metrics.prometheusText()))
                )
            case .json:
                var snapshot = metrics.snapshot(service: identity.name)
                snapshot.state = await state()
                return try Response.json(snapshot)
            }
        }
        if let openAPI {
            // Built from the code at start, so every build serves exactly its own spec.
            let document = ByteBuffer(string: openAPI.json)
            router.get("/openapi.json") { _, _ in
                var headers = HTTPFields()
                headers[.contentType] = "application/json"
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: document))
            }
        }
        self.router = router
        self.catalog = catalog
    }

    /// The operations of the routes above, which every service's document lists.
    static let operations: [OpenAPIOperation] = [
        .json(.get, "/health", id: "health", summary: "Liveness, version and uptime.", answer: HealthResponse.self),
        OpenAPIOperation(
            .get, "/metrics", id: "metrics",
            summary: "Prometheus text (Accept: text/plain or ?format=prometheus) or a JSON snapshot.",
            parameters: [
                .query("format", .enumeration(MetricsFormat.allCases.map(\.rawValue)), "Forces the format.")
            ],
            responses: [
                OpenAPIResponse(
                    status: 200, description: "OK",
                    content: [
                        "application/json": OpenAPIMediaType(DerivedSchema(of: MetricsSnapshot.self)),
                        "text/plain": OpenAPIMediaType(.string),
                    ]),
                .error(400),
            ]),
        .json(.get, "/openapi.json", id: "openapi", summary: "This document.", answer: DerivedSchema(.object)),
    ]

    /// Records the final route table (for 405 answers) and returns the router to serve.
    public func finish() -> Router<ServiceRequestContext> {
        catalog.record(from: router)
        RouteCatalog.observer?(catalog.operations)
        return router
    }
}

/// How `/metrics` answers: Prometheus text for scrapers, JSON for people.
public enum MetricsFormat: String, Sendable, CaseIterable {
    case prometheus, json

    /// `?format=` wins; otherwise an Accept of text/plain or openmetrics gets Prometheus text, anything else JSON.
    public static func negotiate(_ request: Request) throws -> MetricsFormat {
        if let forced = request.uri.queryParameters.get("format") {
            guard let format = MetricsFormat(rawValue: forced) else {
                throw APIError.invalidRequest("Invalid value for 'format': use prometheus or json.", param: "format")
            }
            return format
        }
        let accept = request.headers[.accept]?.lowercased() ?? ""
        if accept.contains("application/openmetrics-text") || accept.contains("text/plain") {
            return .prometheus
        }
        return .json
    }
}

extension Application where Responder == RouterResponder<ServiceRequestContext> {
    /// The application for a finished service router, bound to the configured host and port. `channelHandlers` go into
    /// each connection's pipeline after HTTP decoding and before Hummingbird's request handling.
    public static func service(
        router: ServiceRouter,
        identity: ServiceIdentity,
        server: ServerSettings,
        services: [any Service] = [],
        logger: Logger,
        channelHandlers: @escaping @Sendable () -> [any RemovableChannelHandler] = { [] },
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> Application<RouterResponder<ServiceRequestContext>> {
        Application(
            router: router.finish(),
            server: .http1(configuration: .init(additionalChannelHandlers: channelHandlers())),
            configuration: .init(
                address: .hostname(server.host, port: server.port), serverName: "maitre-\(identity.name)"),
            services: services,
            onServerRunning: onServerRunning,
            logger: logger
        )
    }
}
