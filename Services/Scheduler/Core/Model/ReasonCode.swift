import Contracts

/// The machine-readable reason codes the engine emits, each with the sentence people read.
public enum ReasonCode: String, Sendable, CaseIterable {
    case ladderDefer = "ladder_defer"
    case ladderReject = "ladder_reject"
    case queueFull = "queue_full"
    case deadlineInfeasible = "deadline_infeasible"
    case deadlineExpired = "deadline_expired"
    case rateLimitedRequeue = "rate_limited_requeue"
    case rateLimitedExhausted = "rate_limited_exhausted"
    case upstreamFailed = "upstream_failed"
    case clientDisconnected = "client_disconnected"
    case shutdown = "shutdown"
    case restartRequeue = "restart_requeue"
    case restartFailed = "restart_failed"
    /// The scheduler replica that owned the request stopped while it was in flight, or another replica took it over.
    case replicaLost = "replica_lost"
    /// A shared store could not record the dispatch, so the request was not sent.
    case storageUnavailable = "storage_unavailable"
    case modeChange = "mode_change"

    /// This code with a sentence.
    public func reason(_ message: String) -> DecisionReason {
        DecisionReason(code: rawValue, message: message)
    }
}
