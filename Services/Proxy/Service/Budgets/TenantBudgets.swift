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
    private let budgets: TenantBudgets
    private let open = Mutex(true)

    init(tenant: String, startMs: Int64, reserved: BudgetCharge, budgets: TenantBudgets) {
        self.tenant = tenant
        self.startMs = startMs
        self.reserved = reserved
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
final class TenantBudgets: Sendable {
    let budgets: [String: TenantBudget]
    let everyoneElse: TenantBudget?
    /// The dearest price among the accounts of each model, for reservations (the account is not chosen yet).
    let reservationPrice: [String: ModelPrice]
    let wildcardPrice: ModelPrice?
    let store: TenantBudgetStore?
    let metrics: ProxyMetrics
    let logger: Logger
    private let book = Mutex(BudgetBook())

    init(
        _ budgets: [TenantBudget], deployments: [Deployment], store: TenantBudgetStore?, metrics: ProxyMetrics,
        logger: Logger
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
    }

    var isEmpty: Bool { budgets.isEmpty && everyoneElse == nil }

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
        if let store {
            do {
                fits = try await store.reserve(tenant: tenant, startMs: startMs, charge: charge, limit: budget.limit)
            } catch {
                logger.warning("tenant budget unavailable", metadata: ["tenant": "\(tenant)", "error": "\(error)"])
                metrics.budgetUnavailable.increment()
                throw BudgetError.unavailable
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
        return BudgetHold(tenant: tenant, startMs: startMs, reserved: charge, budgets: self)
    }

    fileprivate func settle(_ hold: BudgetHold, used: BudgetCharge) {
        guard let store else {
            book.withLock {
                $0.settle(tenant: hold.tenant, startMs: hold.startMs, reserved: hold.reserved, used: used)
            }
            return
        }
        let (tenant, startMs, reserved, logger) = (hold.tenant, hold.startMs, hold.reserved, logger)
        Task {
            do {
                try await store.settle(tenant: tenant, startMs: startMs, reserved: reserved, used: used)
            } catch {
                // The reservation stays counted (conservative) until the period ends.
                logger.warning(
                    "could not settle a tenant budget", metadata: ["tenant": "\(tenant)", "error": "\(error)"])
            }
        }
    }
}
