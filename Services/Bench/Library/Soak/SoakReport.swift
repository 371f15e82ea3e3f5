import Foundation

/// How one soak request ended.
struct SoakOutcome: Sendable {
    enum Kind: String, Codable, Sendable { case completed, rejected, failed }

    /// Seconds after the start at which the request was due to be sent.
    var offset: Double
    var latencyMs: Double
    var kind: Kind
    var status: Int?
    /// Error code or type of a refusal or failure; nil when completed.
    var reason: String?
}

/// Resident memory and open descriptors of one service at one moment.
struct ResourceSample: Codable, Sendable {
    var elapsedSeconds: Double
    var service: String
    var rssKB: Int
    var openFDs: Int

    enum CodingKeys: String, CodingKey {
        case elapsedSeconds = "elapsed_seconds"
        case service
        case rssKB = "rss_kb"
        case openFDs = "open_fds"
    }
}

/// The soak's pass bounds.
struct SoakLimits: Sendable {
    var maxRssGrowthPercent: Double
    var fdSlack: Int
    var maxP99Ratio: Double
    var p99FloorMs: Double
    /// Report the p99 criterion without letting it decide the verdict (the suite's short run shares the CPU with other
    /// tests, so its latency says more about them than about the stack).
    var p99Informational: Bool = false
}

/// Figures and verdicts of one soak run, printed and written as JSON.
struct SoakReport: Codable, Sendable {
    struct ServiceResources: Codable, Sendable {
        var service: String
        var rssKBWarmup: Int
        var rssKBEnd: Int
        var rssKBMax: Int
        /// Highest sample in the first half of the measured part (warm-up end included) and in the second half
        /// (last sample included). A service that retrains or compacts swings between the two on its own; a leak lifts
        /// the second half's peak above the first's, however the swings fall.
        var rssKBPeakEarly: Int
        var rssKBPeakLate: Int
        /// Growth of the late peak over the early one, in percent: the criterion.
        var rssGrowthPercent: Double
        /// End sample against warm-up sample, in percent: informative, at the mercy of where a swing falls.
        var rssPointGrowthPercent: Double
        var fdsWarmup: Int
        var fdsEnd: Int
        var fdsMax: Int
        /// Before the first request, services started and answering `/health`.
        var fdsIdle: Int
        /// After the load, with the generator's connections closed and pooled connections past their idle timeout.
        var fdsDrained: Int

        enum CodingKeys: String, CodingKey {
            case service
            case rssKBWarmup = "rss_kb_warmup"
            case rssKBEnd = "rss_kb_end"
            case rssKBMax = "rss_kb_max"
            case rssKBPeakEarly = "rss_kb_peak_early"
            case rssKBPeakLate = "rss_kb_peak_late"
            case rssGrowthPercent = "rss_growth_percent"
            case rssPointGrowthPercent = "rss_point_growth_percent"
            case fdsWarmup = "fds_warmup"
            case fdsEnd = "fds_end"
            case fdsMax = "fds_max"
            case fdsIdle = "fds_idle"
            case fdsDrained = "fds_drained"
        }
    }

    struct LatencyWindow: Codable, Sendable {
        var fromSeconds: Double
        var toSeconds: Double
        var requests: Int
        var completed: Int
        var p50Ms: Double
        var p99Ms: Double

        enum CodingKeys: String, CodingKey {
            case fromSeconds = "from_seconds"
            case toSeconds = "to_seconds"
            case requests, completed
            case p50Ms = "p50_ms"
            case p99Ms = "p99_ms"
        }
    }

    struct Criterion: Codable, Sendable {
        var name: String
        var passed: Bool
        var detail: String
    }

    var command: String
    var settings: [String: String]
    var sent: Int
    var completed: Int
    var rejected: Int
    var failed: Int
    /// Refusals and failures by reason (error code or type, or the transport error).
    var reasons: [String: Int]
    var services: [ServiceResources]
    var windows: [LatencyWindow]
    var samples: [ResourceSample]
    var criteria: [Criterion]
    var passed: Bool

    enum CodingKeys: String, CodingKey {
        case command, settings, sent, completed, rejected, failed, reasons, services, windows, samples, criteria, passed
    }

