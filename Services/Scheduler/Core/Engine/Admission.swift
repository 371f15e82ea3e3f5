import Contracts

/// The door: the class and deadline a request gets, the engine's own limits (queue bound, deadlines that cannot be
/// met), then the `OverloadPolicy` on its predicted cost and the congestion mode.
struct Admission: Sendable {
    private let policy: SchedulerPolicy
    private let overload: any OverloadPolicy

    init(policy: SchedulerPolicy) {
        self.policy = policy
        self.overload = makeOverloadPolicy(policy)
    }

    /// The class a request belongs to: by predicted size when the client gives none; the client's otherwise, except
    /// that heavy-labelled work confidently predicted short joins the interactive class (`promoteHeavyMaxP90Tokens`).
    func classify(_ job: Job) -> RequestClass {
        guard let requested = job.requestedClass else {
            if let shortProbability = job.predictedShortProbability {
                return shortProbability >= policy.interactiveMinShortProbability ? .interactive : .heavy
            }
            return job.boundedP50 <= policy.interactiveMaxPredictedTokens ? .interactive : .heavy
        }
        if requested == .heavy, policy.promoteHeavyMaxP90Tokens > 0, job.boundedP90 <= policy.promoteHeavyMaxP90Tokens {
            return .interactive
        }
        return requested
    }

    /// The request's deadline: the client's, else the default budget of the class the client asked for (promotion
    /// changes the queue, not the deadline).
    func deadline(of job: Job, in requestClass: RequestClass) -> Double {
        job.deadlineAtMs ?? job.submittedAtMs + policy.deadlineBudgetMs(job.requestedClass ?? requestClass)
    }

    /// Why a new request is refused, with when its client may usefully retry; nil when it may come in. `waiting` is
    /// the number of requests already waiting.
    func rejection(for record: JobRecord, waiting: Int, mode: CongestionModeName, now: Double) -> (
        reason: DecisionReason, retryAfterMs: Double
    )? {
        if waiting >= policy.maxQueueLength {
            let reason = ReasonCode.queueFull.reason(
                "The queue holds \(waiting) requests, its limit (max_queue_length).")
            return (reason, policy.rejectRetryAfterMs)
        }
        if policy.shedInfeasibleAtSubmit, now + record.item.predictedDurationMs > record.deadlineAtMs {
            let reason = ReasonCode.deadlineInfeasible.reason(
                "Predicted duration \(Int(record.item.predictedDurationMs)) ms cannot fit before the deadline in \(Int(record.deadlineAtMs - now)) ms."
            )
            return (reason, policy.rejectRetryAfterMs)
        }
        let (action, reason) = decide(cost: record.job.predictedCost, mode: mode)
        if action == .reject, let reason { return (reason, policy.rejectRetryAfterMs) }
        return nil
    }

    /// The overload policy's verdict on a request of predicted `cost` in `mode`.
    func decide(cost: Double, mode: CongestionModeName) -> (action: LadderAction, reason: DecisionReason?) {
        overload.decide(cost: cost, mode: mode)
    }
}
