import Contracts

/// Overload control over predicted cost: the first rung whose bound covers a request's cost decides, per congestion
/// mode, whether it is admitted now, deferred until the provider recovers, or rejected with a reason.
public struct CostLadder: OverloadPolicy, Equatable {
    public var rungs: [LadderRungDocument]

    public init(rungs: [LadderRungDocument]) {
        self.rungs = rungs
    }

    /// The rung a cost falls on (the last one catches everything).
    public func rungIndex(cost: Double) -> Int {
        rungs.firstIndex { rung in rung.maxCost.map { cost <= $0 } ?? true } ?? max(rungs.count - 1, 0)
    }

    /// What to do with a request of this cost in this mode, with the reason for anything but admission.
    public func decide(cost: Double, mode: CongestionModeName) -> (action: LadderAction, reason: DecisionReason?) {
        guard !rungs.isEmpty else { return (.admit, nil) }
        let index = rungIndex(cost: cost)
        let rung = rungs[index]
        let action: LadderAction
        switch mode {
        case .free: action = rung.free
        case .moderate: action = rung.moderate
        case .congested: action = rung.congested
        }
        let bound =
            rung.maxCost.map { "≤ \(Int($0))" } ?? "above \(Int(rungs.count > 1 ? rungs[index - 1].maxCost ?? 0 : 0))"
        let costText = "Predicted cost \(Int(cost)) tokens falls on ladder rung \(index) (\(bound))"
        switch action {
        case .admit:
            return (.admit, nil)
        case .defer:
            return (
                .defer,
                ReasonCode.ladderDefer.reason("\(costText), which waits while the provider is \(mode.rawValue).")
            )
        case .reject:
            return (
                .reject,
                ReasonCode.ladderReject.reason("\(costText), which is refused while the provider is \(mode.rawValue).")
            )
        }
    }
}
