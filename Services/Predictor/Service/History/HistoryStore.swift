import PredictorCore

/// Where the predictor keeps its history: SQLite in the data directory (one process, the default) or PostgreSQL
/// (`DATABASE_URL`, shared by predictor replicas). The engine talks to this interface only.
public protocol HistoryStore: Sendable {
    /// Whether other predictor processes write to the same history: the engine then numbers nothing itself and
    /// takes every replica's rows, its own included, from the store (`rows(after:limit:)`).
    var isShared: Bool { get }

    /// Writes `rows` in one transaction: all or none. A store of one process keeps the rows' numbers; a shared store
    /// numbers them itself, in commit order.
    func append(_ rows: [HistoryRow], latencies: [Double?]) async throws

    /// Every stored row, oldest first.
    func loadAll() async throws -> [HistoryRow]

    /// Rows numbered after `after`, oldest first, at most `limit` (nil: all).
    func rows(after: Int64, limit: Int?) async throws -> [HistoryRow]

    func count() async throws -> Int

    /// Deletes rows that are in neither the newest `window` overall nor the newest `window` of their tenant.
    func prune(window: Int) async throws

    /// Where a failed write was going and why, for the 503 the client gets.
    func writeFailure(_ error: any Error) -> String
}
