import Contracts
import Prometheus
import ServiceLifecycle
import ServiceRuntime

/// Ticks the scheduler every `TICK_MS` (expiry, back-off release, front-door deadlines, mode dwell) and publishes
/// its state as Prometheus gauges.
struct TickService: Service {
    let runtime: SchedulerRuntime
    let tickMs: Int
    let metrics: ServiceMetrics

    func run() async throws {
        var round = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await runtime.tick()
            round += 1
            // Gauges every ~250 ms are plenty for a scraper.
            if round % max(1, 250 / tickMs) == 0 { publish(await runtime.metricsSnapshot()) }
            try? await Task.sleep(for: .milliseconds(tickMs))
        }
        try? await runtime.flush()
    }

    func publish(_ snapshot: SchedulerMetricsSnapshot) {
        let registry = metrics.registry
        func gauge(name: String, labels: [(String, String)] = [], help: String) -> Gauge {
            registry.makeGauge(
                descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
        }
        for requestClass in RequestClass.allCases.map(\.rawValue) {
            let labels = [("class", requestClass)]
            gauge(name: "scheduler_queue_length", labels: labels, help: "Requests waiting, by class.")
                .set(to: Double(snapshot.queueLengthByClass[requestClass] ?? 0))
            gauge(
                name: "scheduler_inflight_tokens", labels: labels, help: "Predicted tokens in flight, by class."
            )
            .set(to: Double(snapshot.inflightTokensByClass[requestClass] ?? 0))
            gauge(
                name: "scheduler_inflight_budget_tokens", labels: labels, help: "In-flight token budget, by class."
            )
            .set(to: Double(snapshot.inflightBudgetByClass[requestClass] ?? 0))
        }
        let mode: Double = snapshot.mode == .free ? 0 : (snapshot.mode == .moderate ? 1 : 2)
        gauge(name: "scheduler_congestion_mode", help: "0 free, 1 moderate, 2 congested.").set(to: mode)
        gauge(
            name: "scheduler_slowdown_ratio",
            help: "Answer latency over its uncongested time (first-token wait included)."
        )
        .set(to: snapshot.slowdownRatio ?? 1)
        gauge(name: "scheduler_inflight_requests", help: "Requests in flight upstream.")
            .set(to: Double(snapshot.inflightRequests ?? 0))
        gauge(
            name: "scheduler_inflight_request_cap",
            help: "Requests the knee estimate allows in flight (0 while no cap applies)."
        )
        .set(to: Double(snapshot.inflightRequestCap ?? 0))
        gauge(
            name: "scheduler_knee_engaged",
            help: "1 once the provider was seen saturated or queueing (the request cap is its knee), else 0."
        )
        .set(to: snapshot.kneeEngaged == true ? 1 : 0)
        gauge(
            name: "scheduler_queue_delay_seconds", help: "Smoothed wait of recent answers in the provider's own queue."
        )
        .set(to: (snapshot.queueDelayMs ?? 0) / 1000)
        gauge(name: "scheduler_dispatched_requests", help: "Requests dispatched since start.").set(
            to: Double(snapshot.dispatchedTotal))
        gauge(name: "scheduler_completed_requests", help: "Requests completed since start.").set(
            to: Double(snapshot.completedTotal))
        gauge(
            name: "scheduler_expired_requests", help: "Requests expired since start (not those cancelled)."
        )
        .set(to: Double(snapshot.expiredTotal))
        gauge(name: "scheduler_failed_requests", help: "Requests failed since start.").set(
            to: Double(snapshot.failedTotal))
        gauge(
            name: "scheduler_cancelled_requests", help: "Requests withdrawn since start because their client left."
        )
        .set(to: Double(snapshot.cancelledTotal ?? 0))
        for (reason, count) in snapshot.rejectedByReason {
            gauge(
                name: "scheduler_rejected_requests", labels: [("reason", reason)],
                help: "Requests rejected since start, by reason."
            )
            .set(to: Double(count))
        }
    }
}
