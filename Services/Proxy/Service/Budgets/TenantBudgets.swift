import Contracts
import Foundation
import HTTPTypes
import Logging
import Prometheus
import ProxyCore
import ServiceRuntime
import Synchronization

/// Why a call was refused by its tenant's budget.
enum BudgetError: Error, APIErrorConvertible {
    case exhausted(tenant: String, period: BudgetPeriod, retryAfter: Double)
    case unavailable

    var apiError: APIError {
        switch self {
        case .exhausted(let tenant, let period, let retryAfter):
            return .rateLimited(
                "Tenant `\(tenant)` has used its budget for this \(period.rawValue); it resets in \(Int(retryAfter)) s.",
                retryAfterSeconds: retryAfter, code: "tenant_budget_exhausted")
        case .unavailable:
            return APIError(
                status: .serviceUnavailable,
                message: "The tenant budgets cannot be checked right now (their database is unreachable); retry later.",
                type: .server, code: "budget_unavailable")
        }
    }
}

/// A call's reservation against its tenant's budget: settled once, with what the call used, or released (used
/// nothing) when it failed or is dropped.
final class BudgetHold: Sendable {
    let tenant: String
    let startMs: Int64
    let reserved: BudgetCharge
    /// Reserved in this proxy's local share while the shared store was unreachable.
    let local: Bool
    private let budgets: TenantBudgets
    private let open = Mutex(true)

    init(tenant: String, startMs: Int64, reserved: BudgetCharge, local: Bool, budgets: TenantBudgets) {
        self.tenant = tenant
        self.startMs = startMs
        self.reserved = reserved
        self.local = local
        self.budgets = budgets
    }

    /// Replaces the reservation with `used`.
    func settle(_ used: BudgetCharge) {
        let first = open.withLock { open -> Bool in
            defer { open = false }
            return open
        }
        if first { budgets.settle(self, used: used) }
    }

    /// Gives the reservation back: the call used nothing.
    func release() { settle(.zero) }

    /// The call's reservation stands as its charge (an answer cut off after bytes reached the client).
    func charge() { settle(reserved) }

    deinit { release() }
}

/// Tenant budgets (`budgets:` in the deployment file): a call of a tenant with a budget reserves its prompt and
/// predicted output (p90 when the scheduler sent it) before it is sent, and is charged what it used when the answer
/// ends. Shared by every proxy using the same `DATABASE_URL`, else counted by this process alone.
///
/// While the shared store is unreachable, a tenant whose budget this proxy has seen spends from its local share:
/// what the budget had left when the store last answered, divided by the proxy replicas last seen alive. What those
/// calls use, settlements the store could not take, and voids of reservations whose answer never came are written
/// to the store once it answers again. A tenant not seen since this proxy started is refused (503
/// `budget_unavailable`): nothing says what it has left.
final class TenantBudgets: Sendable {
    /// The shared store's state as this proxy knows it.
    struct Shared {
        /// The most used and reserved the store has answered with, per tenant and period (`tenant\0start`); kept at
        /// its highest, so a local share is never computed from a count that looked lower than it was.
        var seen: [String: BudgetCharge] = [:]
        /// Why the store is unreachable; nil while it answers.
        var degradedReason: String?
        /// Reservations made in the local share while degraded.
        var localBook = BudgetBook()
        /// Usage and settlements still to be written to the store.
        var pending: [PendingWrite] = []
        var flushing = false
        /// While degraded, when a call last asked the store (at most once a `probeInterval`; the others go straight
        /// to the local share instead of waiting for the store's error).
        var lastProbe = ContinuousClock.now
    }

    static let probeInterval = Duration.seconds(1)

    /// A write to the store, named so that sending it again after a timeout (it may have been applied) applies it once.
    struct PendingWrite: Sendable {
        enum Kind: Sendable {
            /// Usage of a call reserved in the local share.
            case usage
            /// A reservation in the store replaced with what its call used.
            case settlement(reserved: BudgetCharge)
            /// A reservation whose answer never came, given back if it was made (`id` is the reservation's).
            case void(reserved: BudgetCharge)
        }
        var id = UUID().uuidString
        var kind: Kind
        var tenant: String
        var startMs: Int64
        var used: BudgetCharge
    }

    let budgets: [String: TenantBudget]
    let everyoneElse: TenantBudget?
    /// The dearest price among the accounts of each model, for reservations (the account is not chosen yet).
    let reservationPrice: [String: ModelPrice]
    let wildcardPrice: ModelPrice?
    let store: TenantBudgetStore?
    let metrics: ProxyMetrics
    let logger: Logger
    /// The proxy replicas sharing the store, as last seen alive.
    let replicas: @Sendable () -> Int
    private let book = Mutex(BudgetBook())
    private let shared = Mutex(Shared())

