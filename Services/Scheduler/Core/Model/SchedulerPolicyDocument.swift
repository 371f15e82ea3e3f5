import Contracts

/// A configuration value that failed validation; `field` names it as the client spelled it.
public struct PolicyValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}

extension SchedulerPolicy {
    /// A numeric knob carried in the document's `extra` object: its key, where it lives, and its valid range.
    struct NumericKnob: Sendable {
        var key: String
        var path: any WritableKeyPath<SchedulerPolicy, Double> & Sendable
        var range: ClosedRange<Double>
    }

    struct IntegerKnob: Sendable {
        var key: String
        var path: any WritableKeyPath<SchedulerPolicy, Int> & Sendable
        var range: ClosedRange<Int>
    }

    static let numericKnobs: [NumericKnob] = [
        .init(key: "heavy_borrow_fraction", path: \.heavyBorrowFraction, range: 0...1),
        .init(key: "expiry_grace_factor", path: \.expiryGraceFactor, range: 0...1000),
        .init(key: "interactive_quantum_tokens", path: \.interactiveQuantumTokens, range: 1...1e9),
        .init(key: "heavy_quantum_tokens", path: \.heavyQuantumTokens, range: 1...1e9),
        .init(key: "drr_age_gain", path: \.drrAgeGain, range: 0...100),
        .init(key: "drr_pressure_gain", path: \.drrPressureGain, range: 0...100),
        .init(key: "drr_max_boost", path: \.drrMaxBoost, range: 1...1000),
        .init(key: "tenant_quantum_tokens", path: \.tenantQuantumTokens, range: 1...1e9),
        .init(key: "feasible_size_weight", path: \.feasibleSizeWeight, range: 0...100),
        .init(key: "heavy_feasible_size_weight", path: \.heavyFeasibleSizeWeight, range: 0...100),
        .init(key: "interactive_min_short_probability", path: \.interactiveMinShortProbability, range: 0...1),
        .init(key: "expected_work_weight", path: \.expectedWorkWeight, range: 0...1000),
        .init(key: "urgent_slack_share", path: \.urgentSlackShare, range: 0...1),
        .init(key: "untrusted_rank_correlation", path: \.untrustedRankCorrelation, range: -1...1),
        .init(key: "trusted_rank_correlation", path: \.trustedRankCorrelation, range: -1...1),
        .init(key: "initial_prediction_trust", path: \.initialPredictionTrust, range: 0...1),
        .init(key: "priority_step_ms", path: \.priorityStepMs, range: 0...1e9),
        .init(key: "reject_retry_after_ms", path: \.rejectRetryAfterMs, range: 0...1e9),
        .init(key: "moderate_budget_scale", path: \.moderateBudgetScale, range: 0.01...1),
        .init(key: "congested_budget_scale", path: \.congestedBudgetScale, range: 0.01...1),
        .init(key: "moderate_enter_ratio", path: \.moderateEnterRatio, range: 1...1000),
        .init(key: "moderate_exit_ratio", path: \.moderateExitRatio, range: 1...1000),
        .init(key: "congested_enter_ratio", path: \.congestedEnterRatio, range: 1...1000),
        .init(key: "congested_exit_ratio", path: \.congestedExitRatio, range: 1...1000),
        .init(key: "moderate_enter_429_rate", path: \.moderateEnter429Rate, range: 0...1),
        .init(key: "moderate_exit_429_rate", path: \.moderateExit429Rate, range: 0...1),
        .init(key: "congested_enter_429_rate", path: \.congestedEnter429Rate, range: 0...1),
        .init(key: "congested_exit_429_rate", path: \.congestedExit429Rate, range: 0...1),
        .init(key: "mode_min_dwell_ms", path: \.modeMinDwellMs, range: 0...1e9),
        .init(key: "probe_low_ratio", path: \.probeLowRatio, range: 1...1000),
        .init(key: "probe_high_ratio", path: \.probeHighRatio, range: 1...1000),
        .init(key: "probe_step", path: \.probeStep, range: 0...1),
        .init(key: "probe_utilization", path: \.probeUtilization, range: 0...1),
        .init(key: "min_capacity_scale", path: \.minCapacityScale, range: 0.01...100),
        .init(key: "max_capacity_scale", path: \.maxCapacityScale, range: 0.01...100),
        .init(key: "knee_gain", path: \.kneeGain, range: 0...100),
        .init(key: "knee_saturation_ratio", path: \.kneeSaturationRatio, range: 1...1000),
        .init(key: "knee_window_ms", path: \.kneeWindowMs, range: 1...1e9),
        .init(key: "knee_queue_fraction", path: \.kneeQueueFraction, range: 0.01...100),
        .init(key: "heavy_urgent_pressure", path: \.heavyUrgentPressure, range: 0...1),
        .init(key: "prior_ms_per_output_token", path: \.priorMsPerOutputToken, range: 0.001...1e6),
        .init(key: "prior_ttft_ms", path: \.priorTtftMs, range: 0...1e9),
        .init(key: "estimate_alpha", path: \.estimateAlpha, range: 0.0001...1),
        .init(key: "baseline_down_alpha", path: \.baselineDownAlpha, range: 0.0001...1),
        .init(key: "baseline_up_alpha", path: \.baselineUpAlpha, range: 0...1),
        .init(key: "rate_limit_retry_ms", path: \.rateLimitRetryMs, range: 0...1e9),
    ]

