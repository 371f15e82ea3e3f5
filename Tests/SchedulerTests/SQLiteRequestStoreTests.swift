import Contracts
import Foundation
import GRDB
import Testing

@testable import Scheduler

/// The store's batch writes: every column round-trips, each row's last version in a batch wins, and a reset inside
/// a batch removes what came before it.
@Suite struct SQLiteRequestStoreTests {
    private func row(_ id: String, state: RequestState = .queued, result: String? = nil) -> RequestRow {
        RequestRow(
            id: id, tenantId: "acme", requestClass: "heavy", model: "gpt-4o-mini", state: state.rawValue, priority: 3,
            frontDoor: true, submittedMs: 1_000.5, deadlineMs: 61_000, dispatchedMs: 2_000, firstTokenMs: nil,
            finishedMs: state.isTerminal ? 9_000 : nil, reasonCode: "ladder_defer", reasonMessage: "Deferred.",
            attempts: 2, prediction: #"{"p50":1}"#, body: #"{"model":"m"}"#, result: result, requestedClass: "heavy",
            decided: false)
    }

    private func open() throws -> SQLiteRequestStore {
        try SQLiteRequestStore.open(path: ":memory:")
    }

    @Test func everyColumnRoundTrips() async throws {
        let store = try open()
        let written = row("a", state: .completed, result: #"{"status_code":200}"#)
        try await store.apply([.insert(written)])
        let read = try #require(try await store.row(id: "a"))
        #expect(read.tenantId == "acme")
        #expect(read.requestClass == "heavy")
        #expect(read.state == RequestState.completed.rawValue)
        #expect(read.priority == 3)
        #expect(read.frontDoor)
        #expect(read.submittedMs == 1_000.5)
        #expect(read.deadlineMs == 61_000)
        #expect(read.dispatchedMs == 2_000)
        #expect(read.firstTokenMs == nil)
        #expect(read.finishedMs == 9_000)
        #expect(read.reasonCode == "ladder_defer")
        #expect(read.reasonMessage == "Deferred.")
        #expect(read.attempts == 2)
        #expect(read.prediction == #"{"p50":1}"#)
        #expect(read.body == #"{"model":"m"}"#)
        #expect(read.result == #"{"status_code":200}"#)
        #expect(read.requestedClass == "heavy")
        #expect(!read.decided)
    }

    /// A version-1 database: its undecided rows (deadline = submit time) are marked undecided, the rest decided.
    @Test func version1RowsAreMigrated() throws {
        let queue = try DatabaseQueue()
        try SQLiteRequestStore.migrator.migrate(queue, upTo: "v1-requests")
        try queue.write { db in
            for (id, deadline) in [("undecided", 1_000.0), ("decided", 61_000.0)] {
                try db.execute(
                    sql: """
                        INSERT INTO request (id, tenant_id, request_class, model, state, priority, front_door, submitted_ms,
                            deadline_ms, attempts, prediction, body) VALUES (?, 'a', 'interactive', 'm', 'queued', 5, 0, 1000, ?, 0, '{}', '{}')
                        """, arguments: [id, deadline])
            }
        }
        try SQLiteRequestStore.migrator.migrate(queue)
        let rows = try queue.read { db in try RequestRow.fetchAll(db).sorted { $0.id < $1.id } }
        #expect(rows.map(\.id) == ["decided", "undecided"])
        #expect(rows.map(\.decided) == [true, false])
        #expect(rows.allSatisfy { $0.requestedClass == nil })
    }

    @Test func theLastVersionInABatchWins() async throws {
        let store = try open()
        try await store.apply([.insert(row("a")), .insert(row("b")), .insert(row("a", state: .dispatched))])
        #expect(try await store.row(id: "a")?.state == RequestState.dispatched.rawValue)
        #expect(try await store.row(id: "b")?.state == RequestState.queued.rawValue)
        // A later batch replaces the stored version.
        try await store.apply([.insert(row("b", state: .failed))])
        #expect(try await store.row(id: "b")?.state == RequestState.failed.rawValue)
    }

    @Test func aResetInsideABatchRemovesWhatCameBefore() async throws {
        let store = try open()
        try await store.apply([.insert(row("old"))])
        try await store.apply([.insert(row("a")), .deleteAll, .insert(row("c"))])
        #expect(try await store.row(id: "old") == nil)
        #expect(try await store.row(id: "a") == nil)
        #expect(try await store.row(id: "c") != nil)
        #expect(try await store.unfinished().map(\.id) == ["c"])
    }
}
