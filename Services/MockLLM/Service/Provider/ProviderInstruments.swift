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
        inFlight = registry.makeGauge(name: "mock_llm_in_flight", help: "Requests being served (the n of tpot(n)).")
        queueDepth = registry.makeGauge(
            name: "mock_llm_queue_depth", help: "Requests waiting behind the concurrency cap.")
        var outcomes: [ProviderTotals.Outcome: Counter] = [:]
        for outcome in ProviderTotals.Outcome.allCases {
            outcomes[outcome] = registry.makeCounter(
                name: "mock_llm_requests_total", labels: [("outcome", outcome.rawValue)],
                help: "Generation requests by how they ended."
            )
        }
        self.outcomes = outcomes
        promptTokens = registry.makeCounter(
            name: "mock_llm_prompt_tokens_total", help: "Prompt tokens of served requests.")
        completionTokens = registry.makeCounter(
            name: "mock_llm_completion_tokens_total", help: "Output tokens generated.")
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
