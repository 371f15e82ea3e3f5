import Testing

@testable import Bench

/// The proxy benchmark pools latencies of several short cells per path, so a merged histogram must give the same
/// quantiles as one histogram of all the samples, and quantiles follow the nearest-rank rule.
@Suite struct LatencyHistogramTests {
    @Test func quantilesFollowTheNearestRank() {
        var histogram = LoadLatencyHistogram()
        for micros in 1...100 { histogram.add(microseconds: micros * 10) }
        #expect(histogram.total == 100)
        #expect(histogram.quantile(0.5) == 0.000_500)
        #expect(histogram.quantile(0.99) == 0.000_990)
        #expect(histogram.quantile(1) == 0.001_000)
        #expect(histogram.quantile(0) == 0.000_010)
        #expect(LoadLatencyHistogram().quantile(0.99) == 0)
    }

    @Test func mergingCellsEqualsOneHistogramOfEverySample() {
        var generator = SystemRandomNumberGenerator()
        var whole = LoadLatencyHistogram()
        var merged = LoadLatencyHistogram()
        for _ in 0..<5 {
            var cell = LoadLatencyHistogram()
            for _ in 0..<Int.random(in: 50...400, using: &generator) {
                let micros = Int.random(in: 100...90_000, using: &generator)
                cell.add(microseconds: micros)
                whole.add(microseconds: micros)
            }
            merged.merge(cell)
        }
        #expect(merged.total == whole.total)
        for q in [0.5, 0.9, 0.99, 0.999] {
            #expect(merged.quantile(q) == whole.quantile(q))
        }
    }

    @Test func repeatedValuesCountOnceEach() {
        var histogram = LoadLatencyHistogram()
        histogram.add(microseconds: 1_000, count: 98)
        histogram.add(microseconds: 5_000, count: 2)
        #expect(histogram.quantile(0.98) == 0.001)
        #expect(histogram.quantile(0.99) == 0.005)
        histogram.add(seconds: 0.002)
        #expect(histogram.total == 101)
        #expect(histogram.counts[2_000] == 1)
    }

    @Test func mergedCellsAverageTheirRatesOverTime() {
        var pooled = ProxyLoadResult()
        var first = ProxyLoadResult(rate: 100, errors: 1)
        first.latencies.add(microseconds: 1_000)
        var second = ProxyLoadResult(rate: 300, errors: 2)
        second.latencies.add(microseconds: 3_000)
        pooled.merge(first, seconds: 1)
        pooled.merge(second, seconds: 3)
        #expect(pooled.rate == 250)
        #expect(pooled.errors == 3)
        #expect(pooled.seconds == 4)
        #expect(pooled.p99 == 0.003)
    }
}
