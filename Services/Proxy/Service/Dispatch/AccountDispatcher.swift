import Contracts
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Prometheus
import ProxyCore
import ServiceRuntime

/// Why a request could not get a slot.
public enum DispatchError: Error, APIErrorConvertible {
    case unknownModel(String, known: [String])
    case queueFull(model: String, retryAfter: Double)
    case deadlinePassed(model: String, retryAfter: Double)

    public var apiError: APIError {
        switch self {
        case .unknownModel(let model, let known):
            let list = known.isEmpty ? "none" : known.joined(separator: ", ")
            return .notFound(
                "The model `\(model)` does not exist or you do not have access to it. Known models: \(list).",
                code: "model_not_found", param: "model")
        case .queueFull(let model, let retryAfter):
            return .rateLimited(
                "Every upstream account for `\(model)` is at capacity and the proxy's wait queue is full; retry later.",
                retryAfterSeconds: retryAfter, code: "proxy_queue_full")
        case .deadlinePassed(let model, let retryAfter):
            return .rateLimited(
                "No upstream account for `\(model)` had room before the request's deadline.",
                retryAfterSeconds: retryAfter, code: "proxy_queue_timeout")
        }
    }
}

/// Monotonic seconds, the time base of the pool.
public struct MonotonicClock: Sendable {
    public init() {}

    public func now() -> Double { Double(NIODeadline.now().uptimeNanoseconds) / 1e9 }
}

/// Hands out slots on upstream accounts from the `AccountPool`, and when every window of a model is full,
/// parks the caller in a bounded queue, earliest deadline first, until a slot frees, a cooldown ends or its deadline passes.
/// State sits behind one mutex that is never held across an `await`.
public final class AccountDispatcher: Sendable {
    struct Waiter {
        let id: Int
        let model: String
        let tokens: Int
        let excluded: Set<Int>
        let deadline: Double
        let continuation: CheckedContinuation<Lease?, any Error>
        var timer: Task<Void, Never>?
    }

    struct State {
        var pool: AccountPool
        var waiters: [Waiter] = []
        var cancelled: Set<Int> = []
        var nextID = 0
    }

    private let state: NIOLockedValueBox<State>
    public let deployments: [Deployment]
    public let queueLimit: Int
    let metrics: ProxyMetrics
    let clock: MonotonicClock

    public init(
        deployments: [Deployment], settings: PoolSettings, queueLimit: Int, metrics: ProxyMetrics,
        clock: MonotonicClock = MonotonicClock()
    ) {
        self.state = NIOLockedValueBox(State(pool: AccountPool(deployments: deployments, settings: settings)))
        self.deployments = deployments
        self.queueLimit = queueLimit
        self.metrics = metrics
        self.clock = clock
        let pool = AccountPool(deployments: deployments, settings: settings)
        for (index, account) in pool.accounts.enumerated() {
            metrics.record(account: index, window: account.window.size, inFlight: 0, cooling: false)
        }
    }

    /// Model names clients may ask for.
    public var modelNames: [String] { state.withLockedValue { $0.pool.modelNames } }

    /// Whether `model` is served by some deployment.
    public func serves(_ model: String) -> Bool { state.withLockedValue { $0.pool.accountIndices(for: model) != nil } }

    /// A copy of the pool, for `/_stats`.
    public func snapshot() -> (pool: AccountPool, queueDepth: Int) {
        state.withLockedValue { ($0.pool, $0.waiters.count) }
    }

    /// A slot on an account serving `model`, waiting in the queue when needed. Throws `DispatchError` when
    /// the model is unknown, the queue is full, or `deadline` (monotonic seconds) passes first.
    public func acquire(model: String, tokens: Int, excluding excluded: Set<Int> = [], deadline: Double) async throws
        -> Lease
    {
        while true {
            let now = clock.now()
            let (first, window, inFlight) = state.withLockedValue { state -> (Acquisition, Double, Int) in
                let result = state.pool.acquire(model: model, tokens: tokens, excluding: excluded, now: now)
                guard case .granted(let lease) = result else { return (result, 0, 0) }
                let account = state.pool.accounts[lease.account]
                return (result, account.window.size, account.inFlight)
            }
            switch first {
            case .granted(let lease):
                metrics.record(account: lease.account, window: window, inFlight: inFlight, cooling: false)
                return lease
            case .unknownModel:
                throw DispatchError.unknownModel(model, known: modelNames)
            case .wait(let retryAt):
                if now >= deadline { throw timeout(model) }
                if let lease = try await wait(
                    model: model, tokens: tokens, excluded: excluded, deadline: deadline, retryAt: retryAt)
                {
                    recordAccount(lease.account)
                    return lease
                }
            }
        }
    }

