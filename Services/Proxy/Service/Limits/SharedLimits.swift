import Foundation
import Logging
import Prometheus
import ProxyCore
import ServiceLifecycle
import Synchronization

/// Where the account limits of this proxy come from, for `/health`.
public enum LimitsMode: String, Sendable {
    /// No shared store: each proxy enforces the configured limits alone.
    case local
    /// Slices leased from PostgreSQL: the limits hold across every proxy sharing the database.
    case shared
    /// The database is unreachable: this proxy enforces its share, the limits divided by the replicas last seen.
    case localShare = "local_share"
}

/// Keeps the dispatcher's limited accounts supplied with slices of their per-minute limits leased from PostgreSQL, in
/// the background, so a call finds a slice in hand and never waits on the database while the account is busy. Gives
/// back what expires unspent. When the database fails, every account falls back to its local share (the limits divided
/// by the replicas last seen alive) until a heartbeat succeeds again. Concurrency is never leased (a call would wait
/// on the database twice): each account's `max_concurrency` is divided by the replicas the heartbeat sees alive (a
/// fall in that count only once it has lasted a heartbeat lease, `ReplicaCount`).
final class SharedLimits: Service, Sendable {
    struct State {
        var degradedReason: String?
        var replicas = ReplicaCount(shrinkAfter: SharedLimits.heartbeatLeaseMs / 1000)
        var leasing: Set<Int> = []
        /// Accounts whose last lease was refused (their window is full), with when to ask again.
        var refusedUntil: [Int: Double] = [:]
    }

    let store: SharedLimitStore
    let dispatcher: AccountDispatcher
    let policy: SliceLeasePolicy
    let metrics: ProxyMetrics
    let logger: Logger
    private let state = Mutex(State())
    private let clock = MonotonicClock()

    /// How often the loop looks for accounts that need a slice.
    static let tick = Duration.milliseconds(20)
    /// How long a refused account waits before asking again.
    static let refusedBackoff = 0.1
    /// Heartbeat period; a replica counts as alive for `heartbeatLease` after its last one.
    static let heartbeatEvery = 1.0
    static let heartbeatLeaseMs = 5_000.0
    static let pruneEvery = 60.0
    /// The longest one database call may take before the limits fall back to the local share.
    static let operationTimeout = Duration.seconds(2)

    init(
        store: SharedLimitStore, dispatcher: AccountDispatcher, policy: SliceLeasePolicy, metrics: ProxyMetrics,
        logger: Logger
    ) {
        self.store = store
        self.dispatcher = dispatcher
        self.policy = policy
        self.metrics = metrics
        self.logger = logger
        _ = dispatcher.setRateSource(.shared(LeasedRateBudget()))
    }

    /// The mode and, when degraded, why; with the replicas last seen alive.
    var status: (mode: LimitsMode, reason: String?, replicas: Int) {
        state.withLock { ($0.degradedReason == nil ? .shared : .localShare, $0.degradedReason, $0.replicas.replicas) }
    }

    func run() async throws {
        var nextHeartbeat = 0.0
        var nextPrune = clock.now() + Self.pruneEvery
        await withDiscardingTaskGroup { group in
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                let now = clock.now()
                if now >= nextHeartbeat {
                    nextHeartbeat = now + Self.heartbeatEvery
                    await heartbeat()
                }
                if now >= nextPrune {
                    nextPrune = now + Self.pruneEvery
                    group.addTask { try? await self.store.prune() }
                }
                if state.withLock({ $0.degradedReason == nil }) { plan(now: now, group: &group) }
                try? await Task.sleep(for: Self.tick)
            }
        }
        // A clean stop: what is in hand goes back, and this replica leaves the count.
        let held = dispatcher.setRateSource(.localShare(replicas: status.replicas))
        if status.mode == .shared {
            try? await store.giveBack(held.flatMap(\.slices))
            try? await store.leave()
        }
    }

    private func plan(now: Double, group: inout DiscardingTaskGroup) {
        let busy = state.withLock { state -> Set<Int> in
            state.refusedUntil = state.refusedUntil.filter { $0.value > now }
            return state.leasing.union(state.refusedUntil.keys)
        }
        let (requests, expired) = dispatcher.planLeases(policy: policy, leasing: busy)
        if !expired.isEmpty {
            let slices = expired.flatMap(\.slices)
            group.addTask { try? await self.store.giveBack(slices) }
        }
        for request in requests {
            state.withLock { _ = $0.leasing.insert(request.account) }
            group.addTask { await self.lease(request) }
        }
    }

    private func lease(_ request: SliceRequest) async {
        let deployment = dispatcher.deployments[request.account]
        // Counted from before the question: the slice is spent within its validity of the store's grant time.
        let asked = clock.now()
        do {
            let grant = try await store.lease(
                account: deployment.name, request, rpm: deployment.rpm, tpm: deployment.tpm,
                windowMs: policy.windowSeconds * 1000)
            state.withLock { state in
                state.leasing.remove(request.account)
                if grant == nil || grant?.requests == 0 && grant?.tokens == 0 {
                    state.refusedUntil[request.account] = asked + Self.refusedBackoff
                }
            }
            guard let grant else {
                metrics.limitLeases(.refused).increment()
                return
            }
            metrics.limitLeases(grant.requests == 0 && grant.tokens == 0 ? .refused : .granted).increment()
            dispatcher.addSlice(
                RateSlice(
                    id: grant.id, requests: grant.requests, tokens: grant.tokens,
                    usableUntil: asked + policy.validitySeconds),
                account: request.account, settledDebt: grant.settledDebt)
        } catch {
            state.withLock { _ = $0.leasing.remove(request.account) }
            metrics.limitLeases(.failed).increment()
            degrade("lease for \(deployment.name) failed: \(error)")
        }
    }

    private func heartbeat() async {
        do {
            let alive = try await store.heartbeat(leaseMs: Self.heartbeatLeaseMs)
            let now = clock.now()
            let (replicas, recovered) = state.withLock { state -> (Int, Bool) in
                state.replicas.observe(alive: alive, now: now)
                defer { state.degradedReason = nil }
                return (state.replicas.replicas, state.degradedReason != nil)
            }
            dispatcher.shareConcurrency(replicas: replicas)
            if recovered {
                _ = dispatcher.setRateSource(.shared(LeasedRateBudget()))
                metrics.limitsLocalShare.set(to: 0.0)
                logger.notice("shared account limits restored", metadata: ["replicas": "\(replicas)"])
            }
        } catch {
            degrade("heartbeat failed: \(error)")
        }
    }

    /// Falls back to the local share (once; later failures only update the reason).
    private func degrade(_ reason: String) {
        let (first, replicas) = state.withLock { state -> (Bool, Int) in
            defer { state.degradedReason = reason }
            return (state.degradedReason == nil, state.replicas.replicas)
        }
        guard first else { return }
        // Slices in hand are dropped: the store counts them until they age out, and this replica now counts alone.
        _ = dispatcher.setRateSource(.localShare(replicas: replicas))
        metrics.limitsLocalShare.set(to: 1.0)
        logger.warning(
            "shared account limits unavailable; enforcing this replica's share",
            metadata: ["reason": "\(reason)", "replicas": "\(replicas)"])
    }
}
