import NIOConcurrencyHelpers
import ProxyCore

/// Releases a lease exactly once: with the call's outcome when the forwarder reaches the end, or as
/// cancelled when the response is dropped without its body ever being written.
final class LeaseGuard: Sendable {
    private let released = NIOLockedValueBox(false)
    let lease: Lease
    let dispatcher: AccountDispatcher

    init(lease: Lease, dispatcher: AccountDispatcher) {
        self.lease = lease
        self.dispatcher = dispatcher
    }

    func release(_ outcome: UpstreamAttemptOutcome) {
        let first = released.withLockedValue { released -> Bool in
            defer { released = true }
            return !released
        }
        if first { dispatcher.release(lease, outcome: outcome) }
    }

    /// Gives up the duty to release: another guard took the lease over.
    func disarm() {
        released.withLockedValue { $0 = true }
    }

    deinit {
        release(.cancelled)
    }
}