    /// A slot at once when an account serving `model` has room, else nil (the caller then waits in `acquire`).
    public func tryAcquire(model: String, tokens: Int, excluding excluded: Set<Int> = []) -> Lease? {
        let now = clock.now()
        let granted = state.withLockedValue { state -> (Lease, Double, Int)? in
            guard
                case .granted(let lease) = state.pool.acquire(
                    model: model, tokens: tokens, excluding: excluded, now: now)
            else { return nil }
            let account = state.pool.accounts[lease.account]
            return (lease, account.window.size, account.inFlight)
        }
        guard let (lease, window, inFlight) = granted else { return nil }
        metrics.record(account: lease.account, window: window, inFlight: inFlight, cooling: false)
        return lease
    }

    typealias Grant = (continuation: CheckedContinuation<Lease?, any Error>, lease: Lease, timer: Task<Void, Never>?)

    /// Returns a slot with its outcome and hands freed room to waiting callers, earliest deadline first.
    public func release(_ lease: Lease, outcome: UpstreamAttemptOutcome) {
        let now = clock.now()
        let (result, account, depth, granted) = state.withLockedValue { state in
            let result = state.pool.release(lease, outcome: outcome, now: now)
            let granted = Self.grantWaiting(&state, now: now)
            return (result, state.pool.accounts[lease.account], state.waiters.count, granted)
        }
        metrics.record(outcome: outcome, account: lease.account, cooledDown: result.cooledDown)
        metrics.record(
            account: lease.account, window: account.window.size, inFlight: account.inFlight,
            cooling: account.cooldownUntil > now)
        metrics.queueDepth.set(Double(depth))
        resume(granted)
    }

    /// A stream's first byte arrived after `latencyMs`: the account's window learns from it now (see
    /// `AccountPool.observeFirstByte`), and room it gains goes to waiting callers at once.
    public func observeFirstByte(_ lease: Lease, latencyMs: Double, paced: Bool = false) {
        let now = clock.now()
        let (change, account, depth, granted) = state.withLockedValue { state in
            let change = state.pool.observeFirstByte(lease, latencyMs: latencyMs, paced: paced)
            let granted = change == .increased ? Self.grantWaiting(&state, now: now) : []
            return (change, state.pool.accounts[lease.account], state.waiters.count, granted)
        }
        guard change != .unchanged else { return }
        metrics.record(
            account: lease.account, window: account.window.size, inFlight: account.inFlight,
            cooling: account.cooldownUntil > now)
        metrics.queueDepth.set(Double(depth))
        resume(granted)
    }

    /// What to lease from the shared store and give back to it now (see `AccountPool.planLeases`).
    func planLeases(policy: SliceLeasePolicy, leasing: Set<Int>) -> (requests: [SliceRequest], expired: [ExpiredSlices])
    {
        let now = clock.now()
        return state.withLockedValue { $0.pool.planLeases(policy: policy, leasing: leasing, now: now) }
    }

    /// Adds a slice leased for `account`; callers waiting for room get it at once.
    func addSlice(_ slice: RateSlice, account: Int, settledDebt: Int) {
        let now = clock.now()
        let granted = state.withLockedValue { state -> [Grant] in
            guard state.pool.addSlice(slice, account: account, settledDebt: settledDebt) else { return [] }
            return Self.grantWaiting(&state, now: now)
        }
        resume(granted)
    }

    /// Divides every account's `max_concurrency` by the proxy replicas sharing the accounts; callers waiting for room
    /// get what a larger share frees at once.
    func shareConcurrency(replicas: Int) {
        let now = clock.now()
        let granted = state.withLockedValue { state -> [Grant] in
            state.pool.shareConcurrency(replicas: replicas)
            return Self.grantWaiting(&state, now: now)
        }
        resume(granted)
    }

    /// Switches the limited accounts' budget to `source`; returns the slices held until then, to be given back.
    func setRateSource(_ source: RateBudgetSource) -> [ExpiredSlices] {
        let now = clock.now()
        let (returned, granted) = state.withLockedValue { state in
            let returned = state.pool.setRateSource(source)
            return (returned, Self.grantWaiting(&state, now: now))
        }
        resume(granted)
        return returned
    }

