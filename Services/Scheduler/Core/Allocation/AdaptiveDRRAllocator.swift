import Contracts

/// Adaptive deficit round robin (default). Each class earns a quantum of predicted tokens per round and spends it on
/// dispatches; quanta grow with the head request's age (measured in its deadline budget) and deadline pressure, so
/// heavy work ages into its share instead of starving.
///
/// Capacity: interactive work may use its own budget plus any idle heavy room (short requests give borrowed room
/// back quickly); heavy work may use its own budget plus only a share of idle interactive room, rising with its
/// deadline pressure, so a burst of short requests finds room without waiting for a long request to finish.
public struct AdaptiveDRRAllocator: AllocationPolicy {
    public var name: AllocationPolicyName { .adaptiveDRR }
    public private(set) var deficits: [RequestClass: Double] = [.interactive: 0, .heavy: 0]
    private var turn: RequestClass = .interactive
    private var contested = false
    private let policy: SchedulerPolicy

    public init(policy: SchedulerPolicy) {
        self.policy = policy
    }

    /// The quantum a class earns this round.
    public func quantum(_ load: ClassLoad) -> Double {
        let base = load.requestClass == .interactive ? policy.interactiveQuantumTokens : policy.heavyQuantumTokens
        let boost = 1 + policy.drrAgeGain * load.headAgeBudgets + policy.drrPressureGain * load.headPressure
        return base * min(boost, policy.drrMaxBoost)
    }

    /// Whether the class's next request fits its capacity as described on the type.
    public func fits(_ requestClass: RequestClass, _ view: AllocationView) -> Bool {
        let load = view[requestClass]
        guard load.queued > 0 else { return false }
        guard load.inflightRequests > 0 else { return true }
        let other = view[requestClass == .interactive ? .heavy : .interactive]
        let borrowable: Double
        if requestClass == .interactive {
            borrowable = Double(other.idleTokens)
        } else {
            let share = policy.heavyBorrowFraction + (1 - policy.heavyBorrowFraction) * load.headPressure
            borrowable = other.queued > 0 ? 0 : share * Double(other.idleTokens)
        }
        return Double(load.inflightTokens + load.headCost) <= Double(load.budgetTokens) + borrowable
    }

    public mutating func select(_ view: AllocationView) -> RequestClass? {
        for requestClass in RequestClass.allCases where view[requestClass].queued == 0 {
            deficits[requestClass] = 0
        }
        let eligible = RequestClass.allCases.filter { fits($0, view) }
        contested = eligible.count > 1
        guard contested else { return eligible.first }
        while true {
            let load = view[turn]
            if deficits[turn, default: 0] >= Double(load.headCost) { return turn }
            deficits[turn, default: 0] += quantum(load)
            turn = turn == .interactive ? .heavy : .interactive
        }
    }

    public mutating func charge(_ requestClass: RequestClass, tokens: Int) {
        guard contested else { return }
        deficits[requestClass, default: 0] -= Double(tokens)
    }
}
