/// Layer 2: which tenant inside a class is served next, so that one noisy tenant cannot starve the others. A policy
/// sees tenant names and what each tenant's next request costs, never the queues themselves; it keeps its own round
/// state (credits, turn) and is told what each dispatch cost.
///
/// The class queue asks for a `candidate`, checks that the tenant still has a request, and offers its cost to
/// `admits`; a policy that declines moves on, so asking again walks the tenants in the policy's order.
public protocol TenantFairnessPolicy: Sendable {
    /// A tenant that had nothing waiting has a request now.
    mutating func join(_ tenant: String)
    /// A tenant has nothing waiting any more; the policy forgets its round state.
    mutating func leave(_ tenant: String)
    /// The tenant to consider next, nil when none waits.
    mutating func candidate() -> String?
    /// Whether `tenant` (the last candidate) is served now with a next request of `cost` predicted tokens; when not,
    /// the policy moves on to another candidate.
    mutating func admits(_ tenant: String, cost: Double) -> Bool
    /// Charges a dispatch of `cost` predicted tokens to a tenant.
    mutating func charge(_ tenant: String, cost: Double)
}

/// Builds the tenant fairness policy a configuration describes (deficit round robin over tenants is the one there
/// is; `tenant_quantum_tokens` sets its quantum).
public func makeTenantFairnessPolicy(_ policy: SchedulerPolicy) -> any TenantFairnessPolicy {
    TenantDRRFairness(quantumTokens: policy.tenantQuantumTokens)
}
