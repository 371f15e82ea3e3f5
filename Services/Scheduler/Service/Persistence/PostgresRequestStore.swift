import Contracts
import Foundation
import Logging
import PostgresNIO
import PostgresSupport
import ServiceRuntime

/// The scheduler's requests in PostgreSQL (`DATABASE_URL`), shared by scheduler replicas. Every row has an owner,
/// the replica (one process run) that schedules it; this store writes only rows its replica owns, so a replica that
/// lost its rows to another (its lease ran out) can change nothing, and a dispatch it had not yet written never goes
/// out. The replicas' leases live in `scheduler_replica` (see `ReplicaLeases`).
struct PostgresRequestStore: RequestStore {
    let database: SharedDatabase
    /// This process's replica id: the owner written on every row.
    let replica: String

    var client: PostgresClient { database.client }
    var logger: Logger { database.logger }

    var isShared: Bool { true }

    // MARK: - Migrations

    /// The scheduler's named, append-only migrations (`SharedDatabase` applies them once per database, in order).
    static let migrations: [NamedMigration] = [
        NamedMigration(
            "scheduler-v1-requests",
            [
                """
                CREATE TABLE request (
                    id text PRIMARY KEY,
                    tenant_id text NOT NULL,
                    request_class text NOT NULL,
                    model text NOT NULL,
                    state text NOT NULL,
                    priority integer NOT NULL,
                    front_door boolean NOT NULL,
                    submitted_ms double precision NOT NULL,
                    deadline_ms double precision NOT NULL,
                    dispatched_ms double precision,
                    first_token_ms double precision,
                    finished_ms double precision,
                    reason_code text,
                    reason_message text,
                    attempts integer NOT NULL,
                    prediction text NOT NULL,
                    body text NOT NULL,
                    result text,
                    requested_class text,
                    decided boolean NOT NULL DEFAULT true,
                    owner text NOT NULL
                )
                """,
                "CREATE INDEX request_owner_state ON request (owner, state)",
                """
                CREATE TABLE scheduler_replica (
                    id text PRIMARY KEY,
                    started_ms double precision NOT NULL,
                    lease_until_ms double precision NOT NULL
                )
                """,
            ]
        ),
        NamedMigration(
            "scheduler-v2-events",
            [
                """
                CREATE TABLE scheduler_event (
                    sequence bigserial PRIMARY KEY,
                    replica text NOT NULL,
                    time_ms double precision NOT NULL,
                    kind text NOT NULL,
                    request_id text,
                    request_class text,
                    tenant_id text,
                    reason_code text,
                    reason_message text
                )
                """
            ]
        ),
    ]

    /// Arbitrary, fixed: the advisory lock that serialises appends to the decisions log, so that sequence numbers
    /// become visible in order and a reader following `next_since` never skips one committed late.
    private static let eventLock: Int64 = 0x6d61_6974_7266

    // MARK: - Rows

    static let columns = [
        "id", "tenant_id", "request_class", "model", "state", "priority", "front_door", "submitted_ms", "deadline_ms",
        "dispatched_ms", "first_token_ms", "finished_ms", "reason_code", "reason_message", "attempts", "prediction",
        "body", "result", "requested_class", "decided",
    ]

    /// Rows per statement: 21 parameters each, under PostgreSQL's 65,535.
    private static let rowsPerStatement = 1_000

    @discardableResult
    func apply(_ operations: [StoreOperation]) async throws -> Set<String> {
        let batch = StoreBatch(operations)
        if batch.isEmpty { return [] }
        let (rows, events, deleteAll) = (batch.rows, batch.events, batch.deletesAll)
        return try await SharedDatabase.describingErrors { [rows, events, deleteAll] in
            try await client.withTransaction(logger: logger) { connection in
                if deleteAll {
                    try await connection.query("DELETE FROM request WHERE owner = \(replica)", logger: logger)
                }
                var fenced: Set<String> = []
                for chunk in rows.chunks(ofCount: Self.rowsPerStatement) {
                    fenced.formUnion(try await upsert(chunk, on: connection))
                }
                if !events.isEmpty {
                    // Last in the transaction: the lock is held only for the insert and the commit.
                    try await connection.query("SELECT pg_advisory_xact_lock(\(Self.eventLock))", logger: logger)
                    for chunk in events.chunks(ofCount: Self.eventsPerStatement) {
                        try await append(chunk, on: connection)
                    }
                }
                return fenced
            }
        }
    }

    /// Inserts new rows and updates those this replica owns; returns the ids it did not write (owned by another).
    private func upsert(_ rows: ArraySlice<RequestRow>, on connection: PostgresConnection) async throws -> Set<String> {
        var binds = PostgresBindings(capacity: rows.count * (Self.columns.count + 1))
        var values: [String] = []
        values.reserveCapacity(rows.count)
        for row in rows {
            let first = binds.count + 1
            try binds.append(row.id)
            try binds.append(row.tenantId)
            try binds.append(row.requestClass)
            try binds.append(row.model)
            try binds.append(row.state)
            try binds.append(Int32(clamping: row.priority))
            try binds.append(row.frontDoor)
            try binds.append(row.submittedMs)
            try binds.append(row.deadlineMs)
            try binds.append(row.dispatchedMs)
            try binds.append(row.firstTokenMs)
            try binds.append(row.finishedMs)
            try binds.append(row.reasonCode)
            try binds.append(row.reasonMessage)
            try binds.append(Int32(clamping: row.attempts))
            try binds.append(row.prediction)
            try binds.append(row.body)
            try binds.append(row.result)
            try binds.append(row.requestedClass)
            try binds.append(row.decided)
            try binds.append(replica)
            values.append(binds.row(from: first))
        }
        let all = Self.columns + ["owner"]
        let updates = Self.columns.dropFirst().map { "\($0) = EXCLUDED.\($0)" }.joined(separator: ", ")
        // The WHERE is the fence: a row another replica has taken over is left as it is, and its id is not returned.
        let sql = """
            INSERT INTO request (\(all.joined(separator: ", "))) VALUES \(values.joined(separator: ", "))
            ON CONFLICT (id) DO UPDATE SET \(updates) WHERE request.owner = EXCLUDED.owner
            RETURNING id
            """
        var written: Set<String> = []
        for try await id in try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
            .decode(String.self)
        {
            written.insert(id)
        }
        return Set(rows.map(\.id)).subtracting(written)
    }

