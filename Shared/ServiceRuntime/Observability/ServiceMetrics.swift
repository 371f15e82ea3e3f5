import CoreMetrics
import Foundation
import Prometheus

/// One service's metrics registry, passed into `buildApplication` so tests get their own registry and the
/// executable bootstraps `MetricsSystem` with the same one.
public struct ServiceMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let factory: PrometheusMetricsFactory

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5),
            .seconds(5), .seconds(10), .seconds(30), .seconds(60),
        ]
        self.factory = factory
    }

    /// Prometheus text exposition of everything registered.
    public func prometheusText() -> String {
        registry.emitToString()
    }

    /// The same figures as JSON: one family per metric name, with labelled samples.
    public func snapshot(service: String) -> MetricsSnapshotBuilder.Snapshot {
        MetricsSnapshotBuilder.parse(prometheusText(), service: service)
    }
}
