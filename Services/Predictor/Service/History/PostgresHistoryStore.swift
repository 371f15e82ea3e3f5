import Foundation
import Logging
import PostgresNIO
import PostgresSupport
import PredictorCore

/// The predictor's history in PostgreSQL (`DATABASE_URL`), shared by predictor replicas: every replica appends its
/// ingests and reads everyone's, in the order the database numbered them.
public struct PostgresHistoryStore: HistoryStore {
    let database: SharedDatabase

    public init(database: SharedDatabase) {
        self.database = database
    }

    private var client: PostgresClient { database.client }
    private var logger: Logger { database.logger }

    public var isShared: Bool { true }

    /// The predictor's named, append-only migrations.
    public static let migrations: [NamedMigration] = [
        NamedMigration(
            "predictor-v1-history",
            [
                """
                CREATE TABLE history (
                    seq bigserial PRIMARY KEY,
                    embedding bytea NOT NULL,
                    surface bytea NOT NULL,
                    prompt_tokens integer NOT NULL,
                    output_tokens integer NOT NULL,
                    max_tokens integer,
                    model text NOT NULL,
                    task_type text,
                    tenant_id text,
                    success boolean NOT NULL,
                    finish_reason text,
                    latency_ms double precision,
                    time double precision NOT NULL
                )
                """,
                "CREATE INDEX history_tenant ON history (tenant_id, seq)",
            ]),
        NamedMigration("predictor-v2-history-embedder", ["ALTER TABLE history ADD COLUMN embedder text"]),
    ]

    /// Arbitrary, fixed: appends take turns under this advisory lock, so numbers become visible in order and a
    /// replica reading on from the last number it saw never skips a row committed late.
    private static let appendLock: Int64 = 0x6d61_6974_7270

    /// Rows per statement: 13 parameters each.
    private static let rowsPerStatement = 2_000

    public func append(_ rows: [HistoryRow], latencies: [Double?]) async throws {
        guard !rows.isEmpty else { return }
        try await SharedDatabase.describingErrors {
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(\(Self.appendLock))", logger: logger)
                for statement in rows.indices.chunks(ofCount: Self.rowsPerStatement) {
                    var binds = PostgresBindings(capacity: statement.count * 13)
                    var values: [String] = []
                    for index in statement {
                        let row = rows[index]
                        let first = binds.count + 1
                        try binds.append(SQLiteHistoryStore.blob(row.embedding))
                        try binds.append(SQLiteHistoryStore.blob(row.surface))
                        try binds.append(Int32(clamping: row.promptTokens))
                        try binds.append(Int32(clamping: row.outputTokens))
                        try binds.append(row.maxTokens.map { Int32(clamping: $0) })
                        try binds.append(row.model)
                        try binds.append(row.taskType)
                        try binds.append(row.tenantId)
                        try binds.append(row.success)
                        try binds.append(row.finishReason)
                        try binds.append(index < latencies.count ? latencies[index] : nil)
                        try binds.append(row.time)
                        binds.append(row.embedder)
                        values.append(binds.row(from: first))
                    }
                    let sql = """
                        INSERT INTO history (embedding, surface, prompt_tokens, output_tokens, max_tokens, model, task_type,
                            tenant_id, success, finish_reason, latency_ms, time, embedder) VALUES \(values.joined(separator: ", "))
                        """
                    try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
                }
            }
        }
    }

    public func loadAll() async throws -> [HistoryRow] {
        try await rows(after: 0, limit: nil)
    }

    public func rows(after: Int64, limit: Int?) async throws -> [HistoryRow] {
        // Loading the whole window at start-up reads megabytes of embeddings: more time than one ordinary operation.
        try await SharedDatabase.describingErrors(
            timeout: limit == nil ? .seconds(300) : SharedDatabase.operationTimeout
        ) {
            let sql = """
                SELECT seq, embedding, surface, prompt_tokens, output_tokens, max_tokens, model, task_type, tenant_id,
                    success, finish_reason, time, embedder
                FROM history WHERE seq > $1 ORDER BY seq LIMIT $2
                """
            let query = PostgresQuery(unsafeSQL: sql, binds: try .of(after, Int64(limit ?? Int(Int32.max))))
            var rows: [HistoryRow] = []
            for try await row in try await client.query(query, logger: logger) {
                let cells = row.makeRandomAccess()
                rows.append(
                    HistoryRow(
                        id: try cells[0].decode(Int64.self),
                        embedding: SQLiteHistoryStore.floats(try cells[1].decode(Data.self)),
                        surface: SQLiteHistoryStore.floats(try cells[2].decode(Data.self)),
                        promptTokens: Int(try cells[3].decode(Int32.self)),
                        outputTokens: Int(try cells[4].decode(Int32.self)),
                        maxTokens: try cells[5].decode(Int32?.self).map(Int.init),
                        model: try cells[6].decode(String.self),
                        taskType: try cells[7].decode(String?.self),
                        tenantId: try cells[8].decode(String?.self),
                        success: try cells[9].decode(Bool.self),
                        finishReason: try cells[10].decode(String?.self),
                        time: try cells[11].decode(Double.self),
                        embedder: try cells[12].decode(String?.self)))
            }
            return rows
        }
    }

    public func count() async throws -> Int {
        try await SharedDatabase.describingErrors {
            for try await count in try await client.query("SELECT COUNT(*) FROM history", logger: logger)
                .decode(Int64.self)
            {
                return Int(count)
            }
            return 0
        }
    }

    public func prune(window: Int) async throws {
        try await SharedDatabase.describingErrors {
            let sql = """
                DELETE FROM history
                WHERE seq <= (SELECT COALESCE(MAX(seq), 0) FROM history) - $1
                  AND (tenant_id IS NULL OR seq NOT IN (
                    SELECT seq FROM (
                      SELECT seq, ROW_NUMBER() OVER (PARTITION BY tenant_id ORDER BY seq DESC) AS rank
                      FROM history WHERE tenant_id IS NOT NULL) AS ranked WHERE rank <= $1))
                """
            try await client.query(PostgresQuery(unsafeSQL: sql, binds: try .of(Int64(window))), logger: logger)
        }
    }

    public func writeFailure(_ error: any Error) -> String {
        "the shared PostgreSQL database (\(SharedDatabaseError(error)); unreachable or refusing writes)"
    }
}