    init(
        command: String, settings: [String: String], outcomes: [SoakOutcome], idle: [ResourceSample],
        warm: [ResourceSample],
        end: [ResourceSample], drained: [ResourceSample], samples: [ResourceSample], warmupSeconds: Double,
        seconds: Double, windowCount: Int, maxSendLagSeconds: Double,
        limits: SoakLimits
    ) {
        self.command = command
        self.settings = settings
        self.samples = samples
        sent = outcomes.count
        completed = outcomes.filter { $0.kind == .completed }.count
        rejected = outcomes.filter { $0.kind == .rejected }.count
        failed = outcomes.filter { $0.kind == .failed }.count
        var reasons: [String: Int] = [:]
        for outcome in outcomes where outcome.kind != .completed {
            reasons["\(outcome.kind.rawValue): \(outcome.reason ?? "none")", default: 0] += 1
        }
        self.reasons = reasons

        let middle = warmupSeconds + (seconds - warmupSeconds) / 2
        services = warm.indices.map { index in
            let (warm, end) = (warm[index], end[index])
            let own = samples.filter { $0.service == warm.service }
            let all = own + [warm, end]
            let measured = own.filter { $0.elapsedSeconds >= warm.elapsedSeconds }
            let early = ([warm] + measured.filter { $0.elapsedSeconds < middle }).map(\.rssKB).max() ?? warm.rssKB
            let late = ([end] + measured.filter { $0.elapsedSeconds >= middle }).map(\.rssKB).max() ?? end.rssKB
            return ServiceResources(
                service: warm.service, rssKBWarmup: warm.rssKB, rssKBEnd: end.rssKB,
                rssKBMax: all.map(\.rssKB).max() ?? end.rssKB,
                rssKBPeakEarly: early, rssKBPeakLate: late,
                rssGrowthPercent: early > 0 ? Double(late - early) / Double(early) * 100 : 0,
                rssPointGrowthPercent: warm.rssKB > 0 ? Double(end.rssKB - warm.rssKB) / Double(warm.rssKB) * 100 : 0,
                fdsWarmup: warm.openFDs, fdsEnd: end.openFDs, fdsMax: all.map(\.openFDs).max() ?? end.openFDs,
                fdsIdle: idle[index].openFDs, fdsDrained: drained[index].openFDs)
        }

        let width = (seconds - warmupSeconds) / Double(windowCount)
        windows = (0..<windowCount).map { index in
            let from = warmupSeconds + Double(index) * width
            let to = index == windowCount - 1 ? seconds : from + width
            let inside = outcomes.filter { $0.offset >= from && $0.offset < to }
            let latencies = inside.filter { $0.kind == .completed }.map(\.latencyMs)
            return LatencyWindow(
                fromSeconds: from, toSeconds: to, requests: inside.count, completed: latencies.count,
                p50Ms: Statistics.percentile(latencies, 0.5), p99Ms: Statistics.percentile(latencies, 0.99))
        }

        var criteria: [Criterion] = []
        for service in services {
            criteria.append(
                Criterion(
                    name: "rss \(service.service)",
                    passed: service.rssKBWarmup > 0 && service.rssGrowthPercent <= limits.maxRssGrowthPercent,
                    detail: String(
                        format:
                            "peak %d kB in the first half after warm-up → %d kB in the second (%+.1f%%, bound %.0f%%)",
                        service.rssKBPeakEarly, service.rssKBPeakLate, service.rssGrowthPercent,
                        limits.maxRssGrowthPercent)))
        }
        // Under load a service's descriptors follow its open connections, which follow latency: counting them
        // mid-run measures the load, not a leak. A leaked descriptor is one still open once every connection has gone.
        for service in services {
            criteria.append(
                Criterion(
                    name: "fds \(service.service)",
                    passed: service.fdsIdle > 0 && service.fdsDrained > 0
                        && service.fdsDrained - service.fdsIdle <= limits.fdSlack,
                    detail:
                        "\(service.fdsIdle) before the load → \(service.fdsDrained) after it drained (slack +\(limits.fdSlack); peak \(service.fdsMax))"
                ))
        }
        if let first = windows.first, let last = windows.last {
            let bound = max(first.p99Ms * limits.maxP99Ratio, first.p99Ms + limits.p99FloorMs)
            let stable = first.completed > 0 && last.completed > 0 && last.p99Ms <= bound
            let detail = String(
                format: "last window %.1f ms vs first %.1f ms (bound %.1f ms: ×%.2f or +%.0f ms)",
                last.p99Ms, first.p99Ms, bound, limits.maxP99Ratio, limits.p99FloorMs)
            criteria.append(
                Criterion(
                    name: "p99 stable", passed: stable || limits.p99Informational,
                    detail: limits.p99Informational
                        ? detail + (stable ? "" : "; informational only, not judged") : detail))
        }
        // A load generator that falls behind offers less than the stated rate, and every figure above would flatter.
        criteria.append(
            Criterion(
                name: "rate kept", passed: maxSendLagSeconds <= 1,
                detail: String(
                    format: "worst send lag %.3f s behind the open-loop schedule (bound 1 s)", maxSendLagSeconds)))
        criteria.append(
            Criterion(
                name: "every request ended", passed: failed == 0 && sent > 0,
                detail: "\(completed) completed, \(rejected) refused with a reason, \(failed) failed of \(sent) sent"))
        self.criteria = criteria
        passed = criteria.allSatisfy(\.passed)
    }

    func text() -> String {
        var lines: [String] = []
        lines.append("soak: " + settings.keys.sorted().map { "\($0)=\(settings[$0] ?? "")" }.joined(separator: " "))
        lines.append("requests: sent \(sent), completed \(completed), refused \(rejected), failed \(failed)")
        for (reason, count) in reasons.sorted(by: { $0.value > $1.value }).prefix(5) {
            lines.append("  \(count) × \(reason)")
        }
        lines.append(
            "service            RSS warm-up kB   RSS end kB   peak 1st half   peak 2nd half   growth   FDs idle   FDs warm-up   FDs end   FDs max   FDs drained"
        )
        for service in services {
            lines.append(
                service.service.padding(toLength: 18, withPad: " ", startingAt: 0)
                    + String(
                        format: " %14d %12d %15d %15d %+7.1f%% %10d %13d %9d %9d %13d", service.rssKBWarmup,
                        service.rssKBEnd,
                        service.rssKBPeakEarly, service.rssKBPeakLate, service.rssGrowthPercent, service.fdsIdle,
                        service.fdsWarmup,
                        service.fdsEnd, service.fdsMax, service.fdsDrained))
        }
        lines.append("window        requests  completed   p50 ms   p99 ms")
        for window in windows {
            lines.append(
                String(
                    format: "%5.0f–%-5.0f s %9d %10d %8.1f %8.1f", window.fromSeconds, window.toSeconds,
                    window.requests,
                    window.completed, window.p50Ms, window.p99Ms))
        }
        for criterion in criteria {
            lines.append("\(criterion.passed ? "PASS" : "FAIL") \(criterion.name): \(criterion.detail)")
        }
        lines.append(passed ? "soak passed" : "soak FAILED")
        return lines.joined(separator: "\n")
    }
}
