import CBLAS

/// One retrieved neighbour: its slot in the index and its cosine similarity to the query.
public struct Neighbor: Sendable, Equatable {
    public var slot: Int
    public var similarity: Float

    public init(slot: Int, similarity: Float) {
        self.slot = slot
        self.similarity = similarity
    }
}

/// Exact cosine top-k over an in-memory row-major matrix of L2-normalised vectors, as a FIFO ring of `capacity`
/// rows: one `cblas_sgemv` per query (one `cblas_sgemm` per batch), then a partial selection of the k best.
public struct NeighborIndex: Sendable {
    public let dimension: Int
    public let capacity: Int
    /// Row-major `capacity × dimension`; only the first `count` slots hold data until the ring wraps.
    public private(set) var matrix: [Float]
    public private(set) var count: Int = 0
    /// The slot the next insertion overwrites once the ring is full (the oldest row).
    public private(set) var nextSlot: Int = 0

    public init(dimension: Int, capacity: Int) {
        precondition(dimension > 0 && capacity > 0, "dimension and capacity must be positive")
        self.dimension = dimension
        self.capacity = capacity
        self.matrix = []
        self.matrix.reserveCapacity(min(capacity, 4096) * dimension)
    }

    /// Adds a row; returns its slot and, when the window was full, the slot's previous occupant was evicted.
    @discardableResult
    public mutating func insert(_ vector: [Float]) -> (slot: Int, evicted: Bool) {
        precondition(vector.count == dimension, "vector dimension \(vector.count) ≠ index dimension \(dimension)")
        let slot = nextSlot
        let evicted = count == capacity
        if slot * dimension == matrix.count {
            matrix.append(contentsOf: vector)
        } else {
            matrix.replaceSubrange((slot * dimension)..<((slot + 1) * dimension), with: vector)
        }
        count = min(count + 1, capacity)
        nextSlot = (slot + 1) % capacity
        return (slot, evicted)
    }

    /// The vector stored at `slot`.
    public func vector(at slot: Int) -> ArraySlice<Float> {
        matrix[(slot * dimension)..<((slot + 1) * dimension)]
    }

    /// Cosine similarity of `query` to every stored row, by slot.
    public func similarities(to query: [Float]) -> [Float] {
        precondition(query.count == dimension, "query dimension \(query.count) ≠ index dimension \(dimension)")
        guard count > 0 else { return [] }
        var scores = [Float](repeating: 0, count: count)
        matrix.withUnsafeBufferPointer { rows in
            query.withUnsafeBufferPointer { q in
                scores.withUnsafeMutableBufferPointer { out in
                    cblas_sgemv(
                        CblasRowMajor, CblasNoTrans, Int32(count), Int32(dimension), 1,
                        rows.baseAddress, Int32(dimension), q.baseAddress, 1, 0, out.baseAddress, 1
                    )
                }
            }
        }
        return scores
    }

    /// Similarities of many queries at once (`queries.count × count`, row-major), one `cblas_sgemm`.
    public func similarities(toBatch queries: [[Float]]) -> [[Float]] {
        guard count > 0, !queries.isEmpty else { return queries.map { _ in [] } }
        let flat = queries.flatMap { query in
            precondition(query.count == dimension, "query dimension \(query.count) ≠ index dimension \(dimension)")
            return query
        }
        var scores = [Float](repeating: 0, count: queries.count * count)
        matrix.withUnsafeBufferPointer { rows in
            flat.withUnsafeBufferPointer { q in
                scores.withUnsafeMutableBufferPointer { out in
                    cblas_sgemm(
                        CblasRowMajor, CblasNoTrans, CblasTrans, Int32(queries.count), Int32(count), Int32(dimension),
                        1,
                        q.baseAddress, Int32(dimension), rows.baseAddress, Int32(dimension), 0, out.baseAddress,
                        Int32(count)
                    )
                }
            }
        }
        return (0..<queries.count).map { Array(scores[($0 * count)..<(($0 + 1) * count)]) }
    }

    /// The `k` most similar rows, best first (ties broken by slot for determinism).
    public func search(_ query: [Float], k: Int, excluding excluded: Int? = nil) -> [Neighbor] {
        Self.topK(similarities(to: query), k: k, excluding: excluded)
    }

    /// `search` for many queries with one matrix product.
    public func search(batch queries: [[Float]], k: Int) -> [[Neighbor]] {
        similarities(toBatch: queries).map { Self.topK($0, k: k, excluding: nil) }
    }

    /// The `k` largest scores, best first, via a small bounded min-heap (O(n log k)).
    public static func topK(_ scores: [Float], k: Int, excluding excluded: Int? = nil) -> [Neighbor] {
        guard k > 0, !scores.isEmpty else { return [] }
        var heap: [Neighbor] = []
        heap.reserveCapacity(k)
        func worse(_ a: Neighbor, _ b: Neighbor) -> Bool {
            a.similarity < b.similarity || (a.similarity == b.similarity && a.slot > b.slot)
        }
        func siftDown(_ start: Int) {
            var parent = start
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var smallest = parent
                if left < heap.count && worse(heap[left], heap[smallest]) { smallest = left }
                if right < heap.count && worse(heap[right], heap[smallest]) { smallest = right }
                if smallest == parent { return }
                heap.swapAt(parent, smallest)
                parent = smallest
            }
        }
        for (slot, score) in scores.enumerated() where slot != excluded {
            let candidate = Neighbor(slot: slot, similarity: score)
            if heap.count < k {
                heap.append(candidate)
                var child = heap.count - 1
                while child > 0 {
                    let parent = (child - 1) / 2
                    guard worse(heap[child], heap[parent]) else { break }
                    heap.swapAt(child, parent)
                    child = parent
                }
            } else if worse(heap[0], candidate) {
                heap[0] = candidate
                siftDown(0)
            }
        }
        return heap.sorted { worse($1, $0) }
    }
}