    init(
        _ budgets: [TenantBudget], deployments: [Deployment], store: TenantBudgetStore?, metrics: ProxyMetrics,
        logger: Logger, replicas: @escaping @Sendable () -> Int = { 1 }
    ) {
        self.budgets = Dictionary(budgets.filter { $0.tenant != "*" }.map { ($0.tenant, $0) }) { $1 }
        self.everyoneElse = budgets.first { $0.tenant == "*" }
        var prices: [String: ModelPrice] = [:]
        for deployment in deployments {
            guard let price = deployment.price else { continue }
            let known = prices[deployment.modelName]
            prices[deployment.modelName] = ModelPrice(
                inputPer1k: max(known?.inputPer1k ?? 0, price.inputPer1k),
                outputPer1k: max(known?.outputPer1k ?? 0, price.outputPer1k))
        }
        self.wildcardPrice = prices.removeValue(forKey: "*")
        self.reservationPrice = prices
        self.store = store
        self.metrics = metrics
        self.logger = logger
        self.replicas = replicas
    }

    var isEmpty: Bool { budgets.isEmpty && everyoneElse == nil }

    /// `shared`, `local_share` (the store is unreachable; with the reason) or `local` (no store), for `/health`.
    var mode: (mode: String, reason: String?) {
        guard store != nil else { return ("local", nil) }
        let reason = shared.withLock { $0.degradedReason }
        return (reason == nil ? "shared" : "local_share", reason)
    }

    /// The budget `tenant` spends from, if any.
    func budget(for tenant: String?) -> TenantBudget? {
        guard let tenant, !tenant.isEmpty else { return nil }
        return budgets[tenant] ?? everyoneElse
    }

    /// Reserves a call of `promptTokens` and `outputTokens` to `model` for `tenant`; nil when the tenant has no
    /// budget. Throws `BudgetError` when it does not fit (or, shared, when the database cannot say).
    func reserve(tenant: String, model: String, promptTokens: Int, outputTokens: Int, now: Date = Date())
        async throws -> BudgetHold?
    {
        guard let budget = budget(for: tenant) else { return nil }
        let (startMs, resetMs) = budget.period.bounds(at: now)
        let charge = ModelPrice.charge(
            input: promptTokens, output: outputTokens, price: reservationPrice[model] ?? wildcardPrice)
        let fits: Bool
        var local = false
        if let store {
            let key = "\(tenant)\u{0}\(startMs)"
            var answer: BudgetCharge??
            if let probing = askStore() {
                do {
                    // While the store is unreachable a probe asks first whether it answers at all, so that calls do
                    // not pile reservations into a hung server.
                    if probing { try await store.ping() }
                    let id = UUID().uuidString
                    do {
                        answer = .some(
                            try await store.reserve(
                                id: id, tenant: tenant, startMs: startMs, charge: charge, limit: budget.limit))
                    } catch {
                        // Its answer never came, but the reservation may have been made (or be on its way): it is
                        // voided once the store answers again, so it does not stay counted until the period ends.
                        let void = PendingWrite(
                            id: id, kind: .void(reserved: charge), tenant: tenant, startMs: startMs, used: .zero)
                        shared.withLock { $0.pending.append(void) }
                        throw error
                    }
                } catch {
                    degrade("\(error)")
                }
            }
            if let after = answer {
                fits = after != nil
                recovered(seen: after ?? Self.atLeast(budget.limit, less: charge), key: key)
            } else {
                let replicas = replicas()
                let limit = shared.withLock { state -> BudgetCharge? in
                    state.seen[key].map { TenantBudget.localShare(limit: budget.limit, seen: $0, replicas: replicas) }
                }
                guard let limit else {
                    logger.warning(
                        "tenant budget unavailable",
                        metadata: ["tenant": "\(tenant)", "reason": "\(mode.reason ?? "")"])
                    metrics.budgetUnavailable.increment()
                    throw BudgetError.unavailable
                }
                fits = shared.withLock {
                    $0.localBook.reserve(tenant: tenant, startMs: startMs, charge: charge, limit: limit)
                }
                local = true
            }
        } else {
            fits = book.withLock {
                $0.reserve(tenant: tenant, startMs: startMs, charge: charge, limit: budget.limit)
            }
        }
        guard fits else {
            metrics.budgetRejections.increment()
            let retryAfter = max(1, (Double(resetMs) - now.timeIntervalSince1970 * 1000) / 1000).rounded(.up)
            throw BudgetError.exhausted(tenant: tenant, period: budget.period, retryAfter: retryAfter)
        }
        return BudgetHold(tenant: tenant, startMs: startMs, reserved: charge, local: local, budgets: self)
    }

