import CoreMetrics
import Foundation
import Hummingbird

/// Counts requests and times them per route and status, into the service's registry.
public struct RequestMetricsMiddleware: RouterMiddleware {
    public typealias Context = ServiceRequestContext
    let metrics: ServiceMetrics

    public init(metrics: ServiceMetrics) {
        self.metrics = metrics
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let route = context.endpointPath ?? "unmatched"
        let dimensions = [("route", route), ("method", request.method.rawValue), ("status", String(response.status.code))]
        Counter(label: "http_requests_total", dimensions: dimensions, factory: metrics.factory).increment()
        CoreMetrics.Timer(label: "http_request_duration_seconds", dimensions: [("route", route), ("method", request.method.rawValue)], factory: metrics.factory)
            .recordElapsed(since: start)
        return response
    }
}

extension CoreMetrics.Timer {
    /// Records the time elapsed since `start` on the continuous clock.
    public func recordElapsed(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let (seconds, attoseconds) = elapsed.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