    /// Grants slots to waiters in queue order (earliest deadline first) while their model has room.
    private static func grantWaiting(_ state: inout State, now: Double) -> [Grant] {
        var granted: [Grant] = []
        var blockedModels: Set<String> = []
        var index = 0
        while index < state.waiters.count {
            let waiter = state.waiters[index]
            if blockedModels.contains(waiter.model) {
                index += 1
                continue
            }
            if case .granted(let next) = state.pool.acquire(
                model: waiter.model, tokens: waiter.tokens, excluding: waiter.excluded, now: now)
            {
                granted.append((waiter.continuation, next, waiter.timer))
                state.waiters.remove(at: index)
            } else {
                blockedModels.insert(waiter.model)
                index += 1
            }
        }
        return granted
    }

    private func resume(_ granted: [Grant]) {
        for grant in granted {
            grant.timer?.cancel()
            recordAccount(grant.lease.account)
            grant.continuation.resume(returning: grant.lease)
        }
    }

    /// Parks the caller; returns a lease granted by a release, or nil when it should try again itself
    /// (a cooldown or rate window it was waiting for ended).
    private func wait(model: String, tokens: Int, excluded: Set<Int>, deadline: Double, retryAt: Double?) async throws
        -> Lease?
    {
        let id = state.withLockedValue { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Lease?, any Error>) in
                let now = clock.now()
                let immediate: Result<Lease?, any Error>? = state.withLockedValue { state in
                    if state.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    switch state.pool.acquire(model: model, tokens: tokens, excluding: excluded, now: now) {
                    case .granted(let lease): return .success(lease)
                    case .unknownModel: return .failure(DispatchError.unknownModel(model, known: state.pool.modelNames))
                    case .wait:
                        guard state.waiters.count < queueLimit else {
                            return .failure(DispatchError.queueFull(model: model, retryAfter: 1))
                        }
                        // Earliest deadline first; equal deadlines keep their arrival order.
                        let position = state.waiters.lastIndex(where: { $0.deadline <= deadline }).map { $0 + 1 } ?? 0
                        state.waiters.insert(
                            Waiter(
                                id: id, model: model, tokens: tokens, excluded: excluded, deadline: deadline,
                                continuation: continuation),
                            at: position)
                        metrics.queueDepth.set(Double(state.waiters.count))
                        return nil
                    }
                }
                if let immediate {
                    if case .failure(let error) = immediate, error is DispatchError {
                        metrics.queueRejected.increment()
                    }
                    continuation.resume(with: immediate)
                    return
                }
                let wakeAt = min(deadline, retryAt ?? deadline)
                let timer = Task { [weak self] in
                    let delay = max(0, wakeAt - now)
                    try? await Task.sleep(nanoseconds: UInt64(delay * 1e9))
                    if Task.isCancelled { return }
                    self?.wake(id)
                }
                let stillWaiting = state.withLockedValue { state -> Bool in
                    guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return false }
                    state.waiters[index].timer = timer
                    return true
                }
                if !stillWaiting { timer.cancel() }
            }
        } onCancel: {
            self.cancelWaiter(id)
        }
    }

    /// A waiter's timer fired: past its deadline it fails, otherwise it tries again itself.
    private func wake(_ id: Int) {
        let now = clock.now()
        let waiter = state.withLockedValue { state -> Waiter? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            defer { metrics.queueDepth.set(Double(state.waiters.count)) }
            return state.waiters.remove(at: index)
        }
        guard let waiter else { return }
        if now >= waiter.deadline {
            metrics.queueTimeouts.increment()
            waiter.continuation.resume(throwing: timeout(waiter.model))
        } else {
            waiter.continuation.resume(returning: nil)
        }
    }

    private func cancelWaiter(_ id: Int) {
        let waiter = state.withLockedValue { state -> Waiter? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else {
                // Cancelled before it queued: remember, so it does not queue at all. Bounded, as most such
                // ids belong to requests that were already served.
                if state.cancelled.count > 4096 { state.cancelled.removeAll() }
                state.cancelled.insert(id)
                return nil
            }
            defer { metrics.queueDepth.set(Double(state.waiters.count)) }
            return state.waiters.remove(at: index)
        }
        guard let waiter else { return }
        waiter.timer?.cancel()
        waiter.continuation.resume(throwing: CancellationError())
    }

    private func timeout(_ model: String) -> DispatchError {
        .deadlinePassed(model: model, retryAfter: 1)
    }

    private func recordAccount(_ index: Int) {
        let now = clock.now()
        let account = state.withLockedValue { $0.pool.accounts[index] }
        metrics.record(
            account: index, window: account.window.size, inFlight: account.inFlight,
            cooling: account.cooldownUntil > now)
    }
}
