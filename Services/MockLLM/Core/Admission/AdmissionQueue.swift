/// The provider's hard concurrency cap with a FIFO waiting line behind it. Pure state: the service
/// resumes the waiter whose ticket `release` hands back.
public struct AdmissionQueue: Sendable {
    /// Requests served at once; arrivals beyond wait in line.
    public let maxConcurrency: Int
    /// Longest waiting line; arrivals beyond are turned away (0 = no line, `Int.max` = unbounded).
    public let maxQueue: Int
    public private(set) var inFlight = 0
    private var line: [UInt64] = []
    private var head = 0
    private var withdrawn: Set<UInt64> = []

    public init(maxConcurrency: Int, maxQueue: Int) {
        self.maxConcurrency = max(1, maxConcurrency)
        self.maxQueue = max(0, maxQueue)
    }

    /// What happened to an arrival.
    public enum Arrival: Sendable, Equatable {
        case admitted
        case queued
        case rejected
    }

    /// Requests waiting in line.
    public var queueDepth: Int { line.count - head - withdrawn.count }

    /// Admits `ticket` when a slot is free, else queues it (or rejects it when the line is full).
    public mutating func arrive(_ ticket: UInt64) -> Arrival {
        if inFlight < maxConcurrency && queueDepth == 0 {
            inFlight += 1
            return .admitted
        }
        guard queueDepth < maxQueue else { return .rejected }
        line.append(ticket)
        return .queued
    }

    /// Frees the slot of a finished request; returns the queued ticket that now holds it, if any.
    public mutating func release() -> UInt64? {
        while head < line.count {
            let ticket = line[head]
            head += 1
            compactIfNeeded()
            if withdrawn.remove(ticket) != nil { continue }
            return ticket
        }
        inFlight = max(0, inFlight - 1)
        return nil
    }

    /// Takes a waiting ticket out of line (its client gave up). Returns false when it is not waiting.
    public mutating func withdraw(_ ticket: UInt64) -> Bool {
        guard line[head...].contains(ticket), !withdrawn.contains(ticket) else { return false }
        withdrawn.insert(ticket)
        return true
    }

    private mutating func compactIfNeeded() {
        if head > 1024 && head * 2 > line.count {
            line.removeFirst(head)
            head = 0
        }
    }
}
