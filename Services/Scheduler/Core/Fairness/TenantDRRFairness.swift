/// Deficit round robin over tenants in predicted tokens: each tenant in turn earns `quantumTokens` of credit and is
/// served while its credit covers its next request, so tenants share a class by predicted work, not by request count.
/// A lone tenant is served without keeping credit.
public struct TenantDRRFairness: TenantFairnessPolicy {
    public let quantumTokens: Double
    /// Tenants with waiting requests, in round-robin order.
    private var ring: [String] = []
    private var cursor = 0
    /// Credit of each tenant in the ring, in predicted tokens.
    private var deficits: [String: Double] = [:]

    public init(quantumTokens: Double) {
        self.quantumTokens = quantumTokens
    }

    public mutating func join(_ tenant: String) {
        ring.append(tenant)
    }

    public mutating func leave(_ tenant: String) {
        if let index = ring.firstIndex(of: tenant) {
            ring.remove(at: index)
            if index < cursor { cursor -= 1 }
            if !ring.isEmpty { cursor %= ring.count } else { cursor = 0 }
        }
        deficits[tenant] = nil
    }

    public mutating func candidate() -> String? {
        guard !ring.isEmpty else { return nil }
        cursor %= ring.count
        return ring[cursor]
    }

    public mutating func admits(_ tenant: String, cost: Double) -> Bool {
        if ring.count == 1 { return true }
        // The cursor stays on a tenant while its credit lasts, so asking again returns the same answer.
        if deficits[tenant, default: 0] >= cost { return true }
        deficits[tenant, default: 0] += quantumTokens
        cursor += 1
        return false
    }

    public mutating func charge(_ tenant: String, cost: Double) {
        guard ring.count > 1 else { return }
        deficits[tenant, default: 0] -= cost
    }
}