    static let integerKnobs: [IntegerKnob] = [
        .init(key: "max_inflight_requests", path: \.maxInflightRequests, range: 1...1_000_000),
        .init(key: "interactive_max_predicted_tokens", path: \.interactiveMaxPredictedTokens, range: 0...10_000_000),
        .init(key: "promote_heavy_max_p90_tokens", path: \.promoteHeavyMaxP90Tokens, range: 0...10_000_000),
        .init(key: "max_attempts", path: \.maxAttempts, range: 1...100),
        .init(key: "knee_minimum_inflight", path: \.kneeMinimumInflight, range: 1...1_000_000),
        .init(key: "knee_startup_inflight", path: \.kneeStartupInflight, range: 0...1_000_000),
        .init(key: "baseline_warmup_samples", path: \.baselineWarmupSamples, range: 1...1000),
    ]

    /// The active configuration as the wire document `POST /admin/config` returns.
    public var document: SchedulerConfigDocument {
        var extra: [String: JSONValue] = [:]
        for knob in Self.numericKnobs { extra[knob.key] = .number(self[keyPath: knob.path]) }
        for knob in Self.integerKnobs { extra[knob.key] = .number(Double(self[keyPath: knob.path])) }
        extra["shed_infeasible_at_submit"] = .bool(shedInfeasibleAtSubmit)
        return SchedulerConfigDocument(
            allocationPolicy: allocation.rawValue,
            orderingPolicy: ordering.rawValue,
            interactiveInflightTokens: interactiveInflightTokens,
            heavyInflightTokens: heavyInflightTokens,
            interactiveDeadlineMs: interactiveDeadlineMs,
            heavyDeadlineMs: heavyDeadlineMs,
            maxQueueLength: maxQueueLength,
            ladder: ladder,
            extra: extra
        )
    }

    /// This policy with the document's present fields applied, validated as a whole; throws naming the first bad field.
    public func applying(_ document: SchedulerConfigDocument) throws -> SchedulerPolicy {
        var next = self
        if let name = document.allocationPolicy {
            guard let value = AllocationPolicyName(rawValue: name) else {
                throw Self.invalid(
                    "allocation_policy", "must be one of \(AllocationPolicyName.allCases.map(\.rawValue))")
            }
            next.allocation = value
        }
        if let name = document.orderingPolicy {
            guard let value = OrderingPolicyName(rawValue: name) else {
                throw Self.invalid("ordering_policy", "must be one of \(OrderingPolicyName.allCases.map(\.rawValue))")
            }
            next.ordering = value
        }
        if let value = document.interactiveInflightTokens { next.interactiveInflightTokens = value }
        if let value = document.heavyInflightTokens { next.heavyInflightTokens = value }
        if let value = document.interactiveDeadlineMs { next.interactiveDeadlineMs = value }
        if let value = document.heavyDeadlineMs { next.heavyDeadlineMs = value }
        if let value = document.maxQueueLength { next.maxQueueLength = value }
        if let value = document.ladder { next.ladder = value }
        for (key, value) in (document.extra ?? [:]).sorted(by: { $0.key < $1.key }) {
            try next.applyExtra(key: key, value: value)
        }
        try next.validate()
        return next
    }

