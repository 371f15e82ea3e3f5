import Contracts
import Foundation
import GRDB

/// Where the scheduler keeps its requests: SQLite in the data directory (one process, the default) or PostgreSQL
/// (`DATABASE_URL`, shared by scheduler replicas). The runtime talks to this interface only.
protocol RequestStore: Sendable {
    /// Applies a batch of operations in one transaction, each row's last version only. Returns the ids of rows it
    /// refused to write because another replica owns them now (a shared store fences every write; never any in a
    /// store of one process).
    @discardableResult
    func apply(_ operations: [StoreOperation]) async throws -> Set<String>

    func row(id: String) async throws -> RequestRow?

    /// This process's requests that had not finished when it last stopped, oldest first.
    func unfinished() async throws -> [RequestRow]

    /// Whether other scheduler processes share the store: a dispatch then goes out only once its fenced write has
    /// committed, and the engine's decisions are written to a shared log.
    var isShared: Bool { get }

    /// The decisions of every replica after `since`, oldest first; nil when the store keeps no shared log (one
    /// process: its engine's own log is all there is).
    func events(since: Int, limit: Int) async throws -> EventsResponse?
}

/// One request as stored: everything needed to answer `/status` and to dispatch it again after a restart.
struct RequestRow: Codable, FetchableRecord, PersistableRecord, Sendable {
    static let databaseTableName = "request"

    var id: String
    var tenantId: String
    var requestClass: String
    var model: String
    var state: String
    var priority: Int
    var frontDoor: Bool
    var submittedMs: Double
    var deadlineMs: Double
    var dispatchedMs: Double?
    var firstTokenMs: Double?
    var finishedMs: Double?
    var reasonCode: String?
    var reasonMessage: String?
    var attempts: Int
    /// The prediction, as JSON.
    var prediction: String
    /// The chat completion request sent upstream, as JSON.
    var body: String
    /// The upstream's answer, as JSON (`RequestResult`).
    var result: String?
    /// The class the client asked for (nil: the engine classifies by the prediction). Kept apart from
    /// `requestClass`, which before the decision is only provisional.
    var requestedClass: String? = nil
    /// Whether the engine has decided on the request (class and deadline final). A row written on arrival is not;
    /// after a restart the engine decides it again from the client's own class and deadline.
    var decided: Bool = true

    /// The columns in `SQLiteRequestStore.upsert`'s order.
    var arguments: StatementArguments {
        [
            id, tenantId, requestClass, model, state, priority, frontDoor, submittedMs, deadlineMs, dispatchedMs,
            firstTokenMs, finishedMs, reasonCode, reasonMessage, attempts, prediction, body, result, requestedClass,
            decided,
        ]
    }

    enum CodingKeys: String, CodingKey, ColumnExpression {
        case id, model, state, priority, attempts, prediction, body, result
        case tenantId = "tenant_id"
        case requestClass = "request_class"
        case frontDoor = "front_door"
        case submittedMs = "submitted_ms"
        case deadlineMs = "deadline_ms"
        case dispatchedMs = "dispatched_ms"
        case firstTokenMs = "first_token_ms"
        case finishedMs = "finished_ms"
        case reasonCode = "reason_code"
        case reasonMessage = "reason_message"
        case requestedClass = "requested_class"
        case decided
    }
}

/// A change to the stored requests.
enum StoreOperation: Sendable {
    /// Writes the row's current version (inserted, or replacing the stored one).
    case insert(RequestRow)
    case deleteAll
    /// Appends decisions to the shared log (a shared store only).
    case events([SchedulerEvent])
}

/// A batch of store operations folded into what a store writes: each request's last version (in the order of
/// first writes), whether every row is deleted first (writes before the delete go with it), and the decisions.
struct StoreBatch {
    var rows: [RequestRow] = []
    var deletesAll = false
    var events: [SchedulerEvent] = []

    init(_ operations: [StoreOperation]) {
        var latest: [String: Int] = [:]
        for operation in operations {
            switch operation {
            case .insert(let row):
                if let index = latest[row.id] {
                    rows[index] = row
                } else {
                    latest[row.id] = rows.count
                    rows.append(row)
                }
            case .deleteAll:
                rows.removeAll(keepingCapacity: true)
                latest.removeAll(keepingCapacity: true)
                deletesAll = true
            case .events(let batch):
                events += batch
            }
        }
    }

    var isEmpty: Bool { rows.isEmpty && !deletesAll && events.isEmpty }
}

extension RequestRow {
    /// Moves the row to `state` with `reason` (none clears it).
    mutating func set(_ state: RequestState, reason: DecisionReason?) {
        self.state = state.rawValue
        reasonCode = reason?.code
        reasonMessage = reason?.message
    }

    /// Ends the row in `state` with `reason` at `now`.
    mutating func end(_ state: RequestState, reason: DecisionReason, now: Double) {
        set(state, reason: reason)
        finishedMs = now
    }
}
