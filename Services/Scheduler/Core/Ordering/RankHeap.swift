/// One queued request in a heap: its rank, its admission sequence (ties), and a handle into the engine's job table.
/// `generation` lets entries of requests that left the queue be dropped lazily when they surface.
struct RankEntry: Sendable, Equatable {
    var key: Double
    var sequence: Int
    var slot: Int
    var generation: Int
    /// For an entry of the urgent heap: its rank among urgent requests once it is urgent.
    var urgentRank: Double = 0

    func precedes(_ other: RankEntry) -> Bool {
        key < other.key || (key == other.key && sequence < other.sequence)
    }
}

/// A binary min-heap of rank entries.
struct RankHeap: Sendable {
    private(set) var entries: [RankEntry] = []

    var isEmpty: Bool { entries.isEmpty }
    var count: Int { entries.count }
    var top: RankEntry? { entries.first }

    mutating func push(_ entry: RankEntry) {
        entries.append(entry)
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].precedes(entries[parent]) else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    @discardableResult
    mutating func pop() -> RankEntry? {
        guard !entries.isEmpty else { return nil }
        let first = entries[0]
        let last = entries.removeLast()
        guard !entries.isEmpty else { return first }
        entries[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < entries.count, entries[left].precedes(entries[smallest]) { smallest = left }
            if right < entries.count, entries[right].precedes(entries[smallest]) { smallest = right }
            guard smallest != parent else { break }
            entries.swapAt(parent, smallest)
            parent = smallest
        }
        return first
    }
}
