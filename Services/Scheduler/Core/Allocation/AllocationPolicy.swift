import Contracts

/// One class as the allocation layer sees it at a decision point.
public struct ClassLoad: Sendable, Equatable {
    public var requestClass: RequestClass
    /// Requests waiting in the class (ready to dispatch).
    public var queued: Int
    /// Tokens the request that would go next reserves; 0 when the class is empty.
    public var headCost: Int
    public var headSubmittedAtMs: Double
    /// How long the next request has waited, in units of its deadline budget.
    public var headAgeBudgets: Double
    /// 0 while the next request has all its slack, 1 once it has none left.
    public var headPressure: Double
    public var inflightTokens: Int
    public var inflightRequests: Int
    /// The class's in-flight budget after the congestion mode and probing scaled it.
    public var budgetTokens: Int

    public init(
        requestClass: RequestClass,
        queued: Int = 0,
        headCost: Int = 0,
        headSubmittedAtMs: Double = 0,
        headAgeBudgets: Double = 0,
        headPressure: Double = 0,
        inflightTokens: Int = 0,
        inflightRequests: Int = 0,
        budgetTokens: Int
    ) {
        self.requestClass = requestClass
        self.queued = queued
        self.headCost = headCost
        self.headSubmittedAtMs = headSubmittedAtMs
        self.headAgeBudgets = headAgeBudgets
        self.headPressure = headPressure
        self.inflightTokens = inflightTokens
        self.inflightRequests = inflightRequests
        self.budgetTokens = budgetTokens
    }

    /// Whether the next request fits the class's own budget (a class with nothing in flight always may send one,
    /// so a request larger than the whole budget cannot block forever).
    public var fitsOwnBudget: Bool {
        queued > 0 && (inflightRequests == 0 || inflightTokens + headCost <= budgetTokens)
    }
    /// Room left in the class's own budget.
    public var idleTokens: Int { max(0, budgetTokens - inflightTokens) }
}

/// Both classes and the shared budget at one decision point.
public struct AllocationView: Sendable, Equatable {
    public var interactive: ClassLoad
    public var heavy: ClassLoad
    public var now: Double

    public init(interactive: ClassLoad, heavy: ClassLoad, now: Double) {
        self.interactive = interactive
        self.heavy = heavy
        self.now = now
    }

    public subscript(requestClass: RequestClass) -> ClassLoad {
        requestClass == .interactive ? interactive : heavy
    }

    public var totalBudgetTokens: Int { interactive.budgetTokens + heavy.budgetTokens }
    public var totalInflightTokens: Int { interactive.inflightTokens + heavy.inflightTokens }
    public var totalInflightRequests: Int { interactive.inflightRequests + heavy.inflightRequests }

    /// Whether the class's next request fits the shared budget (always when nothing at all is in flight).
    public func fitsTotal(_ requestClass: RequestClass) -> Bool {
        let load = self[requestClass]
        return load.queued > 0
            && (totalInflightRequests == 0 || totalInflightTokens + load.headCost <= totalBudgetTokens)
    }
}

/// Layer 1: which class gets the next unit of dispatch capacity, if any. Policies keep their own round state
/// (deficits, turn) and are told what each dispatch cost.
public protocol AllocationPolicy: Sendable {
    var name: AllocationPolicyName { get }
    /// The class to dispatch from next, or nil to dispatch nothing more this round.
    mutating func select(_ view: AllocationView) -> RequestClass?
    /// Charges a dispatch of `tokens` predicted tokens to a class.
    mutating func charge(_ requestClass: RequestClass, tokens: Int)
}

extension AllocationPolicy {
    public mutating func charge(_ requestClass: RequestClass, tokens: Int) {}
}

/// Builds the allocation policy a configuration names.
public func makeAllocationPolicy(_ policy: SchedulerPolicy) -> any AllocationPolicy {
    switch policy.allocation {
    case .adaptiveDRR: return AdaptiveDRRAllocator(policy: policy)
    case .shortPriority: return ShortPriorityAllocator()
    case .fairQueuing: return FairQueuingAllocator()
    case .quotaTiered: return QuotaTieredAllocator()
    case .fifo: return FIFOAllocator()
    }
}

/// Arrival order across classes under the shared budget; the oldest head blocks the line when it does not fit.
public struct FIFOAllocator: AllocationPolicy {
    public var name: AllocationPolicyName { .fifo }
    public init() {}

    public mutating func select(_ view: AllocationView) -> RequestClass? {
        let waiting = RequestClass.allCases.filter { view[$0].queued > 0 }
        guard let oldest = waiting.min(by: { view[$0].headSubmittedAtMs < view[$1].headSubmittedAtMs }) else {
            return nil
        }
        return view.fitsTotal(oldest) ? oldest : nil
    }
}

/// Strict priority to interactive work under the shared budget: heavy work goes only when no interactive work waits.
public struct ShortPriorityAllocator: AllocationPolicy {
    public var name: AllocationPolicyName { .shortPriority }
    public init() {}

    public mutating func select(_ view: AllocationView) -> RequestClass? {
        if view.interactive.queued > 0 { return view.fitsTotal(.interactive) ? .interactive : nil }
        return view.fitsTotal(.heavy) ? .heavy : nil
    }
}

/// Equal turns between backlogged classes (one request each), under the shared budget.
public struct FairQueuingAllocator: AllocationPolicy {
    public var name: AllocationPolicyName { .fairQueuing }
    private var lastServed: RequestClass = .heavy
    public init() {}

    public mutating func select(_ view: AllocationView) -> RequestClass? {
        let next: RequestClass = lastServed == .interactive ? .heavy : .interactive
        for candidate in [next, lastServed] where view.fitsTotal(candidate) {
            lastServed = candidate
            return candidate
        }
        return nil
    }
}

/// Isolation: each class dispatches only within its own in-flight budget (`INTERACTIVE_INFLIGHT_TOKENS`,
/// `HEAVY_INFLIGHT_TOKENS`), taking turns; neither can borrow the other's idle room.
public struct QuotaTieredAllocator: AllocationPolicy {
    public var name: AllocationPolicyName { .quotaTiered }
    private var lastServed: RequestClass = .heavy
    public init() {}

    public mutating func select(_ view: AllocationView) -> RequestClass? {
        let next: RequestClass = lastServed == .interactive ? .heavy : .interactive
        for candidate in [next, lastServed] where view[candidate].fitsOwnBudget {
            lastServed = candidate
            return candidate
        }
        return nil
    }
}
