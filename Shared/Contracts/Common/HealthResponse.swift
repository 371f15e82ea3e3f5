import Foundation

/// Body of `GET /health` on every service.
public struct HealthResponse: Codable, Sendable, Equatable {
    public var status: String
    public var service: String
    public var version: String
    public var uptimeSeconds: Double
    public var details: [String: String]

    public init(
        status: String = "ok", service: String, version: String, uptimeSeconds: Double, details: [String: String] = [:]
    ) {
        self.status = status
        self.service = service
        self.version = version
        self.uptimeSeconds = uptimeSeconds
        self.details = details
    }

    enum CodingKeys: String, CodingKey {
        case status, service, version, details
        case uptimeSeconds = "uptime_seconds"
    }
}

/// JSON form of `GET /metrics`: every metric family with its samples, as Prometheus would scrape them.
public struct MetricsSnapshot: Codable, Sendable, Equatable {
    public var service: String
    public var metrics: [String: MetricFamily]
    /// The service's own readable state (the scheduler's queues and budgets, say), when it has one.
    public var state: JSONValue?

    public init(service: String, metrics: [String: MetricFamily], state: JSONValue? = nil) {
        self.service = service
        self.metrics = metrics
        self.state = state
    }
}

/// One Prometheus metric family in a `MetricsSnapshot`.
public struct MetricFamily: Codable, Sendable, Equatable {
    public var type: String
    public var help: String?
    public var samples: [MetricSample]

    public init(type: String, help: String? = nil, samples: [MetricSample]) {
        self.type = type
        self.help = help
        self.samples = samples
    }
}

/// One sample line of a metric family; `name` differs from the family for histogram `_bucket`/`_sum`/`_count`.
public struct MetricSample: Codable, Sendable, Equatable {
    public var name: String
    public var labels: [String: String]
    public var value: Double

    public init(name: String, labels: [String: String], value: Double) {
        self.name = name
        self.labels = labels
        self.value = value
    }
}

extension HealthResponse: OpenAPIComponent {
    public static let schemaDescription = "Liveness and identity of a service."
}

extension MetricsSnapshot: OpenAPIComponent {
    public static let schemaDescription = "`/metrics` as JSON: metric families plus the service's readable state."
}

extension MetricFamily: OpenAPIComponent {
    public static let schemaDescription = "One Prometheus metric family."
}

extension MetricSample: OpenAPIComponent {
    public static let schemaDescription = "One sample of a metric family."
}
