import Contracts

/// The engine's recent decisions, numbered, in a bounded ring (the service persists what it needs).
struct EventLog: Sendable {
    private(set) var events: [SchedulerEvent] = []
    private(set) var nextSequence = 1
    private var start = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    mutating func append(
        _ kind: SchedulerEventKind,
        now: Double,
        record: JobRecord? = nil,
        reason: DecisionReason? = nil
    ) {
        let sequence = nextSequence
        nextSequence += 1
        guard capacity > 0 else { return }
        let event = SchedulerEvent(
            sequence: sequence,
            timeUnixMs: now,
            kind: kind,
            requestId: record?.job.id,
            requestClass: record?.requestClass,
            tenantId: record?.job.tenantId,
            reason: reason
        )
        if events.count < capacity {
            events.append(event)
        } else {
            events[start] = event
            start = (start + 1) % capacity
        }
    }

    /// Events with a sequence above `since`, oldest first, at most `limit`.
    func since(_ since: Int, limit: Int) -> EventsResponse {
        let ordered = events.count < capacity ? events : Array(events[start...] + events[..<start])
        let selected = ordered.lazy.filter { $0.sequence > since }.prefix(limit)
        let page = Array(selected)
        return EventsResponse(events: page, nextSince: page.last?.sequence ?? max(since, 0))
    }

    /// The newest events first, at most `limit`, only those of `tenant` when given.
    func latest(limit: Int, tenant: String? = nil) -> [SchedulerEvent] {
        var result: [SchedulerEvent] = []
        var offset = events.count
        while offset > 0, result.count < limit {
            offset -= 1
            let event = events[(start + offset) % events.count]
            if tenant == nil || event.tenantId == tenant { result.append(event) }
        }
        return result
    }
}
