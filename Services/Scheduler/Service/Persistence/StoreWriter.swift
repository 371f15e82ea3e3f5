import GRDB
import Synchronization

/// Why a batch could not be written, in one line (the database's code and message, without the statement).
struct StoreWriteError: Error, CustomStringConvertible {
    var description: String

    init(_ error: any Error) {
        if let database = error as? DatabaseError {
            description = "SQLite error \(database.resultCode.rawValue): \(database.message ?? "unknown")"
        } else {
            description = String(describing: error)
        }
    }
}

/// Group commit for the store: operations are queued in call order and written in one transaction per batch; a
/// caller that must not answer before its write is on disk (`POST /submit` before its 202) waits for its ticket.
/// While one transaction runs, the next batch gathers, so throughput grows with load without a timer.
final class StoreWriter: Sendable {
    private struct State {
        var pending: [StoreOperation] = []
        var enqueued = 0
        var flushed = 0
        var flushing = false
        var waiters: [(ticket: Int, continuation: CheckedContinuation<Void, any Error>)] = []
        /// Ticket ranges of recent failed transactions, newest last, so a caller that asks after its batch was
        /// written learns that batch's fate, not the last one's.
        var failures: [(tickets: ClosedRange<Int>, error: any Error)] = []
        /// Requests whose writes a shared store refused: another replica owns them now.
        var fencedOut: Set<String> = []

        func failure(of ticket: Int) -> (any Error)? {
            failures.last { $0.tickets.contains(ticket) }?.error
        }
    }

    /// Failed batches remembered for callers that ask late; a caller waits between its enqueue and its wait, so
    /// it is never more than a few batches behind.
    private static let failuresKept = 256

    private let store: any RequestStore
    private let state = Mutex(State())

    init(store: any RequestStore) {
        self.store = store
    }

    /// Queues an operation; returns the ticket to wait for.
    @discardableResult
    func enqueue(_ operation: StoreOperation) -> Int {
        let (ticket, start) = state.withLock { state -> (Int, Bool) in
            state.pending.append(operation)
            state.enqueued += 1
            let start = !state.flushing
            state.flushing = true
            return (state.enqueued, start)
        }
        if start { Task { await self.flushLoop() } }
        return ticket
    }

    /// Returns once the operation with this ticket is committed; throws if its transaction failed.
    func waitDurable(_ ticket: Int) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let ready: Result<Void, any Error>? = state.withLock { state in
                if ticket <= state.flushed {
                    return state.failure(of: ticket).map { .failure($0) } ?? .success(())
                }
                state.waiters.append((ticket, continuation))
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    /// Whether a write of this request was refused because another replica owns it now (it never becomes this
    /// process's again).
    func isFencedOut(_ id: String) -> Bool {
        state.withLock { $0.fencedOut.contains(id) }
    }

    /// Writes everything queued so far (used at shutdown and in tests).
    func flush() async throws {
        let ticket = state.withLock { $0.enqueued }
        if ticket > 0 { try await waitDurable(ticket) }
    }

    private func flushLoop() async {
        while true {
            let (batch, first, through) = state.withLock { state -> ([StoreOperation], Int, Int) in
                let batch = state.pending
                state.pending = []
                if batch.isEmpty { state.flushing = false }
                return (batch, state.flushed + 1, state.enqueued)
            }
            guard !batch.isEmpty else { return }
            var failure: (any Error)?
            var fenced: Set<String> = []
            do {
                fenced = try await store.apply(batch)
            } catch {
                failure = StoreWriteError(error)
            }
            let ready = state.withLock { state -> [(ticket: Int, continuation: CheckedContinuation<Void, any Error>)] in
                state.flushed = through
                state.fencedOut.formUnion(fenced)
                if let failure {
                    state.failures.append((first...through, failure))
                    if state.failures.count > Self.failuresKept {
                        state.failures.removeFirst(state.failures.count - Self.failuresKept)
                    }
                }
                let ready = state.waiters.filter { $0.ticket <= through }
                state.waiters.removeAll { $0.ticket <= through }
                return ready
            }
            for waiter in ready {
                if let failure { waiter.continuation.resume(throwing: failure) } else { waiter.continuation.resume() }
            }
        }
    }
}
