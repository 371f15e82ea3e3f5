import Contracts
import Foundation
import GRDB

/// The scheduler's SQLite database (WAL through `DatabasePool` on disk, a queue in memory for tests): the store of
/// one scheduler process, the default.
struct SQLiteRequestStore: RequestStore {
    let writer: any DatabaseWriter

    /// Opens (and migrates) the database at `path`, or an in-memory one for `:memory:`.
    static func open(path: String) throws -> SQLiteRequestStore {
        let writer: any DatabaseWriter
        if path == ":memory:" {
            writer = try DatabaseQueue()
        } else {
            var configuration = Configuration()
            configuration.prepareDatabase { db in
                // WAL with NORMAL sync is durable against process crashes (kill -9), which is what 202 promises.
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
            }
            writer = try DatabasePool(path: path, configuration: configuration)
        }
        try migrator.migrate(writer)
        return SQLiteRequestStore(writer: writer)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-requests") { db in
            try db.create(table: "request") { table in
                table.column("id", .text).primaryKey()
                table.column("tenant_id", .text).notNull()
                table.column("request_class", .text).notNull()
                table.column("model", .text).notNull()
                table.column("state", .text).notNull().indexed()
                table.column("priority", .integer).notNull()
                table.column("front_door", .boolean).notNull()
                table.column("submitted_ms", .double).notNull()
                table.column("deadline_ms", .double).notNull()
                table.column("dispatched_ms", .double)
                table.column("first_token_ms", .double)
                table.column("finished_ms", .double)
                table.column("reason_code", .text)
                table.column("reason_message", .text)
                table.column("attempts", .integer).notNull()
                table.column("prediction", .text).notNull()
                table.column("body", .text).notNull()
                table.column("result", .text)
            }
        }
        migrator.registerMigration("v2-decided") { db in
            try db.alter(table: "request") { table in
                table.add(column: "requested_class", .text)
                table.add(column: "decided", .boolean).notNull().defaults(to: true)
            }
            // Version 1 marked an undecided row by a deadline equal to its submit time.
            try db.execute(sql: "UPDATE request SET decided = 0 WHERE deadline_ms <= submitted_ms")
        }
        return migrator
    }

    /// Applies a batch of operations in one transaction. Only each row's last version in the batch is written: a
    /// transaction's intermediate states are never visible, and under load a request's decision and its dispatch
    /// often share a batch (its arrival never does: it is on disk before the engine decides). Rows are written through one cached statement with positional arguments (GRDB's Codable
    /// record path costs more than the write itself).
    var isShared: Bool { false }

    func events(since: Int, limit: Int) async throws -> EventsResponse? { nil }

    @discardableResult
    func apply(_ operations: [StoreOperation]) async throws -> Set<String> {
        try await writer.write { db in
            // One process: its decisions are in its engine's log, so the batch's events are not written.
            let batch = StoreBatch(operations)
            if batch.deletesAll { try RequestRow.deleteAll(db) }
            let rows = batch.rows
            guard !rows.isEmpty else { return [] }
            let statement = try db.cachedStatement(sql: Self.upsert)
            for row in rows { try statement.execute(arguments: row.arguments) }
            // One process owns the file: nothing is ever fenced out.
            return []
        }
    }

    /// Insert, or update in place: unlike REPLACE (a delete and an insert), an update leaves the id and state
    /// indexes alone when those columns do not change, which is most of a request's writes.
    static let upsert: String = {
        let columns = [
            "id", "tenant_id", "request_class", "model", "state", "priority", "front_door", "submitted_ms",
            "deadline_ms",
            "dispatched_ms", "first_token_ms", "finished_ms", "reason_code", "reason_message", "attempts", "prediction",
            "body", "result", "requested_class", "decided",
        ]
        let placeholders = Array(repeating: "?", count: columns.count).joined(separator: ", ")
        let updates = columns.dropFirst().map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
        return
            "INSERT INTO request (\(columns.joined(separator: ", "))) VALUES (\(placeholders)) ON CONFLICT(id) DO UPDATE SET \(updates)"
    }()

    func row(id: String) async throws -> RequestRow? {
        try await writer.read { db in try RequestRow.fetchOne(db, key: id) }
    }

    /// Requests that had not finished when the process stopped, oldest first.
    func unfinished() async throws -> [RequestRow] {
        try await writer.read { db in
            try RequestRow
                .filter(
                    [RequestState.queued.rawValue, RequestState.deferred.rawValue, RequestState.dispatched.rawValue]
                        .contains(RequestRow.CodingKeys.state)
                )
                .order(RequestRow.CodingKeys.submittedMs)
                .fetchAll(db)
        }
    }
}
