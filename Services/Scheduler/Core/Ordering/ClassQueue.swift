/// The waiting requests of one class: one `TenantQueue` per tenant, served by deficit round robin over tenants so
/// that one noisy tenant cannot starve the others inside the class.
struct ClassQueue: Sendable {
    private(set) var tenants: [String: TenantQueue] = [:]
    /// Tenants with waiting requests, in round-robin order.
    private(set) var ring: [String] = []
    private var cursor = 0
    /// Live waiting requests in the class.
    private(set) var count = 0

    func count(of tenant: String) -> Int { tenants[tenant]?.count ?? 0 }

    /// Queues `entry`; `urgentFromMs` is when it becomes urgent, for policies that age by slack.
    mutating func push(_ entry: RankEntry, tenant: String, urgentFromMs: Double? = nil) {
        if tenants[tenant] == nil { tenants[tenant] = TenantQueue() }
        if tenants[tenant]!.count == 0 { ring.append(tenant) }
        tenants[tenant]!.feasible.push(entry)
        if let urgentFromMs {
            var copy = entry
            copy.key = urgentFromMs
            tenants[tenant]!.urgent.push(copy)
        }
        tenants[tenant]!.count += 1
        count += 1
    }

    /// A request left the queue by another way than `serve` (expiry, cancellation); its heap entry goes lazily.
    mutating func forget(tenant: String) {
        guard var queue = tenants[tenant], queue.count > 0 else { return }
        queue.count -= 1
        count -= 1
        tenants[tenant] = queue
        if queue.count == 0 { drop(tenant) }
    }

    /// The tenant and request to serve next: deficit round robin over tenants in predicted tokens.
    mutating func selectHead(
        now: Double,
        quantum: Double,
        ordering: any OrderingPolicy,
        isLive: (RankEntry) -> Bool,
        isFeasible: (RankEntry, Double) -> Bool,
        infeasibleKey: (RankEntry) -> Double,
        cost: (RankEntry) -> Double
    ) -> (tenant: String, entry: RankEntry)? {
        guard count > 0 else { return nil }
        func head(_ tenant: String) -> RankEntry? {
            tenants[tenant]!.head(
                now: now,
                separatesInfeasible: ordering.separatesInfeasible,
                isLive: isLive,
                isFeasible: isFeasible,
                infeasibleKey: infeasibleKey
            )
        }
        if ring.count == 1, let entry = head(ring[0]) { return (ring[0], entry) }
        while !ring.isEmpty {
            cursor %= ring.count
            let tenant = ring[cursor]
            guard let entry = head(tenant) else {
                drop(tenant)
                continue
            }
            let needed = cost(entry)
            // The cursor stays on a tenant while its credit lasts, so asking again returns the same answer.
            if tenants[tenant]!.deficit >= needed { return (tenant, entry) }
            tenants[tenant]!.deficit += quantum
            cursor += 1
        }
        return nil
    }

    /// Serves the request `selectHead` returned and charges its tenant.
    mutating func serve(_ entry: RankEntry, tenant: String, cost: Double) {
        guard tenants[tenant] != nil else { return }
        tenants[tenant]!.removeHead(entry)
        if ring.count > 1 { tenants[tenant]!.deficit -= cost }
        count -= 1
        if tenants[tenant]!.count == 0 { drop(tenant) }
    }

    /// All live entries, for re-ranking after a policy change.
    func allEntries() -> [(tenant: String, entry: RankEntry)] {
        var result: [(String, RankEntry)] = []
        for tenant in ring {
            guard let queue = tenants[tenant] else { continue }
            for entry in queue.feasible.entries + queue.infeasible.entries { result.append((tenant, entry)) }
        }
        return result
    }

    private mutating func drop(_ tenant: String) {
        if let index = ring.firstIndex(of: tenant) {
            ring.remove(at: index)
            if index < cursor { cursor -= 1 }
            if !ring.isEmpty { cursor %= ring.count } else { cursor = 0 }
        }
        tenants[tenant] = nil
    }
}
