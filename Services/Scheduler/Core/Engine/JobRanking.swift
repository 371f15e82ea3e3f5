import Contracts

/// The keys a waiting request is queued under: its class's `OrderingPolicy` rank, shifted by its priority.
struct JobRanking: Sendable {
    /// Ordering per class, by `RequestClass.index` (the size weight may differ between classes).
    private let orderings: [any OrderingPolicy]
    /// One priority step moves a request this far in rank.
    private let priorityStepMs: Double

    /// The ranking a policy describes; `trust` scales how much predicted sizes weigh where the ordering uses them.
    init(_ policy: SchedulerPolicy, trust: Double) {
        orderings = RequestClass.allCases.sorted { $0.index < $1.index }.map {
            makeOrderingPolicy(policy, for: $0, trust: trust)
        }
        priorityStepMs = policy.priorityStepMs
    }

    func ordering(_ requestClass: RequestClass) -> any OrderingPolicy {
        orderings[requestClass.index]
    }

    /// Rank among requests that can still meet their deadline.
    func key(_ record: JobRecord) -> Double {
        ordering(record.requestClass).rank(record.item) - priorityShiftMs(record)
    }

    /// Rank among requests that can no longer meet their deadline.
    func infeasibleKey(_ record: JobRecord) -> Double {
        ordering(record.requestClass).infeasibleRank(record.item) - priorityShiftMs(record)
    }

    /// When the request becomes urgent, for orderings that age by slack.
    func urgentFromMs(_ record: JobRecord) -> Double? {
        ordering(record.requestClass).urgentFromMs(record.item).map { $0 - priorityShiftMs(record) }
    }

    /// Rank among requests that have become urgent.
    func urgentRank(_ record: JobRecord) -> Double {
        ordering(record.requestClass).urgentRank(record.item) - priorityShiftMs(record)
    }

    private func priorityShiftMs(_ record: JobRecord) -> Double {
        Double(record.job.priority - 5) * priorityStepMs
    }
}
