import CoreMetrics
import Foundation
import Hummingbird
import NIOConcurrencyHelpers

/// Counts requests and times them per route and status, into the service's registry. The metric objects are
/// made once per route, method and status and kept, so the hot path does no registry look-up.
public struct RequestMetricsMiddleware: RouterMiddleware {
    public typealias Context = ServiceRequestContext
    let metrics: ServiceMetrics
    private let instruments = RequestInstruments()

    public init(metrics: ServiceMetrics) {
        self.metrics = metrics
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let route = context.endpointPath ?? "unmatched"
        let (counter, timer) = instruments.get(
            route: route, method: request.method.rawValue, status: Int(response.status.code), factory: metrics.factory
        )
        counter.increment()
        timer.recordElapsed(since: start)
        return response
    }
}

/// The request counter and timer of each route, method and status seen so far.
public final class RequestInstruments: Sendable {
    private struct Key: Hashable {
        var route: String
        var method: String
        var status: Int
    }

    public init() {}

    private let cache = NIOLockedValueBox<[Key: (CoreMetrics.Counter, CoreMetrics.Timer)]>([:])

    public func get(route: String, method: String, status: Int, factory: any MetricsFactory) -> (
        CoreMetrics.Counter, CoreMetrics.Timer
    ) {
        let key = Key(route: route, method: method, status: status)
        return cache.withLockedValue { cache in
            if let found = cache[key] { return found }
            let made = (
                Counter(
                    label: "http_requests_total",
                    dimensions: [("route", route), ("method", method), ("status", String(status))], factory: factory),
                CoreMetrics.Timer(
                    label: "http_request_duration_seconds", dimensions: [("route", route), ("method", method)],
                    factory: factory)
            )
            cache[key] = made
            return made
        }
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
