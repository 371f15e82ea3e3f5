import Contracts

/// Free, moderate or congested, from what a client can observe: the time per output token against its
/// uncongested baseline and the share of 429s, with hysteresis in level and in time. It also steers the
/// capacity scale that keeps dispatch near the provider's knee.
public struct CongestionController: Sendable, Equatable {
    public private(set) var mode: CongestionModeName = .free
    public private(set) var modeSinceMs: Double = -.infinity
    /// Share of recent completions that were rate-limited (EWMA over completions).
    public private(set) var rateLimitedShare: Double = 0
    /// Multiplier on the base budgets found by probing, within the policy's bounds.
    public private(set) var capacityScale: Double = 1

    private var policy: SchedulerPolicy

    public init(policy: SchedulerPolicy) {
        self.policy = policy
    }

    mutating func reconfigure(_ policy: SchedulerPolicy) {
        self.policy = policy
        capacityScale = min(max(capacityScale, policy.minCapacityScale), policy.maxCapacityScale)
    }

    /// Set by the engine once the knee estimator holds the request cap: the cap then keeps the provider at its knee,
    /// and scaling the token budgets on the same slowdown signal as well would throttle twice (a 429 still cuts).
    public var kneeEngaged = false

    /// Budget multiplier of the current mode and probe (only the 429 cut while the knee cap is engaged).
    public var budgetScale: Double {
        if kneeEngaged { return min(1, capacityScale) }
        let modeScale: Double
        switch mode {
        case .free: modeScale = 1
        case .moderate: modeScale = policy.moderateBudgetScale
        case .congested: modeScale = policy.congestedBudgetScale
        }
        return modeScale * capacityScale
    }

    /// Records one completion: whether it was rate-limited, the current slowdown ratio, and how much of the budget
    /// was in use when it finished (probing up only makes sense when the budget is what limits dispatch).
    mutating func recordCompletion(rateLimited: Bool, slowdownRatio: Double, budgetUtilization: Double) {
        let weight = 0.1
        rateLimitedShare += weight * ((rateLimited ? 1 : 0) - rateLimitedShare)
        if rateLimited {
            capacityScale = max(policy.minCapacityScale, capacityScale * 0.85)
        } else if kneeEngaged {
            // Recover from 429 cuts; the knee cap does the rest.
            capacityScale = min(1, max(capacityScale, capacityScale * (1 + policy.probeStep)))
        } else if slowdownRatio >= policy.probeHighRatio {
            capacityScale = max(policy.minCapacityScale, capacityScale * 0.98)
        } else if slowdownRatio <= policy.probeLowRatio, budgetUtilization >= policy.probeUtilization {
            capacityScale = min(policy.maxCapacityScale, capacityScale * (1 + policy.probeStep))
        }
    }

    /// Re-evaluates the mode at `now`; returns the new mode when it changed.
    mutating func update(slowdownRatio ratio: Double, now: Double) -> CongestionModeName? {
        guard now - modeSinceMs >= policy.modeMinDwellMs else { return nil }
        let share = rateLimitedShare
        let target: CongestionModeName
        switch mode {
        case .free:
            if ratio >= policy.congestedEnterRatio
                || share >= policy.congestedEnter429Rate && policy.congestedEnter429Rate > 0
            {
                target = .congested
            } else if ratio >= policy.moderateEnterRatio
                || share >= policy.moderateEnter429Rate && policy.moderateEnter429Rate > 0
            {
                target = .moderate
            } else {
                target = .free
            }
        case .moderate:
            if ratio >= policy.congestedEnterRatio
                || share >= policy.congestedEnter429Rate && policy.congestedEnter429Rate > 0
            {
                target = .congested
            } else if ratio <= policy.moderateExitRatio && share <= policy.moderateExit429Rate {
                target = .free
            } else {
                target = .moderate
            }
        case .congested:
            if ratio <= policy.congestedExitRatio && share <= policy.congestedExit429Rate {
                target = ratio <= policy.moderateExitRatio && share <= policy.moderateExit429Rate ? .free : .moderate
            } else {
                target = .congested
            }
        }
        guard target != mode else { return nil }
        mode = target
        modeSinceMs = now
        return target
    }
}
