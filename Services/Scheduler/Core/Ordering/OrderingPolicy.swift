import Contracts
import Foundation

/// What an ordering policy may look at: a queued request's times and predicted size. All in milliseconds.
public struct OrderingItem: Sendable, Equatable {
    public var submittedAtMs: Double
    public var deadlineAtMs: Double
    /// Predicted time from dispatch to last token at p50.
    public var predictedDurationMs: Double
    public var predictedOutputTokensP50: Int
    public var predictedOutputTokensP90: Int
    /// Time per output token and time to first token the duration was computed with: the provider's speed when the
    /// request was queued, for what must hold now (whether it can still make its deadline, when it becomes urgent).
    public var msPerOutputToken: Double
    public var ttftMs: Double
    /// The uncongested provider's speed, for ranks. A rank is fixed when the request is queued; taken at the speed of
    /// that moment, requests queued while the provider slows down would get ever earlier latest starts and pass
    /// requests of the same size and deadline budget queued before them.
    public var rankMsPerOutputToken: Double
    public var rankTtftMs: Double

    public init(
        submittedAtMs: Double,
        deadlineAtMs: Double,
        predictedDurationMs: Double,
        predictedOutputTokensP50: Int,
        predictedOutputTokensP90: Int,
        msPerOutputToken: Double,
        ttftMs: Double,
        rankMsPerOutputToken: Double? = nil,
        rankTtftMs: Double? = nil
    ) {
        self.submittedAtMs = submittedAtMs
        self.deadlineAtMs = deadlineAtMs
        self.predictedDurationMs = predictedDurationMs
        self.predictedOutputTokensP50 = predictedOutputTokensP50
        self.predictedOutputTokensP90 = predictedOutputTokensP90
        self.msPerOutputToken = msPerOutputToken
        self.ttftMs = ttftMs
        self.rankMsPerOutputToken = rankMsPerOutputToken ?? msPerOutputToken
        self.rankTtftMs = rankTtftMs ?? ttftMs
    }

    /// The latest dispatch time that still meets the deadline at p50, at the speed when queued.
    public var latestStartMs: Double { deadlineAtMs - predictedDurationMs }

    /// The latest start at the uncongested speed: the same for requests of one size and deadline, whenever queued.
    public var rankLatestStartMs: Double {
        deadlineAtMs - rankDurationMs(outputTokens: Double(predictedOutputTokensP50))
    }

    /// Expected time the request holds the uncongested provider per completion, over its predicted length
    /// distribution (the Gittins index of a log-normal through p50 and p90): a wide, uncertain prediction costs more
    /// than its p50.
    public var expectedWorkMs: Double {
        rankDurationMs(
            outputTokens: GittinsOrdering.expectedTokensPerCompletion(
                p50: predictedOutputTokensP50, p90: predictedOutputTokensP90))
    }

    /// Time from dispatch to the last of `outputTokens`, at the speed when queued.
    public func durationMs(outputTokens: Double) -> Double {
        ttftMs + outputTokens * msPerOutputToken
    }

    /// The same at the uncongested speed, for ranks.
    public func rankDurationMs(outputTokens: Double) -> Double {
        rankTtftMs + outputTokens * rankMsPerOutputToken
    }
}

/// Layer 3: the order of requests inside one class and tenant. A rank is fixed when the request is queued (so a
/// heap can serve it in O(log n)); policies that split feasible from infeasible work say so, and the queue moves a
/// request to the infeasible side the moment it surfaces past its latest start.
public protocol OrderingPolicy: Sendable {
    var name: OrderingPolicyName { get }
    /// Rank among requests that can still meet their deadline; smaller is served first. In milliseconds.
    func rank(_ item: OrderingItem) -> Double
    /// Whether requests past their latest start are served after all others.
    var separatesInfeasible: Bool { get }
    /// Rank among requests that can no longer meet their deadline; smaller is served first.
    func infeasibleRank(_ item: OrderingItem) -> Double
    /// For policies that age by slack: the time from which a request is urgent and goes before any rank; nil for
    /// the others.
    func urgentFromMs(_ item: OrderingItem) -> Double?
    /// Rank among requests that have become urgent; smaller is served first.
    func urgentRank(_ item: OrderingItem) -> Double
}

