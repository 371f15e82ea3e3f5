import NIOConcurrencyHelpers
import ProxyCore

/// Releases a lease exactly once: with the call's outcome when the forwarder reaches the end, or as
/// cancelled when the response is dropped without its body ever being written.
final class LeaseGuard: Sendable {
    private struct State {
        var released = false
        var streaming = false
    }
    private let state = NIOLockedValueBox(State())
    let lease: Lease
    let dispatcher: AccountDispatcher

    init(lease: Lease, dispatcher: AccountDispatcher) {
        self.lease = lease
        self.dispatcher = dispatcher
    }

    /// The stream's first byte arrived `latencyMs` after the call was sent (see `AccountDispatcher.observeFirstByte`).
    func observeFirstByte(latencyMs: Double, paced: Bool = false) {
        let first = state.withLockedValue { state -> Bool in
            defer { state.streaming = true }
            return !state.streaming && !state.released
        }
        if first { dispatcher.observeFirstByte(lease, latencyMs: latencyMs, paced: paced) }
    }

    func release(_ outcome: UpstreamAttemptOutcome) {
        let (first, streaming) = state.withLockedValue { state -> (Bool, Bool) in
            defer { state.released = true }
            return (!state.released, state.streaming)
        }
        guard first else { return }
        var lease = lease
        lease.streaming = streaming
        dispatcher.release(lease, outcome: outcome)
    }

    /// Gives up the duty to release: another guard took the lease over.
    func disarm() {
        state.withLockedValue { $0.released = true }
    }

    deinit {
        release(.cancelled)
    }
}
