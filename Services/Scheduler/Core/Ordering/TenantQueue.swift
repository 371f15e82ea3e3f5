/// The queue of one tenant inside one class: a heap of requests that can still meet their deadline and, for
/// policies that separate them, a heap of those that cannot.
struct TenantQueue: Sendable {
    var feasible = RankHeap()
    var infeasible = RankHeap()
    /// For policies that age by slack, every request again, keyed by the time it becomes urgent. A request served
    /// from one heap leaves a stale copy in the other, dropped when it surfaces (the engine changes its generation).
    var urgent = RankHeap()
    /// Requests that have become urgent, keyed by their rank among urgent requests.
    var urgentReady = RankHeap()
    /// Live requests in this queue (heaps may also hold stale entries of requests that left).
    var count = 0

    /// Adds `entry` to the feasible heap and, for policies that age by slack, a copy keyed by `urgentFromMs` to the
    /// urgent one. (The caller counts it.)
    mutating func insert(_ entry: RankEntry, urgentFromMs: Double?, urgentRank: Double) {
        feasible.push(entry)
        if let urgentFromMs {
            var copy = entry
            copy.key = urgentFromMs
            copy.urgentRank = urgentRank
            urgent.push(copy)
        }
    }

    /// The entry to serve next at `now`, dropping stale entries and moving requests past their latest start to the
    /// infeasible side. `isLive` says whether an entry still stands for a queued request; `isFeasible` whether it can
    /// still meet its deadline; `infeasibleKey` gives its rank there.
    mutating func head(
        now: Double,
        separatesInfeasible: Bool,
        isLive: (RankEntry) -> Bool,
        isFeasible: (RankEntry, Double) -> Bool,
        infeasibleKey: (RankEntry) -> Double
    ) -> RankEntry? {
        while let top = urgent.top, top.key <= now {
            urgent.pop()
            guard isLive(top) else { continue }
            var ready = top
            ready.key = top.urgentRank
            urgentReady.push(ready)
        }
        while let top = urgentReady.top {
            // An urgent request that can no longer make it is left to the feasible heap, which moves it aside.
            if isLive(top) && isFeasible(top, now) { return top }
            urgentReady.pop()
        }
        while let top = feasible.top {
            if !isLive(top) {
                feasible.pop()
                continue
            }
            if separatesInfeasible && !isFeasible(top, now) {
                feasible.pop()
                var moved = top
                moved.key = infeasibleKey(top)
                infeasible.push(moved)
                continue
            }
            return top
        }
        while let top = infeasible.top {
            if isLive(top) { return top }
            infeasible.pop()
        }
        return nil
    }

    /// Removes the entry `head` returned.
    mutating func removeHead(_ entry: RankEntry) {
        if urgentReady.top == entry {
            urgentReady.pop()
        } else if feasible.top == entry {
            feasible.pop()
        } else if infeasible.top == entry {
            infeasible.pop()
        }
        count -= 1
    }
}
