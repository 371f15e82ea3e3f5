import Foundation

/// tiktoken's byte-pair merge over a table of mergeable ranks.
extension ByteSequenceTable {
    /// Byte-pair encodes one piece (`count` ≥ 1) and reports each token's rank in order. Pieces that are a token
    /// themselves take one lookup; the rest merge the lowest-ranked adjacent pair first, leftmost on ties, exactly
    /// like tiktoken.
    @inline(__always)
    func encode(_ base: UnsafePointer<UInt8>, _ count: Int, _ emit: (Int32) -> Void) {
        let whole = rank(base, count)
        if whole != Self.absent {
            emit(whole)
        } else if count <= 256 {
            mergeByScanning(base, count, emit)
        } else {
            mergeWithHeap(base, count, emit)
        }
    }

    /// tiktoken's quadratic merge loop; fastest for the short pieces that make up almost all text.
    func mergeByScanning(_ base: UnsafePointer<UInt8>, _ count: Int, _ emit: (Int32) -> Void) {
        withUnsafeTemporaryAllocation(of: (start: Int32, rank: Int32).self, capacity: count + 1) { parts in
            for index in 0..<(count - 1) {
                parts[index] = (Int32(index), rank(base + index, 2))
            }
            parts[count - 1] = (Int32(count - 1), Self.absent)
            parts[count] = (Int32(count), Self.absent)
            var partCount = count + 1
            func rankAfterMerge(_ index: Int) -> Int32 {
                guard index + 3 < partCount else { return Self.absent }
                let start = Int(parts[index].start)
                return rank(base + start, Int(parts[index + 3].start) - start)
            }
            while partCount > 1 {
                var minRank = Self.absent
                var minIndex = -1
                for index in 0..<(partCount - 1) where parts[index].rank < minRank {
                    minRank = parts[index].rank
                    minIndex = index
                }
                if minIndex < 0 { break }
                if minIndex > 0 { parts[minIndex - 1].rank = rankAfterMerge(minIndex - 1) }
                parts[minIndex].rank = rankAfterMerge(minIndex)
                for index in (minIndex + 1)..<(partCount - 1) { parts[index] = parts[index + 1] }
                partCount -= 1
            }
            for index in 0..<(partCount - 1) {
                let start = Int(parts[index].start)
                emit(rank(base + start, Int(parts[index + 1].start) - start))
            }
        }
    }

    /// The same merge order with a binary heap of (rank, start) and a linked list of parts: O(n log n), so a
    /// megabyte-long run of one letter does not take quadratic time.
    func mergeWithHeap(_ base: UnsafePointer<UInt8>, _ count: Int, _ emit: (Int32) -> Void) {
        var next = [Int](0...count).map { $0 + 1 }
        var previous = [Int](0...count).map { $0 - 1 }
        var pairRank = [Int32](repeating: Self.absent, count: count + 1)
        var alive = [Bool](repeating: true, count: count + 1)
        var heap = MinHeap()
        func pairRankAt(_ start: Int) -> Int32 {
            let second = next[start]
            guard second < count else { return Self.absent }
            let end = next[second]
            return rank(base + start, end - start)
        }
        for start in 0..<(count - 1) {
            pairRank[start] = rank(base + start, 2)
            if pairRank[start] != Self.absent { heap.push(UInt64(pairRank[start]) << 32 | UInt64(start)) }
        }
        while let key = heap.pop() {
            let start = Int(key & 0xFFFF_FFFF)
            let keyRank = Int32(key >> 32)
            guard alive[start], pairRank[start] == keyRank else { continue }
            let removed = next[start]
            alive[removed] = false
            next[start] = next[removed]
            previous[next[removed]] = start
            pairRank[start] = pairRankAt(start)
            if pairRank[start] != Self.absent { heap.push(UInt64(pairRank[start]) << 32 | UInt64(start)) }
            let before = previous[start]
            if before >= 0 {
                pairRank[before] = pairRankAt(before)
                if pairRank[before] != Self.absent { heap.push(UInt64(pairRank[before]) << 32 | UInt64(before)) }
            }
        }
        var start = 0
        while start < count {
            let end = next[start]
            emit(rank(base + start, end - start))
            start = end
        }
    }
}
/// A binary min-heap of packed (rank, start) keys.
struct MinHeap {
    private var keys: [UInt64] = []

    mutating func push(_ key: UInt64) {
        keys.append(key)
        var child = keys.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if keys[parent] <= keys[child] { break }
            keys.swapAt(parent, child)
            child = parent
        }
    }

    mutating func pop() -> UInt64? {
        guard let top = keys.first else { return nil }
        let last = keys.removeLast()
        if !keys.isEmpty {
            keys[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var smallest = parent
                if left < keys.count && keys[left] < keys[smallest] { smallest = left }
                if right < keys.count && keys[right] < keys[smallest] { smallest = right }
                if smallest == parent { break }
                keys.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return top
    }
}
