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
            ])
    ]

    /// Reserves `charge` for `tenant` in the period starting at `startMs` when it fits under `limit`.
    func reserve(tenant: String, startMs: Int64, charge: BudgetCharge, limit: BudgetCharge) async throws -> Bool {
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
                RETURNING 1
                """, logger: logger)
            for try await _ in rows { return true }
            return false
        }
    }

    /// Replaces a reservation with what the call used (zero when it failed).
    func settle(tenant: String, startMs: Int64, reserved: BudgetCharge, used: BudgetCharge) async throws {
        try await SharedDatabase.describingErrors {
            try await client.query(
                """
                UPDATE tenant_budget SET
                    reserved_tokens = greatest(0, reserved_tokens - \(reserved.tokens)),
                    reserved_microusd = greatest(0, reserved_microusd - \(reserved.microUSD)),
                    used_tokens = used_tokens + \(used.tokens), used_microusd = used_microusd + \(used.microUSD)
                WHERE tenant = \(tenant) AND period_start_ms = \(startMs)
                """, logger: logger)
        }
    }
}