    /// Whether this call asks the store (nil: it does not): always while the store answers (false: no probe);
    /// while it does not, one call a `probeInterval` (true: the call probes the store first).
    private func askStore() -> Bool? {
        shared.withLock { state in
            guard state.degradedReason != nil else { return false }
            let now = ContinuousClock.now
            guard now - state.lastProbe >= Self.probeInterval else { return nil }
            state.lastProbe = now
            return true
        }
    }

    /// What a refusal says about a period: used and reserved are already above `limit` less the refused charge.
    private static func atLeast(_ limit: BudgetCharge, less charge: BudgetCharge) -> BudgetCharge {
        BudgetCharge(tokens: max(0, limit.tokens - charge.tokens), microUSD: max(0, limit.microUSD - charge.microUSD))
    }

    fileprivate func settle(_ hold: BudgetHold, used: BudgetCharge) {
        guard store != nil else {
            book.withLock {
                $0.settle(tenant: hold.tenant, startMs: hold.startMs, reserved: hold.reserved, used: used)
            }
            return
        }
        if hold.local {
            shared.withLock {
                $0.localBook.settle(tenant: hold.tenant, startMs: hold.startMs, reserved: hold.reserved, used: used)
            }
        }
        let write = PendingWrite(
            kind: hold.local ? .usage : .settlement(reserved: hold.reserved), tenant: hold.tenant,
            startMs: hold.startMs, used: used)
        shared.withLock { $0.pending.append(write) }
        flush()
    }

    /// Writes what is pending to the store in the background (one flush at a time; the writes are additions, so
    /// their order does not matter); what the store does not take stays pending, so a reservation stays counted
    /// (conservative) until it is settled. A write that timed out is sent again under its id and applies once.
    private func flush() {
        guard let store else { return }
        let writes = shared.withLock { state -> [PendingWrite] in
            // While the store is unreachable the writes wait: the next answer from it flushes them.
            guard !state.flushing, state.degradedReason == nil, !state.pending.isEmpty else { return [] }
            state.flushing = true
            defer { state.pending.removeAll() }
            return state.pending
        }
        guard !writes.isEmpty else { return }
        Task {
            let failed = await withTaskGroup(of: (PendingWrite, String)?.self) { group in
                for write in writes {
                    group.addTask {
                        do {
                            switch write.kind {
                            case .usage:
                                try await store.addUsage(
                                    id: write.id, tenant: write.tenant, startMs: write.startMs, used: write.used)
                            case .settlement(let reserved):
                                try await store.settle(
                                    id: write.id, tenant: write.tenant, startMs: write.startMs, reserved: reserved,
                                    used: write.used)
                            case .void(let reserved):
                                try await store.void(
                                    id: write.id, tenant: write.tenant, startMs: write.startMs, reserved: reserved)
                            }
                            return nil
                        } catch {
                            return (write, "\(error)")
                        }
                    }
                }
                var failed: [(PendingWrite, String)] = []
                for await result in group { if let result { failed.append(result) } }
                return failed
            }
            if let reason = failed.first?.1 { degrade(reason) }
            let more = shared.withLock { state -> Bool in
                state.pending.insert(contentsOf: failed.map(\.0), at: 0)
                state.flushing = false
                return failed.isEmpty && !state.pending.isEmpty
            }
            if more { flush() }
        }
    }

    /// The store answered: remember what the period stands at, and leave the local share.
    private func recovered(seen: BudgetCharge, key: String) {
        let wasDegraded = shared.withLock { state -> Bool in
            let known = state.seen[key] ?? seen
            state.seen[key] = BudgetCharge(
                tokens: max(known.tokens, seen.tokens), microUSD: max(known.microUSD, seen.microUSD))
            guard state.degradedReason != nil else { return false }
            state.degradedReason = nil
            // Its reservations were written to the store as usage; the next outage starts from the store's count.
            state.localBook = BudgetBook()
            return true
        }
        if wasDegraded {
            metrics.budgetsLocalShare.set(to: 0.0)
            logger.notice("shared tenant budgets reachable again")
        }
        flush()
    }

    private func degrade(_ reason: String) {
        let first = shared.withLock { state -> Bool in
            defer {
                state.degradedReason = reason
                state.lastProbe = ContinuousClock.now
            }
            return state.degradedReason == nil
        }
        guard first else { return }
        metrics.budgetsLocalShare.set(to: 1.0)
        logger.warning(
            "shared tenant budgets unreachable; tenants seen before spend their local share",
            metadata: ["reason": "\(reason)", "replicas": "\(replicas())"])
    }
}
