import Foundation
import Logging
import PostgresNIO
import PostgresSupport
import ProxyCore
import ServiceRuntime

/// The proxies' shared limits in PostgreSQL (`DATABASE_URL`): the replicas that are alive (`proxy_replica`), and per
/// account the slices of its per-minute limits granted to them (`proxy_limit_grant`). A grant is made under a lock on
/// the account's row (`proxy_limit`) only when the grants of the last `SliceLeasePolicy.windowSeconds` leave room for
/// it, so the sum granted in any such window never passes the limit. Times are the database's clock.
struct SharedLimitStore: Sendable {
    let database: SharedDatabase
    let replica: String
    /// Every call gives up after this long, so a database that hangs turns into the local share quickly.
    let timeout: Duration

    private var client: PostgresClient { database.client }
    private var logger: Logger { database.logger }

    static let migrations = [
        NamedMigration(
            "proxy-1-shared-limits",
            [
                """
                CREATE TABLE proxy_replica (id text PRIMARY KEY, lease_until_ms double precision NOT NULL)
                """,
                "CREATE TABLE proxy_limit (account text PRIMARY KEY)",
                """
                CREATE TABLE proxy_limit_grant (
                    id bigserial PRIMARY KEY, account text NOT NULL, replica text NOT NULL,
                    granted_ms double precision NOT NULL, requests bigint NOT NULL, tokens bigint NOT NULL)
                """,
                "CREATE INDEX proxy_limit_grant_window ON proxy_limit_grant (account, granted_ms)",
            ])
    ]

    /// Connects, migrates and enters the `accounts` (their names) that have per-minute limits.
    static func open(_ url: DatabaseURL, accounts: [String], timeout: Duration, logger: Logger) async throws
        -> SharedLimitStore
    {
        let replica = "proxy-\(UUID().uuidString.lowercased())"
        let database = try await SharedDatabase.open(
            url, migrations: migrations + TenantBudgetStore.migrations, logger: logger
        ) { database in
            for account in accounts {
                try await database.client.query(
                    "INSERT INTO proxy_limit (account) VALUES (\(account)) ON CONFLICT DO NOTHING", logger: logger)
            }
        }
        return SharedLimitStore(database: database, replica: replica, timeout: timeout)
    }

    /// A slice granted by the store; `requests` and `tokens` may be 0 when only a debt was recorded.
    struct Grant: Sendable {
        var id: Int64
        var requests: Int
        var tokens: Int
        var settledDebt: Int
    }

    /// Grants what `request` asks for as far as the account's window leaves room (`rpm`, `tpm`: its limits; nil is
    /// no limit), recording its debt with it; nil when there is no room and no debt to record.
    func lease(account: String, _ request: SliceRequest, rpm: Int?, tpm: Int?, windowMs: Double) async throws -> Grant?
    {
        try await SharedDatabase.describingErrors(timeout: timeout) {
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query(
                    "SELECT account FROM proxy_limit WHERE account = \(account) FOR UPDATE", logger: logger)
                // A statement of its own, after the lock: it sees every grant committed before the lock was ours.
                let rows = try await connection.query(
                    PostgresQuery(
                        unsafeSQL: """
                            SELECT coalesce(sum(requests), 0)::bigint, coalesce(sum(tokens), 0)::bigint
                            FROM proxy_limit_grant WHERE account = $1 AND granted_ms > \(SharedDatabase.nowMs) - $2
                            """, binds: try .of(account, windowMs)), logger: logger
                ).decode((Int64, Int64).self)
                var used: (requests: Int64, tokens: Int64) = (0, 0)
                for try await row in rows { used = row }
                let requests = rpm.map { min(Int64(request.requests), Int64($0) - used.requests) } ?? 0
                let tokens =
                    tpm.map { min(Int64(request.tokens), Int64($0) - used.tokens - Int64(request.debt)) } ?? 0
                let refused = (rpm != nil && requests < 1) || (tpm != nil && tokens < 1)
                if refused && request.debt == 0 { return nil }
                let granted = refused ? (requests: 0, tokens: 0) : (requests: max(0, requests), tokens: max(0, tokens))
                let ids = try await connection.query(
                    PostgresQuery(
                        unsafeSQL: """
                            INSERT INTO proxy_limit_grant (account, replica, granted_ms, requests, tokens)
                            VALUES ($1, $2, \(SharedDatabase.nowMs), $3, $4) RETURNING id
                            """,
                        binds: try .of(account, replica, granted.requests, granted.tokens + Int64(request.debt))),
                    logger: logger
                ).decode(Int64.self)
                var id: Int64 = 0
                for try await row in ids { id = row }
                return Grant(
                    id: id, requests: Int(granted.requests), tokens: Int(granted.tokens), settledDebt: request.debt)
            }
        }
    }

    /// Gives back what was not spent of slices that expired (or that a stopping replica held).
    func giveBack(_ slices: [RateSlice]) async throws {
        guard !slices.isEmpty else { return }
        try await SharedDatabase.describingErrors(timeout: timeout) {
            for slice in slices {
                try await client.query(
                    """
                    UPDATE proxy_limit_grant SET requests = greatest(0, requests - \(Int64(slice.requests))),
                        tokens = greatest(0, tokens - \(Int64(slice.tokens))) WHERE id = \(slice.id)
                    """, logger: logger)
            }
        }
    }

    /// Renews this replica's presence for `leaseMs` and returns how many replicas are alive (itself included).
    func heartbeat(leaseMs: Double) async throws -> Int {
        try await SharedDatabase.describingErrors(timeout: timeout) {
            try await client.query(
                PostgresQuery(
                    unsafeSQL: """
                        INSERT INTO proxy_replica (id, lease_until_ms) VALUES ($1, \(SharedDatabase.nowMs) + $2)
                        ON CONFLICT (id) DO UPDATE SET lease_until_ms = EXCLUDED.lease_until_ms
                        """, binds: try .of(replica, leaseMs)), logger: logger)
            let rows = try await client.query(
                PostgresQuery(
                    unsafeSQL:
                        "SELECT count(*)::bigint FROM proxy_replica WHERE lease_until_ms > \(SharedDatabase.nowMs)"
                ), logger: logger
            ).decode(Int64.self)
            var count: Int64 = 1
            for try await row in rows { count = row }
            return max(1, Int(count))
        }
    }

    /// Removes grants long out of every window, replicas gone for an hour, and the ids of tenant budget writes older
    /// than an hour (a write is retried within seconds of the store answering again).
    func prune() async throws {
        try await SharedDatabase.describingErrors(timeout: timeout) {
            try await client.query(
                PostgresQuery(
                    unsafeSQL:
                        "DELETE FROM tenant_budget_write WHERE written_ms < \(SharedDatabase.nowMs) - 3600000"),
                logger: logger)
            try await client.query(
                PostgresQuery(
                    unsafeSQL: "DELETE FROM proxy_limit_grant WHERE granted_ms < \(SharedDatabase.nowMs) - 600000"),
                logger: logger)
            try await client.query(
                PostgresQuery(
                    unsafeSQL: "DELETE FROM proxy_replica WHERE lease_until_ms < \(SharedDatabase.nowMs) - 3600000"),
                logger: logger)
        }
    }

    /// Leaves the set of live replicas (a clean stop).
    func leave() async throws {
        try await SharedDatabase.describingErrors(timeout: timeout) {
            try await client.query("DELETE FROM proxy_replica WHERE id = \(replica)", logger: logger)
        }
    }
}
