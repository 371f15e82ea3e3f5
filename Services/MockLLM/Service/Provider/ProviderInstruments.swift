import Prometheus
import ServiceRuntime

/// The provider's Prometheus instruments, made once so the hot path only bumps atomics.
public struct ProviderInstruments: Sendable {
    let inFlight: Gauge
    let queueDepth: Gauge
    let outcomes: [ProviderTotals.Outcome: Counter]
    let promptTokens: Counter
    let completionTokens: Counter

    public init(metrics: ServiceMetrics) {
        let registry = metrics.registry
        func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
        }
        inFlight = registry.makeGauge(
            descriptor: descriptor("mock_llm_in_flight", "Requests being served (the n of tpot(n))."))
        queueDepth = registry.makeGauge(
            descriptor: descriptor("mock_llm_queue_depth", "Requests waiting behind the concurrency cap."))
        var outcomes: [ProviderTotals.Outcome: Counter] = [:]
        for outcome in ProviderTotals.Outcome.allCases {
            outcomes[outcome] = registry.makeCounter(
                descriptor: descriptor("mock_llm_requests_total", "Generation requests by how they ended."),
                labels: [("outcome", outcome.rawValue)])
        }
        self.outcomes = outcomes
        promptTokens = registry.makeCounter(
            descriptor: descriptor("mock_llm_prompt_tokens_total", "Prompt tokens of served requests."))
        completionTokens = registry.makeCounter(
            descriptor: descriptor("mock_llm_completion_tokens_total", "Output tokens generated."))
    }

    func record(_ outcome: ProviderTotals.Outcome, promptTokens: Int, completionTokens: Int) {
        outcomes[outcome]?.increment()
        if promptTokens > 0 { self.promptTokens.increment(by: Int64(promptTokens)) }
        if completionTokens > 0 { self.completionTokens.increment(by: Int64(completionTokens)) }
    }

    func occupancy(inFlight: Int, queueDepth: Int) {
        self.inFlight.set(Double(inFlight))
        self.queueDepth.set(Double(queueDepth))
    }
}
