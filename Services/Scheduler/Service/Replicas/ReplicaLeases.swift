import Logging
import PostgresNIO
import PostgresSupport

/// The replicas' leases in the shared store (`scheduler_replica`): each replica renews its own; a replica whose lease
/// has run out is presumed dead, and one of the others takes its rows over in one transaction. Times are the
/// database's clock, so the replicas' clocks need not agree.
struct ReplicaLeases: Sendable {
    let store: PostgresRequestStore
    /// How long a lease holds without renewal.
    let leaseMs: Double

    private var client: PostgresClient { store.client }
    private var replica: String { store.replica }
    private var logger: Logger { store.logger }

    /// Enters this replica with a fresh lease.
    func register() async throws {
        try await SharedDatabase.describingErrors {
            try await client.query(
                PostgresQuery(
                    unsafeSQL: """
                        INSERT INTO scheduler_replica (id, started_ms, lease_until_ms) VALUES ($1, \(SharedDatabase.nowMs), \(SharedDatabase.nowMs) + $2)
                        """, binds: try .of(replica, leaseMs)), logger: logger)
        }
    }

    /// Extends this replica's lease; false when it is gone (it ran out and another replica took the work over).
    func renew() async throws -> Bool {
        try await SharedDatabase.describingErrors {
            let rows = try await client.query(
                PostgresQuery(
                    unsafeSQL: """
                        UPDATE scheduler_replica SET lease_until_ms = \(SharedDatabase.nowMs) + $2 WHERE id = $1 RETURNING id
                        """, binds: try .of(replica, leaseMs)), logger: logger)
            for try await _ in rows { return true }
            return false
        }
    }

    /// Ends this replica's lease now, at a clean shutdown, so the others take its waiting work at once.
    func expire() async throws {
        try await SharedDatabase.describingErrors {
            try await client.query(
                PostgresQuery(
                    unsafeSQL: "UPDATE scheduler_replica SET lease_until_ms = 0 WHERE id = $1",
                    binds: try .of(replica)), logger: logger)
        }
    }

    /// What one takeover did.
    struct Takeover: Sendable {
        var replica: String
        /// Waiting `/submit` requests, now this replica's to schedule.
        var waiting: [RequestRow]
        /// Requests the dead replica had sent upstream, or whose front-door caller was connected to it: ended
        /// `replica_lost`, never sent again.
        var lost: Int
    }

    /// Takes over the rows of one replica whose lease has run out, if any: in one transaction its in-flight
    /// requests and front-door requests end `replica_lost`, its waiting `/submit` requests become this replica's, and
    /// its lease is removed. `SKIP LOCKED`: two replicas never take the same one.
    func takeOverOne() async throws -> Takeover? {
        try await SharedDatabase.describingErrors {
            try await client.withTransaction(logger: logger) { connection in
                let candidates = try await connection.query(
                    PostgresQuery(
                        unsafeSQL: """
                            SELECT id FROM scheduler_replica WHERE lease_until_ms < \(SharedDatabase.nowMs) AND id <> $1
                            ORDER BY lease_until_ms LIMIT 1 FOR UPDATE SKIP LOCKED
                            """, binds: try .of(replica)), logger: logger
                ).decode(String.self)
                var dead: String?
                for try await id in candidates { dead = id }
                guard let dead else { return nil }
                let lostInflight = try await connection.query(
                    PostgresQuery(
                        unsafeSQL: """
                            UPDATE request SET owner = $1, state = 'failed', finished_ms = \(SharedDatabase.nowMs),
                                reason_code = 'replica_lost',
                                reason_message = 'The scheduler replica that sent it upstream stopped before the answer; it is not sent again.'
                            WHERE owner = $2 AND state = 'dispatched' RETURNING id
                            """, binds: try .of(replica, dead)), logger: logger
                ).collect().count
                let lostFrontDoor = try await connection.query(
                    PostgresQuery(
                        unsafeSQL: """
                            UPDATE request SET owner = $1, state = 'cancelled', finished_ms = \(SharedDatabase.nowMs),
                                reason_code = 'replica_lost',
                                reason_message = 'The scheduler replica holding the client''s connection stopped before the answer.'
                            WHERE owner = $2 AND front_door AND state IN ('queued', 'deferred') RETURNING id
                            """, binds: try .of(replica, dead)), logger: logger
                ).collect().count
                let waiting = try await PostgresRequestStore.requestRows(
                    connection.query(
                        PostgresQuery(
                            unsafeSQL: """
                                UPDATE request SET owner = $1 WHERE owner = $2 AND state IN ('queued', 'deferred')
                                RETURNING \(PostgresRequestStore.selected)
                                """, binds: try .of(replica, dead)), logger: logger))
                try await connection.query(
                    PostgresQuery(unsafeSQL: "DELETE FROM scheduler_replica WHERE id = $1", binds: try .of(dead)),
                    logger: logger)
                return Takeover(
                    replica: dead, waiting: waiting.sorted { $0.submittedMs < $1.submittedMs },
                    lost: lostInflight + lostFrontDoor)
            }
        }
    }
}