    // MARK: - Decisions

    /// Events per statement: 8 parameters each.
    private static let eventsPerStatement = 5_000

    private func append(_ events: ArraySlice<SchedulerEvent>, on connection: PostgresConnection) async throws {
        var binds = PostgresBindings(capacity: events.count * 8)
        var values: [String] = []
        for event in events {
            let first = binds.count + 1
            try binds.append(replica)
            try binds.append(event.timeUnixMs)
            try binds.append(event.kind.rawValue)
            try binds.append(event.requestId)
            try binds.append(event.requestClass?.rawValue)
            try binds.append(event.tenantId)
            try binds.append(event.reason?.code)
            try binds.append(event.reason?.message)
            values.append(binds.row(from: first))
        }
        let sql = """
            INSERT INTO scheduler_event (replica, time_ms, kind, request_id, request_class, tenant_id, reason_code,
                reason_message) VALUES \(values.joined(separator: ", "))
            """
        try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
    }

    /// Every replica's decisions after `since`, numbered by the shared log.
    func events(since: Int, limit: Int) async throws -> EventsResponse? {
        try await SharedDatabase.describingErrors {
            var binds = PostgresBindings(capacity: 2)
            try binds.append(Int64(since))
            try binds.append(Int64(limit))
            let rows = try await client.query(
                PostgresQuery(
                    unsafeSQL: """
                        SELECT sequence, time_ms, kind, request_id, request_class, tenant_id, reason_code, reason_message
                        FROM scheduler_event WHERE sequence > $1 ORDER BY sequence LIMIT $2
                        """, binds: binds), logger: logger)
            var events: [SchedulerEvent] = []
            for try await row in rows {
                let cells = row.makeRandomAccess()
                guard let kind = SchedulerEventKind(rawValue: try cells[2].decode(String.self)) else { continue }
                let code = try cells[6].decode(String?.self)
                events.append(
                    SchedulerEvent(
                        sequence: Int(try cells[0].decode(Int64.self)),
                        timeUnixMs: try cells[1].decode(Double.self),
                        kind: kind,
                        requestId: try cells[3].decode(String?.self),
                        requestClass: try cells[4].decode(String?.self).flatMap(RequestClass.init(rawValue:)),
                        tenantId: try cells[5].decode(String?.self),
                        reason: code.map {
                            DecisionReason(code: $0, message: (try? cells[7].decode(String?.self)) ?? "")
                        }))
            }
            return EventsResponse(events: events, nextSince: events.last?.sequence ?? max(since, 0))
        }
    }

    // MARK: - Reading rows

    func row(id: String) async throws -> RequestRow? {
        try await SharedDatabase.describingErrors {
            let query = PostgresQuery(
                unsafeSQL: "SELECT \(Self.selected) FROM request WHERE id = $1", binds: try .of(id))
            for try await row in try await client.query(query, logger: logger) {
                return try Self.requestRow(row)
            }
            return nil
        }
    }

    /// A new replica id owns nothing yet: the work of a process that stopped is taken over through its lease.
    func unfinished() async throws -> [RequestRow] {
        try await SharedDatabase.describingErrors {
            let query = PostgresQuery(
                unsafeSQL: """
                    SELECT \(Self.selected) FROM request WHERE owner = $1 AND state IN ('queued', 'deferred', 'dispatched')
                    ORDER BY submitted_ms
                    """, binds: try .of(replica))
            return try await Self.requestRows(client.query(query, logger: logger))
        }
    }

    static let selected = columns.joined(separator: ", ")

    static func requestRows(_ sequence: PostgresRowSequence) async throws -> [RequestRow] {
        var rows: [RequestRow] = []
        for try await row in sequence { rows.append(try requestRow(row)) }
        return rows
    }

    /// A row selected with `selected`'s columns, in that order.
    static func requestRow(_ row: PostgresRow) throws -> RequestRow {
        let cells = row.makeRandomAccess()
        return RequestRow(
            id: try cells[0].decode(String.self),
            tenantId: try cells[1].decode(String.self),
            requestClass: try cells[2].decode(String.self),
            model: try cells[3].decode(String.self),
            state: try cells[4].decode(String.self),
            priority: Int(try cells[5].decode(Int32.self)),
            frontDoor: try cells[6].decode(Bool.self),
            submittedMs: try cells[7].decode(Double.self),
            deadlineMs: try cells[8].decode(Double.self),
            dispatchedMs: try cells[9].decode(Double?.self),
            firstTokenMs: try cells[10].decode(Double?.self),
            finishedMs: try cells[11].decode(Double?.self),
            reasonCode: try cells[12].decode(String?.self),
            reasonMessage: try cells[13].decode(String?.self),
            attempts: Int(try cells[14].decode(Int32.self)),
            prediction: try cells[15].decode(String.self),
            body: try cells[16].decode(String.self),
            result: try cells[17].decode(String?.self),
            requestedClass: try cells[18].decode(String?.self),
            decided: try cells[19].decode(Bool.self)
        )
    }
}
