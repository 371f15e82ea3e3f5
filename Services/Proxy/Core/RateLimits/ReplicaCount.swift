/// How many proxy replicas share the accounts, as this replica divides their limits: a rise in the replicas the
/// heartbeat sees alive counts at once (every share shrinks before the newcomer sends), a fall only once it has lasted
/// `shrinkAfter` seconds. A replica whose heartbeat is late (a loaded machine, a slow database) drops out of the
/// others' count while it still sends on its share; counted at once, the others would grow theirs and together pass
/// the account's limit.
public struct ReplicaCount: Sendable {
    public private(set) var replicas = 1
    public let shrinkAfter: Double
    /// Since when the heartbeat has seen fewer replicas than `replicas`, and the most it saw since.
    private var fewerSince: (time: Double, most: Int)?

    public init(shrinkAfter: Double) {
        self.shrinkAfter = shrinkAfter
    }

    /// Records what a heartbeat saw at `now`.
    public mutating func observe(alive: Int, now: Double) {
        let alive = max(1, alive)
        if alive >= replicas {
            fewerSince = nil
            replicas = alive
        } else if let since = fewerSince {
            let most = max(since.most, alive)
            if now - since.time >= shrinkAfter {
                fewerSince = nil
                replicas = most
            } else {
                fewerSince = (since.time, most)
            }
        } else {
            fewerSince = (now, alive)
        }
    }
}
