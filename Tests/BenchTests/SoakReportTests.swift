import Testing

@testable import Bench

/// The soak's memory verdict compares like phases: the peak of the first half after warm-up with the peak of the
/// second. A service that swings (retraining, compaction) passes however the swing falls on the end points; one
/// that grows steadily fails even when each step is small.
@Suite struct SoakReportTests {
    static let limits = SoakLimits(maxRssGrowthPercent: 10, fdSlack: 8, maxP99Ratio: 1.5, p99FloorMs: 20)

    static func report(
        rss: @escaping (Double) -> Int, limits: SoakLimits = limits, latency: (Double) -> Double = { _ in 50 }
    ) -> SoakReport {
        let service = "svc"
        let sample = { (t: Double) in ResourceSample(elapsedSeconds: t, service: service, rssKB: rss(t), openFDs: 20) }
        let samples = stride(from: 0.0, through: 100, by: 2).map(sample)
        let outcomes = stride(from: 0.0, to: 100, by: 0.1).map {
            SoakOutcome(offset: $0, latencyMs: latency($0), kind: .completed)
        }
        return SoakReport(
            command: "test", settings: [:], outcomes: outcomes, idle: [sample(0)], warm: [sample(20)],
            end: [sample(100)],
            drained: [sample(100)], samples: samples, warmupSeconds: 20, seconds: 100, windowCount: 4,
            maxSendLagSeconds: 0,
            limits: limits)
    }

    @Test func aSwingThatEndsHighPassesWhileItsEndPointsDiffer() throws {
        // Low at the end of warm-up, high at the end: point to point +30%, but both halves reach the same peak.
        let report = Self.report { t in Int(t) % 6 < 3 ? 100_000 : 130_000 }
        let service = try #require(report.services.first)
        #expect(service.rssPointGrowthPercent > 25)
        #expect(service.rssKBPeakEarly == 130_000 && service.rssKBPeakLate == 130_000)
        #expect(report.criteria.first { $0.name == "rss svc" }?.passed == true)
        #expect(report.passed)
    }

    @Test func steadyGrowthFailsEvenInSmallSteps() throws {
        // +0.3% of the start per second: each sample barely above the last, 18% over the measured 80 s.
        let report = Self.report { t in 100_000 + Int(t * 300) }
        let service = try #require(report.services.first)
        #expect(service.rssGrowthPercent > 10)
        #expect(report.criteria.first { $0.name == "rss svc" }?.passed == false)
        #expect(!report.passed)
    }

    @Test func p99DriftFailsUnlessInformational() {
        let rising = { (t: Double) in t < 50 ? 50.0 : 200.0 }
        let judged = Self.report(rss: { _ in 100_000 }, latency: rising)
        #expect(judged.criteria.first { $0.name == "p99 stable" }?.passed == false)
        #expect(!judged.passed)
        var limits = Self.limits
        limits.p99Informational = true
        let informational = Self.report(rss: { _ in 100_000 }, limits: limits, latency: rising)
        let criterion = informational.criteria.first { $0.name == "p99 stable" }
        #expect(criterion?.passed == true)
        #expect(criterion?.detail.contains("not judged") == true)
        #expect(informational.passed)
    }
}
