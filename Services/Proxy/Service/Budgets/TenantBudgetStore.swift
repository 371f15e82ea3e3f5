import Logging
import PostgresNIO
import PostgresSupport
import ProxyCore

/// Tenant budgets shared by the proxies in PostgreSQL (`DATABASE_URL`): one row per tenant and period
/// (`tenant_budget`), with what answered calls used and what calls under way reserved. A reservation is one
/// statement that adds to `reserved` only when used + reserved + the call still fits the limit, so replicas
/// reserving at once never pass it together.
struct TenantBudgetStore: Sendable {
    let database: SharedDatabase

    private var client: PostgresClient { database.client }
    private var logger: Logger { database.logger }

    static let migrations = [
        NamedMigration(
            "proxy-2-tenant-budgets",
            [
                """
                CREATE TABLE tenant_budget (
                    tenant text NOT NULL, period_start_ms bigint NOT NULL,
                    used_tokens bigint NOT NULL DEFAULT 0, used_microusd bigint NOT NULL DEFAULT 0,
                    reserved_tokens bigint NOT NULL DEFAULT 0, reserved_microusd bigint NOT NULL DEFAULT 0,
                    PRIMARY KEY (tenant, period_start_ms))
                """
            ]),
        // A write that timed out may still have been applied: written again, its id makes it apply once.
        NamedMigration(
            "proxy-3-budget-write-ids",
            [
                "CREATE TABLE tenant_budget_write (id text PRIMARY KEY, written_ms double precision NOT NULL)"
            ]),
    ]

    /// Reserves `charge` for `tenant` in the period starting at `startMs` when it fits under `limit`; returns the
    /// period's used and reserved after it, or nil when it did not fit.
    func reserve(tenant: String, startMs: Int64, charge: BudgetCharge, limit: BudgetCharge) async throws
        -> BudgetCharge?
    {
        try await SharedDatabase.describingErrors {
            let rows = try await client.query(
                """
                INSERT INTO tenant_budget AS b (tenant, period_start_ms, reserved_tokens, reserved_microusd)
                SELECT \(tenant), \(startMs), \(charge.tokens), \(charge.microUSD)
                WHERE \(charge.tokens) <= \(limit.tokens) AND \(charge.microUSD) <= \(limit.microUSD)
                ON CONFLICT (tenant, period_start_ms) DO UPDATE SET
                    reserved_tokens = b.reserved_tokens + EXCLUDED.reserved_tokens,
                    reserved_microusd = b.reserved_microusd + EXCLUDED.reserved_microusd
                WHERE b.used_tokens + b.reserved_tokens + EXCLUDED.reserved_tokens <= \(limit.tokens)
                    AND b.used_microusd + b.reserved_microusd + EXCLUDED.reserved_microusd <= \(limit.microUSD)
                RETURNING b.used_tokens + b.reserved_tokens, b.used_microusd + b.reserved_microusd
                """, logger: logger)
            for try await (tokens, microUSD) in rows.decode((Int64, Int64).self) {
                return BudgetCharge(tokens: tokens, microUSD: microUSD)
            }
            return nil
        }
    }

    /// Adds what calls used while the store was unreachable (they reserved locally, never here).
    func addUsage(tenant: String, startMs: Int64, used: BudgetCharge) async throws {
        try await SharedDatabase.describingErrors {
            try await client.query(
                """
                INSERT INTO tenant_budget AS b (tenant, period_start_ms, used_tokens, used_microusd)
                VALUES (\(tenant), \(startMs), \(used.tokens), \(used.microUSD))
                ON CONFLICT (tenant, period_start_ms) DO UPDATE SET
                    used_tokens = b.used_tokens + EXCLUDED.used_tokens,
                    used_microusd = b.used_microusd + EXCLUDED.used_microusd
                """, logger: logger)
        }
    }

    /// Replaces a reservation with what the call used (zero when it failed). `id` names the write: sent again after a
    /// timeout, it applies once.
    func settle(id: String, tenant: String, startMs: Int64, reserved: BudgetCharge, used: BudgetCharge) async throws {
        try await SharedDatabase.describingErrors {
            try await client.query(
                """
                WITH first AS (
                    INSERT INTO tenant_budget_write (id, written_ms) VALUES (\(id), \(unescaped: SharedDatabase.nowMs))
                    ON CONFLICT (id) DO NOTHING RETURNING 1)
                UPDATE tenant_budget SET
                    reserved_tokens = greatest(0, reserved_tokens - \(reserved.tokens)),
                    reserved_microusd = greatest(0, reserved_microusd - \(reserved.microUSD)),
                    used_tokens = used_tokens + \(used.tokens), used_microusd = used_microusd + \(used.microUSD)
                WHERE tenant = \(tenant) AND period_start_ms = \(startMs) AND EXISTS (SELECT 1 FROM first)
                """, logger: logger)
        }
    }

    /// Adds what a call used while the store was unreachable (it reserved locally, never here); `id` as in `settle`.
    func addUsage(id: String, tenant: String, startMs: Int64, used: BudgetCharge) async throws {
        try await SharedDatabase.describingErrors {
            try await client.query(
                """
                WITH first AS (
                    INSERT INTO tenant_budget_write (id, written_ms) VALUES (\(id), \(unescaped: SharedDatabase.nowMs))
                    ON CONFLICT (id) DO NOTHING RETURNING 1)
                INSERT INTO tenant_budget AS b (tenant, period_start_ms, used_tokens, used_microusd)
                SELECT \(tenant), \(startMs), \(used.tokens), \(used.microUSD) WHERE EXISTS (SELECT 1 FROM first)
                ON CONFLICT (tenant, period_start_ms) DO UPDATE SET
                    used_tokens = b.used_tokens + EXCLUDED.used_tokens,
                    used_microusd = b.used_microusd + EXCLUDED.used_microusd
                """, logger: logger)
        }
    }
}
