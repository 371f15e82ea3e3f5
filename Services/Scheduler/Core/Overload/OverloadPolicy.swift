import Contracts

/// Overload control, at the door: whether a request is admitted now, deferred until the provider recovers, or
/// rejected, from its predicted cost and the provider's congestion mode (`CongestionController`) — nothing else. The
/// engine's own guards (queue bound, infeasible deadlines) come before it.
public protocol OverloadPolicy: Sendable {
    /// What to do with a request of predicted `cost` tokens in `mode`, with the reason for anything but admission.
    func decide(cost: Double, mode: CongestionModeName) -> (action: LadderAction, reason: DecisionReason?)
}

/// Builds the overload policy a configuration describes: the cost ladder of its `ladder` rungs.
public func makeOverloadPolicy(_ policy: SchedulerPolicy) -> any OverloadPolicy {
    CostLadder(rungs: policy.ladder)
}
