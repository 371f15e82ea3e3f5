import Foundation
import GRDB
import PredictorCore

/// The predictor's durable history in SQLite, the default: one row per completed request (WAL, synchronous=FULL, so
/// a row is on disk before `/ingest` answers), keyed by a sequence number the predictor assigns so that memory and
/// disk agree on order. Rows outside every window are pruned now and then.
public struct SQLiteHistoryStore: HistoryStore {
    let writer: any DatabaseWriter

    /// Opens (creating if needed) `history.sqlite` in `directory`, in WAL mode.
    public static func open(directory: URL) throws -> SQLiteHistoryStore {
        try open(file: directory.appendingPathComponent("history.sqlite").path)
    }

    /// Opens (creating if needed) the history database at `file`.
    public static func open(file: String) throws -> SQLiteHistoryStore {
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // Reads happen once, at start (the window lives in memory); writes are appends. SQLite's default
            // 2 MiB page cache per connection would only hold pages nobody reads again.
            try db.execute(sql: "PRAGMA cache_size = -512")
        }
        let pool = try DatabasePool(path: file, configuration: configuration)
        return try SQLiteHistoryStore(writer: pool)
    }

    /// An in-memory store, for tests.
    public static func inMemory() throws -> SQLiteHistoryStore {
        try SQLiteHistoryStore(writer: DatabaseQueue())
    }

    init(writer: any DatabaseWriter) throws {
        self.writer = writer
        try Self.migrator.migrate(writer)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-history") { db in
            try db.create(table: "history") { table in
                table.primaryKey("seq", .integer)
                table.column("embedding", .blob).notNull()
                table.column("surface", .blob).notNull()
                table.column("prompt_tokens", .integer).notNull()
                table.column("output_tokens", .integer).notNull()
                table.column("max_tokens", .integer)
                table.column("model", .text).notNull()
                table.column("task_type", .text)
                table.column("tenant_id", .text)
                table.column("success", .boolean).notNull()
                table.column("finish_reason", .text)
                table.column("latency_ms", .double)
                table.column("time", .double).notNull()
            }
            try db.create(index: "history_tenant", on: "history", columns: ["tenant_id", "seq"])
        }
        migrator.registerMigration("v2-history-embedder") { db in
            try db.alter(table: "history") { table in table.add(column: "embedder", .text) }
        }
        return migrator
    }

    public var isShared: Bool { false }

    /// Writes `rows` in one transaction: all or none.
    public func append(_ rows: [HistoryRow], latencies: [Double?]) async throws {
        try await writer.write { db in
            for (row, latency) in zip(rows, latencies) {
                try db.execute(
                    sql: """
                        INSERT INTO history (seq, embedding, surface, prompt_tokens, output_tokens, max_tokens, model,
                          task_type, tenant_id, success, finish_reason, latency_ms, time, embedder)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        row.id, Self.blob(row.embedding), Self.blob(row.surface), row.promptTokens, row.outputTokens,
                        row.maxTokens, row.model, row.taskType, row.tenantId, row.success, row.finishReason, latency,
                        row.time, row.embedder,
                    ])
            }
        }
    }

    /// Every stored row, oldest first.
    public func loadAll() async throws -> [HistoryRow] {
        try await rows(after: 0, limit: nil)
    }

    /// Rows numbered after `after`, oldest first, at most `limit`.
    public func rows(after: Int64, limit: Int?) async throws -> [HistoryRow] {
        try await writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM history WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [after, limit ?? -1]
            ).map { row in
                HistoryRow(
                    id: row["seq"], embedding: Self.floats(row["embedding"]), surface: Self.floats(row["surface"]),
                    promptTokens: row["prompt_tokens"], outputTokens: row["output_tokens"],
                    maxTokens: row["max_tokens"],
                    model: row["model"], taskType: row["task_type"], tenantId: row["tenant_id"],
                    success: row["success"],
                    finishReason: row["finish_reason"], time: row["time"], embedder: row["embedder"]
                )
            }
        }
    }

    public func count() async throws -> Int {
        try await writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM history") ?? 0 }
    }

    /// Deletes rows that are in neither the newest `window` overall nor the newest `window` of their tenant.
    public func prune(window: Int) async throws {
        try await writer.write { db in
            try db.execute(
                sql: """
                    DELETE FROM history
                    WHERE seq <= (SELECT COALESCE(MAX(seq), 0) FROM history) - ?
                      AND (tenant_id IS NULL OR seq NOT IN (
                        SELECT seq FROM (
                          SELECT seq, ROW_NUMBER() OVER (PARTITION BY tenant_id ORDER BY seq DESC) AS rank
                          FROM history WHERE tenant_id IS NOT NULL) WHERE rank <= ?))
                    """,
                arguments: [window, window])
        }
    }

    /// A write error in one line: SQLite's code and message, without the statement.
    public static func describe(_ error: any Error) -> String {
        if let database = error as? DatabaseError {
            return "SQLite error \(database.resultCode.rawValue): \(database.message ?? "unknown")"
        }
        return String(describing: error)
    }

    public func writeFailure(_ error: any Error) -> String {
        "the data directory (\(Self.describe(error)); disk full or no longer writable)"
    }

    static func blob(_ values: [Float]) -> Data {
        values.withUnsafeBufferPointer { Data(buffer: $0) }
    }

    static func floats(_ data: Data) -> [Float] {
        var values = [Float](repeating: 0, count: data.count / MemoryLayout<Float>.stride)
        _ = values.withUnsafeMutableBytes { data.copyBytes(to: $0) }
        return values
    }
}
