import Contracts
import Foundation

/// Latency of finished requests per class in consecutive 5-second buckets over the last 5 minutes, for the operator
/// page's chart. Each bucket keeps a log-spaced histogram (bins 25% wide), so memory and reading cost stay fixed
/// whatever the rate.
struct LatencyTimeline: Sendable {
    static let bucketMs = 5_000.0
    static let bucketsKept = 60
    static let firstBinMs = 10.0
    static let binRatio = 1.25
    static let binCount = 48

    private struct Bucket: Sendable {
        var startMs: Double
        var bins: [RequestClass: [Int]] = [:]
    }

    private var buckets: [Bucket] = []

    /// Records one finished request's latency at time `now`.
    mutating func record(_ requestClass: RequestClass, ms: Double, now: Double) {
        let start = (now / Self.bucketMs).rounded(.down) * Self.bucketMs
        if buckets.last?.startMs != start {
            buckets.append(Bucket(startMs: start))
            buckets.removeAll { $0.startMs <= start - Double(Self.bucketsKept) * Self.bucketMs }
        }
        let bin =
            ms <= Self.firstBinMs ? 0 : min(Self.binCount - 1, Int(log(ms / Self.firstBinMs) / log(Self.binRatio)) + 1)
        buckets[buckets.count - 1].bins[requestClass, default: Array(repeating: 0, count: Self.binCount)][bin] += 1
    }

    /// The buckets of the last 5 minutes before `now`, oldest first, one point per class that finished something.
    func points(now: Double) -> [LatencyPoint] {
        let oldest = now - Double(Self.bucketsKept) * Self.bucketMs
        return buckets.filter { $0.startMs + Self.bucketMs > oldest }.flatMap { bucket in
            RequestClass.allCases.compactMap { requestClass -> LatencyPoint? in
                guard let bins = bucket.bins[requestClass] else { return nil }
                let count = bins.reduce(0, +)
                return LatencyPoint(
                    startUnixMs: bucket.startMs, requestClass: requestClass, count: count,
                    p50Ms: Self.quantile(0.5, bins: bins, count: count),
                    p95Ms: Self.quantile(0.95, bins: bins, count: count))
            }
        }
    }

    /// The bin's geometric middle where the cumulative count first reaches `q` of all.
    private static func quantile(_ q: Double, bins: [Int], count: Int) -> Double {
        let target = max(1, Int((q * Double(count)).rounded(.up)))
        var running = 0
        for (index, binCount) in bins.enumerated() {
            running += binCount
            if running >= target {
                return index == 0 ? firstBinMs : firstBinMs * pow(binRatio, Double(index) - 0.5)
            }
        }
        return firstBinMs * pow(binRatio, Double(binCount))
    }
}