extension OrderingPolicy {
    public var separatesInfeasible: Bool { false }
    public func infeasibleRank(_ item: OrderingItem) -> Double { rank(item) }
    public func urgentFromMs(_ item: OrderingItem) -> Double? { nil }
    public func urgentRank(_ item: OrderingItem) -> Double { rank(item) }
}

/// Builds the ordering policy a configuration names, for one class (feasible-set scoring weighs size per class);
/// `trust` scales how much the predicted sizes weigh where the policy uses it.
public func makeOrderingPolicy(
    _ policy: SchedulerPolicy, for requestClass: RequestClass = .interactive, trust: Double = 1
) -> any OrderingPolicy {
    switch policy.ordering {
    case .feasibleSet:
        return FeasibleSetOrdering(
            sizeWeight: requestClass == .heavy ? policy.heavyFeasibleSizeWeight : policy.feasibleSizeWeight)
    case .edf: return EDFOrdering()
    case .shortestFirst: return ShortestFirstOrdering()
    case .gittins: return GittinsOrdering()
    case .shortestExpectedWork:
        return ShortestExpectedWorkOrdering(
            weight: policy.expectedWorkWeight * trust, urgentShare: policy.urgentSlackShare, trust: trust)
    case .fifo: return FIFOOrdering()
    }
}

/// Feasible-set scoring (default): requests that can still finish by their deadline come first, ranked by slack
/// (latest start) plus `sizeWeight` × predicted duration so that, at equal slack, the one with the smaller predicted
/// slowdown cost goes first; those that cannot come after, least late first.
public struct FeasibleSetOrdering: OrderingPolicy {
    public var sizeWeight: Double
    public var name: OrderingPolicyName { .feasibleSet }
    public var separatesInfeasible: Bool { true }

    public init(sizeWeight: Double) {
        self.sizeWeight = sizeWeight
    }

    public func rank(_ item: OrderingItem) -> Double {
        item.rankLatestStartMs + sizeWeight * item.rankDurationMs(outputTokens: Double(item.predictedOutputTokensP50))
    }

    /// Lateness if started now is `now - latestStart`; the least late has the largest latest start.
    public func infeasibleRank(_ item: OrderingItem) -> Double {
        -item.latestStartMs
    }
}

/// Shortest expected work first until a request's slack runs out, then deadline (the default). Rank = latest start +
/// weight × expected work (over the predicted distribution, so an uncertain prediction costs more than its p50;
/// with equal predictions it is least laxity, so a client's deadlines still order its work). From
/// `urgentShare` of its deadline budget before its latest start a request is urgent: urgent requests go first, by
/// latest start, so long work is served while it can still make its deadline and nothing starves. A short request
/// predicted long is still among the shorter requests of its class and never waits behind every long one. Past its
/// latest start a request joins the infeasible side, least late first.
///
/// The size in the rank's latest start counts only as far as the predictions are trusted (`trust`, from how they
/// ranked past answers). Least laxity puts the longest of equal deadline budgets first; with untrusted sizes that
/// would serve the requests predicted longest first, and short requests waited behind them. At trust 0 the rank is
/// the deadline less the first-token time: the order the scheduler keeps without predictions.
public struct ShortestExpectedWorkOrdering: OrderingPolicy {
    public var weight: Double
    public var urgentShare: Double
    public var trust: Double
    public var name: OrderingPolicyName { .shortestExpectedWork }
    public var separatesInfeasible: Bool { true }

    public init(weight: Double, urgentShare: Double, trust: Double = 1) {
        self.weight = weight
        self.urgentShare = urgentShare
        self.trust = min(max(trust, 0), 1)
    }

