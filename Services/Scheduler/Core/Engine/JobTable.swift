/// The engine's requests by slot: a slot is an index that stays the request's until it ends and is then reused, so
/// queue entries (`RankEntry`) can name a request by a small integer. A queue entry is live while its request is in
/// the slot with the same sequence and generation (a request taken out of a queue gets a new generation, so the old
/// entry is dropped when it surfaces).
struct JobTable {
    private var records: [JobRecord?] = []
    private var free: [Int] = []
    private var slotById: [String: Int] = [:]

    /// The request in `slot`, nil when the slot is empty.
    subscript(slot: Int) -> JobRecord? {
        get { slot < records.count ? records[slot] : nil }
        set { records[slot] = newValue }
    }

    /// The slot of the request with this id.
    func slot(of id: String) -> Int? { slotById[id] }

    /// The request with this id.
    func record(of id: String) -> JobRecord? { slotById[id].flatMap { records[$0] } }

    /// Stores a new request and returns its slot.
    mutating func insert(_ record: JobRecord) -> Int {
        let slot: Int
        if let reused = free.popLast() {
            records[reused] = record
            slot = reused
        } else {
            records.append(record)
            slot = records.count - 1
        }
        slotById[record.job.id] = slot
        return slot
    }

    /// Empties `slot` and returns the request it held.
    @discardableResult
    mutating func remove(_ slot: Int) -> JobRecord? {
        guard let record = records[slot] else { return nil }
        slotById[record.job.id] = nil
        records[slot] = nil
        free.append(slot)
        return record
    }

    /// Whether a queue entry still names the request in its slot.
    func isLive(_ entry: RankEntry) -> Bool {
        guard let record = self[entry.slot] else { return false }
        return record.sequence == entry.sequence && record.generation == entry.generation
    }

    /// The requests in their slots (empty slots skipped).
    var all: some Sequence<JobRecord> { records.lazy.compactMap { $0 } }
}
