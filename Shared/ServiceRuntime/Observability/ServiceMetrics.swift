import CoreMetrics
import Foundation
import NIOConcurrencyHelpers
import Prometheus

/// One service's metrics registry, passed into `buildApplication` so tests get their own registry and the
/// executable bootstraps `MetricsSystem` with the same one.
public struct ServiceMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let factory: PrometheusMetricsFactory
    private let descriptions: MetricDescriptions

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5),
            .seconds(5), .seconds(10), .seconds(30), .seconds(60),
        ]
        self.factory = factory
        self.descriptions = MetricDescriptions()
        describe("http_requests_total", "HTTP requests served, by route, method and status.")
        describe("http_request_duration_seconds", "Time to answer HTTP requests, by route and method.")
    }

    /// Sets the `# HELP` text of a metric family, however the metric itself is created.
    public func describe(_ name: String, _ help: String) {
        descriptions.set(name, help)
    }

    /// Prometheus text exposition of everything registered, with a `# HELP` line for every family
    /// (the described text, or one derived from the name) so `promtool check metrics` passes.
    public func prometheusText() -> String {
        let raw = registry.emitToString()
        var output = ""
        output.reserveCapacity(raw.utf8.count + 256)
        var helped = Set<Substring>()
        for line in raw.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# HELP ") {
                if let name = line.dropFirst(7).split(separator: " ").first { helped.insert(name) }
            } else if line.hasPrefix("# TYPE "), let name = line.dropFirst(7).split(separator: " ").first,
                !helped.contains(name)
            {
                output += "# HELP \(name) \(descriptions.text(for: String(name)))\n"
                helped.insert(name)
            }
            output += line
            output += "\n"
        }
        while output.hasSuffix("\n\n") { output.removeLast() }
        if !output.isEmpty && !output.hasSuffix("\n") { output += "\n" }
        return output
    }

    /// The same figures as JSON: one family per metric name, with labelled samples.
    public func snapshot(service: String) -> MetricsSnapshotBuilder.Snapshot {
        MetricsSnapshotBuilder.parse(prometheusText(), service: service)
    }
}

/// Help texts of metric families, settable after the registry exists.
final class MetricDescriptions: Sendable {
    private let texts = NIOLockedValueBox<[String: String]>([:])

    func set(_ name: String, _ help: String) {
        texts.withLockedValue { $0[name] = help.replacingOccurrences(of: "\n", with: " ") }
    }

    func text(for name: String) -> String {
        texts.withLockedValue { $0[name] } ?? name.replacingOccurrences(of: "_", with: " ").capitalizedFirst + "."
    }
}

extension String {
    var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
}
