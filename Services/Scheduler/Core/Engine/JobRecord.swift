import Contracts

/// The engine's bookkeeping for one live (not yet finished) request.
struct JobRecord: Sendable {
    var job: Job
    var requestClass: RequestClass
    var deadlineAtMs: Double
    var reservedTokens: Int
    var item: OrderingItem
    var state: RequestState
    /// Set while the request waits out a rate-limit back-off before it rejoins its queue.
    var backingOff = false
    var attempts = 0
    var sequence: Int
    var generation = 0
    var dispatchedAtMs: Double?
    /// The engine's in-flight area (requests × ms) when this request was dispatched.
    var inflightAreaAtDispatch = 0.0
    /// Requests in flight right after this one was dispatched (itself included).
    var inflightAtDispatch = 0
    /// Whether this attempt's first token was reported (`SchedulerEngine.firstToken`), and whether it grew the
    /// start-up cap.
    var firstTokenSeen = false
    var grewStartupCap = false
    /// Where this attempt's streamed answer stood when it was last measured (`SchedulerEngine.progress`).
    var streamMark: StreamMark?
    var reason: DecisionReason?

    /// A streamed answer's content chunks so far, when they were counted, and the engine's in-flight area then.
    struct StreamMark: Sendable {
        var chunks: Int
        var atMs: Double
        var inflightArea: Double
    }

    /// When a request still waiting is given up: its deadline plus `graceFactor` deadline budgets.
    func expiresAtMs(graceFactor: Double) -> Double {
        deadlineAtMs + graceFactor * max(deadlineAtMs - job.submittedAtMs, 0)
    }
}