    private mutating func applyExtra(key: String, value: JSONValue) throws {
        if key == "shed_infeasible_at_submit" {
            guard case .bool(let flag) = value else { throw Self.invalid(key, "must be a boolean") }
            shedInfeasibleAtSubmit = flag
            return
        }
        guard case .number(let number) = value else {
            if Self.numericKnobs.contains(where: { $0.key == key })
                || Self.integerKnobs.contains(where: { $0.key == key })
            {
                throw Self.invalid(key, "must be a number")
            }
            throw Self.invalid(key, "is not a scheduler setting")
        }
        if let knob = Self.numericKnobs.first(where: { $0.key == key }) {
            guard number.isFinite, knob.range.contains(number) else {
                throw Self.invalid(key, "must be within \(knob.range.lowerBound)...\(knob.range.upperBound)")
            }
            self[keyPath: knob.path] = number
        } else if let knob = Self.integerKnobs.first(where: { $0.key == key }) {
            guard number.isFinite, number == number.rounded(), knob.range.contains(Int(number)) else {
                throw Self.invalid(key, "must be an integer within \(knob.range.lowerBound)...\(knob.range.upperBound)")
            }
            self[keyPath: knob.path] = Int(number)
        } else {
            throw Self.invalid(key, "is not a scheduler setting")
        }
    }

    /// Checks the relations between fields that no single range can express.
    public func validate() throws {
        guard interactiveInflightTokens > 0 else {
            throw Self.invalid("interactive_inflight_tokens", "must be positive")
        }
        guard heavyInflightTokens > 0 else { throw Self.invalid("heavy_inflight_tokens", "must be positive") }
        guard interactiveDeadlineMs > 0, interactiveDeadlineMs.isFinite else {
            throw Self.invalid("interactive_deadline_ms", "must be a positive number of milliseconds")
        }
        guard heavyDeadlineMs > 0, heavyDeadlineMs.isFinite else {
            throw Self.invalid("heavy_deadline_ms", "must be a positive number of milliseconds")
        }
        guard maxQueueLength > 0 else { throw Self.invalid("max_queue_length", "must be positive") }
        guard moderateExitRatio < moderateEnterRatio else {
            throw Self.invalid("moderate_exit_ratio", "must be below moderate_enter_ratio (hysteresis)")
        }
        guard congestedExitRatio < congestedEnterRatio else {
            throw Self.invalid("congested_exit_ratio", "must be below congested_enter_ratio (hysteresis)")
        }
        guard moderateEnterRatio <= congestedEnterRatio else {
            throw Self.invalid("congested_enter_ratio", "must not be below moderate_enter_ratio")
        }
        guard moderateExit429Rate < moderateEnter429Rate || moderateEnter429Rate == 0 else {
            throw Self.invalid("moderate_exit_429_rate", "must be below moderate_enter_429_rate (hysteresis)")
        }
        guard congestedExit429Rate < congestedEnter429Rate || congestedEnter429Rate == 0 else {
            throw Self.invalid("congested_exit_429_rate", "must be below congested_enter_429_rate (hysteresis)")
        }
        guard probeLowRatio <= probeHighRatio else {
            throw Self.invalid("probe_low_ratio", "must not exceed probe_high_ratio")
        }
        guard minCapacityScale <= maxCapacityScale else {
            throw Self.invalid("min_capacity_scale", "must not exceed max_capacity_scale")
        }
        guard !ladder.isEmpty else { throw Self.invalid("ladder", "needs at least one rung") }
        var previous = -Double.infinity
        for (index, rung) in ladder.enumerated() {
            let isLast = index == ladder.count - 1
            if let bound = rung.maxCost {
                guard bound.isFinite, bound > previous else {
                    throw Self.invalid("ladder[\(index)].max_cost", "must be finite and increase from rung to rung")
                }
                previous = bound
            } else if !isLast {
                throw Self.invalid("ladder[\(index)].max_cost", "only the last rung may omit max_cost")
            }
        }
    }

    private static func invalid(_ field: String, _ message: String) -> PolicyValidationError {
        PolicyValidationError(field: field, message: message)
    }
}