    public func rank(_ item: OrderingItem) -> Double {
        let decoding = item.rankDurationMs(outputTokens: Double(item.predictedOutputTokensP50)) - item.rankTtftMs
        return item.deadlineAtMs - item.rankTtftMs - trust * decoding + weight * item.expectedWorkMs
    }

    /// Urgency counts from the latest start at p90, not p50: with an uncertain prediction, a request that may be
    /// long must start while its likely long answer still fits.
    public func urgentFromMs(_ item: OrderingItem) -> Double? {
        urgentFrom(item, p90DurationMs: item.durationMs(outputTokens: Double(max(item.predictedOutputTokensP90, 1))))
    }

    /// Urgent requests go by the same latest start at p90, at the uncongested speed: the order among them then does
    /// not depend on how slow the provider was when each was queued.
    public func urgentRank(_ item: OrderingItem) -> Double {
        urgentFrom(
            item, p90DurationMs: item.rankDurationMs(outputTokens: Double(max(item.predictedOutputTokensP90, 1))))
    }

    /// `urgentShare` of the deadline budget before the latest start for a p90 answer of this duration.
    private func urgentFrom(_ item: OrderingItem, p90DurationMs: Double) -> Double {
        item.deadlineAtMs - p90DurationMs - urgentShare * max(item.deadlineAtMs - item.submittedAtMs, 0)
    }

    public func infeasibleRank(_ item: OrderingItem) -> Double {
        -item.latestStartMs
    }
}

/// Earliest deadline first.
public struct EDFOrdering: OrderingPolicy {
    public var name: OrderingPolicyName { .edf }
    public init() {}
    public func rank(_ item: OrderingItem) -> Double { item.deadlineAtMs }
}

/// Shortest predicted (p50) first; ties by arrival.
public struct ShortestFirstOrdering: OrderingPolicy {
    public var name: OrderingPolicyName { .shortestFirst }
    public init() {}
    public func rank(_ item: OrderingItem) -> Double { item.predictedDurationMs }
}

/// Arrival order (the baseline).
public struct FIFOOrdering: OrderingPolicy {
    public var name: OrderingPolicyName { .fifo }
    public init() {}
    public func rank(_ item: OrderingItem) -> Double { item.submittedAtMs }
}

/// Gittins index over the predicted output length, modelled as a log-normal through (p50, p90): serve first the
/// request with the smallest expected work per unit of completion probability, `min_Δ E[min(S, Δ)] / P(S ≤ Δ)`.
/// With an uncertain prediction a request with a slightly larger p50 but a tight spread can beat a risky one.
public struct GittinsOrdering: OrderingPolicy {
    public var name: OrderingPolicyName { .gittins }
    public init() {}

    /// Quantile levels at which the index is evaluated. An upstream request cannot be interrupted, so only service
    /// quanta of at least the median are considered: the index keeps its preference for a likely quick finish but
    /// charges a wide spread instead of rewarding its small chance of being tiny.
    static let levels: [Double] = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99]
    static let zScores: [Double] = [0, 0.2533, 0.5244, 0.8416, 1.2816, 1.6449, 2.3263]

    public func rank(_ item: OrderingItem) -> Double {
        item.expectedWorkMs
    }

    /// `min over Δ of E[min(S, Δ)] / F(Δ)` in tokens, for a log-normal with the given median and 90th percentile.
    public static func expectedTokensPerCompletion(p50: Int, p90: Int) -> Double {
        let median = Double(max(p50, 1))
        let sigma = max(log(Double(max(p90, p50, 1)) / median) / 1.2816, 1e-6)
        let mu = log(median)
        let mean = exp(mu + sigma * sigma / 2)
        var best = Double.infinity
        for (level, z) in zip(levels, zScores) {
            let delta = exp(mu + sigma * z)
            // E[S; S ≤ Δ] for a log-normal is mean · Φ((ln Δ − μ − σ²)/σ).
            let partial = mean * normalCDF((log(delta) - mu - sigma * sigma) / sigma)
            let expected = partial + delta * (1 - level)
            best = min(best, expected / level)
        }
        return best
    }

    static func normalCDF(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }
}
