/// The waiting requests of one class: one `TenantQueue` per tenant, the tenant served next chosen by the class's
/// `TenantFairnessPolicy` and the request inside the tenant by its `OrderingPolicy` ranks.
struct ClassQueue: Sendable {
    private(set) var tenants: [String: TenantQueue] = [:]
    private var fairness: any TenantFairnessPolicy
    /// Live waiting requests in the class.
    private(set) var count = 0

    init(fairness: any TenantFairnessPolicy) {
        self.fairness = fairness
    }

    func count(of tenant: String) -> Int { tenants[tenant]?.count ?? 0 }

    /// Queues `entry`; `urgentFromMs` is when it becomes urgent, for policies that age by slack, and `urgentRank` its
    /// rank among urgent requests from then on.
    mutating func push(_ entry: RankEntry, tenant: String, urgentFromMs: Double? = nil, urgentRank: Double = 0) {
        if tenants[tenant] == nil { tenants[tenant] = TenantQueue() }
        if tenants[tenant]!.count == 0 { fairness.join(tenant) }
        tenants[tenant]!.insert(entry, urgentFromMs: urgentFromMs, urgentRank: urgentRank)
        tenants[tenant]!.count += 1
        count += 1
    }

    /// Ranks every live request again with `rank` (for a slot: its key, when it becomes urgent and its rank then),
    /// keeping each tenant's place in the fairness policy. Ranks are fixed when a request is queued; when what they
    /// are computed from changes (how far predicted sizes are trusted), requests queued before must still compare
    /// fairly with those queued after.
    mutating func rerank(
        isLive: (RankEntry) -> Bool, rank: (Int) -> (key: Double, urgentFromMs: Double?, urgentRank: Double)
    ) {
        for (tenant, queue) in tenants {
            var fresh = TenantQueue()
            fresh.count = queue.count
            var seen = Set<Int>()
            // A live request is in the feasible heap or, once past its latest start, in the infeasible one (the
            // urgent heaps hold copies); the head moves it aside again if it still cannot make its deadline.
            for entry in queue.feasible.entries + queue.infeasible.entries
            where isLive(entry) && seen.insert(entry.slot).inserted {
                let ranks = rank(entry.slot)
                var rekeyed = entry
                rekeyed.key = ranks.key
                fresh.insert(rekeyed, urgentFromMs: ranks.urgentFromMs, urgentRank: ranks.urgentRank)
            }
            tenants[tenant] = fresh
        }
    }

    /// A request left the queue by another way than `serve` (expiry, cancellation); its heap entry goes lazily.
    mutating func forget(tenant: String) {
        guard var queue = tenants[tenant], queue.count > 0 else { return }
        queue.count -= 1
        count -= 1
        tenants[tenant] = queue
        if queue.count == 0 { drop(tenant) }
    }

    /// The tenant and request to serve next: the tenant the fairness policy admits, with its head request.
    mutating func selectHead(
        now: Double,
        ordering: any OrderingPolicy,
        isLive: (RankEntry) -> Bool,
        isFeasible: (RankEntry, Double) -> Bool,
        infeasibleKey: (RankEntry) -> Double,
        cost: (RankEntry) -> Double
    ) -> (tenant: String, entry: RankEntry)? {
        guard count > 0 else { return nil }
        while let tenant = fairness.candidate() {
            let head = tenants[tenant]!.head(
                now: now,
                separatesInfeasible: ordering.separatesInfeasible,
                isLive: isLive,
                isFeasible: isFeasible,
                infeasibleKey: infeasibleKey
            )
            guard let entry = head else {
                drop(tenant)
                continue
            }
            if fairness.admits(tenant, cost: cost(entry)) { return (tenant, entry) }
        }
        return nil
    }

    /// Serves the request `selectHead` returned and charges its tenant.
    mutating func serve(_ entry: RankEntry, tenant: String, cost: Double) {
        guard tenants[tenant] != nil else { return }
        tenants[tenant]!.removeHead(entry)
        fairness.charge(tenant, cost: cost)
        count -= 1
        if tenants[tenant]!.count == 0 { drop(tenant) }
    }

    /// All live entries, for re-ranking after a policy change (in no particular order).
    func allEntries() -> [RankEntry] {
        tenants.values.flatMap { $0.feasible.entries + $0.infeasible.entries }
    }

    private mutating func drop(_ tenant: String) {
        fairness.leave(tenant)
        tenants[tenant] = nil
    }
}
