import Foundation
import PredictorCore
import Testing

@Suite struct NeighborIndexTests {
    static func unit(_ values: [Float]) -> [Float] {
        let norm = values.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return values.map { $0 / norm }
    }

    static func randomVectors(_ count: Int, dimension: Int, seed: UInt64) -> [[Float]] {
        var random = SplitMix64(seed: seed)
        return (0..<count).map { _ in unit((0..<dimension).map { _ in Float(random.nextUnit() - 0.5) }) }
    }

    @Test func topKMatchesBruteForceOrder() {
        let vectors = Self.randomVectors(300, dimension: 16, seed: 1)
        var index = NeighborIndex(dimension: 16, capacity: 1000)
        for vector in vectors { index.insert(vector) }
        let query = Self.randomVectors(1, dimension: 16, seed: 99)[0]
        let found = index.search(query, k: 7)
        let brute = vectors.enumerated()
            .map { ($0.offset, zip($0.element, query).reduce(Float(0)) { $0 + $1.0 * $1.1 }) }
            .sorted { $0.1 > $1.1 }
            .prefix(7)
        #expect(found.map(\.slot) == brute.map(\.0))
        for (neighbor, expected) in zip(found, brute) {
            #expect(abs(neighbor.similarity - expected.1) < 1e-5)
        }
    }

    @Test func batchSearchEqualsSingleSearches() {
        let vectors = Self.randomVectors(120, dimension: 8, seed: 2)
        var index = NeighborIndex(dimension: 8, capacity: 200)
        for vector in vectors { index.insert(vector) }
        let queries = Self.randomVectors(5, dimension: 8, seed: 3)
        let batch = index.search(batch: queries, k: 4)
        for (query, result) in zip(queries, batch) {
            #expect(result.map(\.slot) == index.search(query, k: 4).map(\.slot))
        }
    }

    @Test func fullWindowOverwritesTheOldestRow() {
        var index = NeighborIndex(dimension: 2, capacity: 3)
        let a = Self.unit([1, 0]), b = Self.unit([0, 1]), c = Self.unit([1, 1]), d = Self.unit([-1, 0])
        #expect(index.insert(a) == (0, false))
        index.insert(b)
        index.insert(c)
        let (slot, evicted) = index.insert(d)
        #expect(slot == 0 && evicted)
        #expect(index.count == 3)
        #expect(index.search(a, k: 1)[0].slot == 2)  // c is now the closest to a; a itself is gone
    }

    @Test func excludedSlotIsSkipped() {
        var index = NeighborIndex(dimension: 2, capacity: 4)
        index.insert(Self.unit([1, 0]))
        index.insert(Self.unit([1, 0.1]))
        #expect(index.search(Self.unit([1, 0]), k: 1, excluding: 0)[0].slot == 1)
    }

    @Test func historyPoolsKeepTenantWindowsAndModelOutputs() {
        var pools = HistoryPools(dimension: 2, windowSize: 2)
        for (i, tenant) in ["a", "b", "a"].enumerated() {
            pools.insert(
                HistoryRow(
                    id: Int64(i + 1), embedding: Self.unit([1, Float(i)]), surface: [], promptTokens: 5,
                    outputTokens: 10 * (i + 1),
                    maxTokens: nil, model: "m", taskType: nil, tenantId: tenant, success: true, finishReason: nil,
                    time: 0))
        }
        #expect(pools.count == 2)
        #expect(pools.tenants["a"]?.count == 2)
        #expect(pools.modelOutputs["m"] == [20, 30])
        #expect(pools.global.chronological.map(\.id) == [2, 3])
    }
}
