import Foundation

/// The figures one run is judged by. "Short" and "heavy" here are by the output the upstream actually produced
/// (at most / more than `shortMaxOutputTokens`): what the user experienced, not what anyone predicted.
public struct RunMetrics: Sendable, Equatable, Codable {
    public var requests: Int
    public var completionRate: Double
    public var deadlineSatisfaction: Double
    /// Deadline-meeting requests per second of makespan.
    public var goodputPerSecond: Double
    public var makespanMs: Double
    public var shortAverageMs: Double
    public var shortP50Ms: Double
    public var shortP90Ms: Double
    public var shortP95Ms: Double
    public var heavyAverageMs: Double
    public var heavyP95Ms: Double
    public var globalP95Ms: Double
    public var shortShare: Double

    enum CodingKeys: String, CodingKey {
        case requests
        case completionRate = "completion_rate"
        case deadlineSatisfaction = "deadline_satisfaction"
        case goodputPerSecond = "goodput_per_second"
        case makespanMs = "makespan_ms"
        case shortAverageMs = "short_avg_ms"
        case shortP50Ms = "short_p50_ms"
        case shortP90Ms = "short_p90_ms"
        case shortP95Ms = "short_p95_ms"
        case heavyAverageMs = "heavy_avg_ms"
        case heavyP95Ms = "heavy_p95_ms"
        case globalP95Ms = "global_p95_ms"
        case shortShare = "short_share"
    }

    /// Latency is arrival to last token of completed requests; makespan is first arrival to last completion.
    public init(
        _ outcomes: [(arrivalMs: Double, finishedAtMs: Double?, deadlineMs: Double, outputTokens: Int)],
        shortMaxOutputTokens: Int
    ) {
        requests = outcomes.count
        let completed = outcomes.filter { $0.finishedAtMs != nil }
        let met = completed.filter { $0.finishedAtMs! <= $0.deadlineMs }.count
        let total = Double(max(outcomes.count, 1))
        completionRate = Double(completed.count) / total
        deadlineSatisfaction = Double(met) / total
        let first = outcomes.map(\.arrivalMs).min() ?? 0
        let last = completed.compactMap(\.finishedAtMs).max() ?? first
        makespanMs = last - first
        goodputPerSecond = makespanMs > 0 ? Double(met) / (makespanMs / 1000) : 0
        let short = completed.filter { $0.outputTokens <= shortMaxOutputTokens }.map { $0.finishedAtMs! - $0.arrivalMs }
        let heavy = completed.filter { $0.outputTokens > shortMaxOutputTokens }.map { $0.finishedAtMs! - $0.arrivalMs }
        shortShare = Double(outcomes.filter { $0.outputTokens <= shortMaxOutputTokens }.count) / total
        shortAverageMs = Statistics.mean(short)
        shortP50Ms = Statistics.percentile(short, 0.50)
        shortP90Ms = Statistics.percentile(short, 0.90)
        shortP95Ms = Statistics.percentile(short, 0.95)
        heavyAverageMs = Statistics.mean(heavy)
        heavyP95Ms = Statistics.percentile(heavy, 0.95)
        globalP95Ms = Statistics.percentile(short + heavy, 0.95)
    }

    public init(_ outcomes: [SimulatedOutcome], shortMaxOutputTokens: Int) {
        self.init(
            outcomes.map {
                ($0.arrivalMs, $0.status == .completed ? $0.finishedAtMs : nil, $0.deadlineMs, $0.outputTokens)
            },
            shortMaxOutputTokens: shortMaxOutputTokens)
    }
}

/// Small statistics used by every report.
public enum Statistics {
    public static func mean(_ values: [Double]) -> Double {
        values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
    }

    /// Sample standard deviation (0 for fewer than two values).
    public static func standardDeviation(_ values: [Double]) -> Double {
        guard values.count > 1 else { return 0 }
        let average = mean(values)
        return (values.reduce(0) { $0 + ($1 - average) * ($1 - average) } / Double(values.count - 1)).squareRoot()
    }

    /// Linear-interpolated percentile (numpy's default); 0 for no values.
    public static func percentile(_ values: [Double], _ quantile: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let position = quantile * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down))
        let upper = min(lower + 1, sorted.count - 1)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - Double(lower))
    }
}
