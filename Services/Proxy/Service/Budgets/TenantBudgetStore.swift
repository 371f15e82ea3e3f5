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
    /// period's used and reserved after it, or nil when it did not fit. `id` names the reservation: it claims the
    /// id first (and reserves nothing if `void` has claimed it), and marks `id:reserved` when it reserved, so that a
    /// reservation whose answer was lost can be voided.
    func reserve(id: String, tenant: String, startMs: Int64, charge: BudgetCharge, limit: BudgetCharge) async throws
        -> BudgetCharge?
    {
        try await SharedDatabase.describingErrors {
            let rows = try await client.query(
                """
                WITH claim AS (
                    INSERT INTO tenant_budget_write (id, written_ms) VALUES (\(id), \(unescaped: SharedDatabase.nowMs))
                    ON CONFLICT (id) DO NOTHING RETURNING 1),
                reserved AS (
                    INSERT INTO tenant_budget AS b (tenant, period_start_ms, reserved_tokens, reserved_microusd)
                    SELECT \(tenant), \(startMs), \(charge.tokens), \(charge.microUSD)
                    WHERE \(charge.tokens) <= \(limit.tokens) AND \(charge.microUSD) <= \(limit.microUSD)
                        AND EXISTS (SELECT 1 FROM claim)
                    ON CONFLICT (tenant, period_start_ms) DO UPDATE SET
                        reserved_tokens = b.reserved_tokens + EXCLUDED.reserved_tokens,
                        reserved_microusd = b.reserved_microusd + EXCLUDED.reserved_microusd
                    WHERE b.used_tokens + b.reserved_tokens + EXCLUDED.reserved_tokens <= \(limit.tokens)
                        AND b.used_microusd + b.reserved_microusd + EXCLUDED.reserved_microusd <= \(limit.microUSD)
                    RETURNING b.used_tokens + b.reserved_tokens AS tokens,
                        b.used_microusd + b.reserved_microusd AS microusd),
                marked AS (
                    INSERT INTO tenant_budget_write (id, written_ms)
                    SELECT \(Self.reservedMark(id)), \(unescaped: SharedDatabase.nowMs) FROM reserved)
                SELECT tokens, microusd FROM reserved
                """, logger: logger)
            for try await (tokens, microUSD) in rows.decode((Int64, Int64).self) {
                return BudgetCharge(tokens: tokens, microUSD: microUSD)
            }
            return nil
        }
    }

    /// The row that says reservation `id` was made (until it is voided, or the write ids expire after an hour).
    static func reservedMark(_ id: String) -> String { id + ":reserved" }

    /// Gives back reservation `id` of `reserved` if it was made: for a reservation whose answer never came (it may
    /// have been applied, or may still be on its way). Two statements: the first claims the id, so that a
    /// reservation still on its way reserves nothing; once that has committed, the second sees a reservation that
    /// came first and gives it back, once (its mark is deleted). Sent again, it changes nothing more.
    func void(id: String, tenant: String, startMs: Int64, reserved: BudgetCharge) async throws {
        try await SharedDatabase.describingErrors {
            try await client.query(
                """
                INSERT INTO tenant_budget_write (id, written_ms) VALUES (\(id), \(unescaped: SharedDatabase.nowMs))
                ON CONFLICT (id) DO NOTHING
                """, logger: logger)
            try await client.query(
                """
                WITH applied AS (DELETE FROM tenant_budget_write WHERE id = \(Self.reservedMark(id)) RETURNING 1)
                UPDATE tenant_budget SET
                    reserved_tokens = greatest(0, reserved_tokens - \(reserved.tokens)),
                    reserved_microusd = greatest(0, reserved_microusd - \(reserved.microUSD))
                WHERE tenant = \(tenant) AND period_start_ms = \(startMs) AND EXISTS (SELECT 1 FROM applied)
                """, logger: logger)
        }
    }

    /// Whether the store answers: a statement that writes nothing, so that one left hanging in an unresponsive
    /// server holds no reservation once the server resumes.
    func ping() async throws {
        try await SharedDatabase.describingErrors {
            try await client.query("SELECT 1", logger: logger)
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
