import Contracts

/// Allocation policies by configuration name.
public enum AllocationPolicyName: String, Sendable, CaseIterable, Codable {
    case adaptiveDRR = "adaptive_drr"
    case shortPriority = "short_priority"
    case fairQueuing = "fair_queuing"
    case quotaTiered = "quota_tiered"
    case fifo
}

/// Ordering policies by configuration name.
public enum OrderingPolicyName: String, Sendable, CaseIterable, Codable {
    case feasibleSet = "feasible_set"
    case edf
    case shortestFirst = "shortest_first"
    case gittins
    case shortestExpectedWork = "shortest_expected_work"
    case fifo
}

/// Every constant the scheduling core uses. Each default carries its reason; none is tuned to one workload.
/// `README.md` in `Services/Scheduler` lists them with their configuration keys.
public struct SchedulerPolicy: Sendable, Equatable {
    public var allocation: AllocationPolicyName = .adaptiveDRR
    public var ordering: OrderingPolicyName = .shortestExpectedWork

    // Budgets.
    /// Predicted output tokens interactive work may keep in flight (isolation floor for short requests).
    public var interactiveInflightTokens = 3000
    /// Predicted output tokens heavy work may keep in flight; heavy may borrow idle interactive room only partly.
    public var heavyInflightTokens = 7000
    /// Hard cap on requests in flight, whatever their size; protects against a predictor that says "1 token" for all.
    public var maxInflightRequests = 256
    /// Share of idle interactive budget heavy work may borrow (rising to 1 with heavy deadline pressure):
    /// borrowing all of it would make the next burst of short requests wait for a long request to finish.
    public var heavyBorrowFraction = 0.5

    // Classes and deadlines.
    /// Requests predicted at most this many output tokens (p50) are interactive unless the client says otherwise.
    public var interactiveMaxPredictedTokens = 256
    /// A request the client gives no class is interactive when the predictor's calibrated probability of a short reply
    /// (`p_short`) is at least this; without a `p_short` the p50 cut above decides. Low on purpose: a long request in
    /// the interactive class costs little (it is ordered by its expected work there, behind the short ones), while a
    /// short request in the heavy class waits for heavy capacity. In the simulator's unlabelled regime 0.2 brought
    /// short P95 under noisy predictions (σ 0.5) from 1.65× to 1.2–1.3× the oracle's against 0.3 (docs/benchmarks/simulator.md).
    public var interactiveMinShortProbability = 0.2
    /// A request the client labels heavy but whose predicted p90 is at most this many output tokens is served in
    /// the interactive class (keeping its own deadline); 0 turns this off. A client's label says what it can wait
    /// for, not how long the answer is: a short answer served with the short work costs the long work almost nothing
    /// (shortest-first), while behind the long work it waits as long as they do. p90, not p50, so only confident
    /// predictions move a request. Off by default: with the real predictor (τ ≈ 0.29) a p90 under 256 was given
    /// to 19 heavy-labelled ShareGPT requests of which 16 were long (up to 768 tokens) and the short ones it missed
    /// stayed in the heavy queue, so short P95 got worse (docs/benchmarks/sharegpt.md); with true sizes (the oracle)
    /// it took short P95 from −28% to −64% against naive. Turn it on when the predictor's low quantiles are trusted.
    public var promoteHeavyMaxP90Tokens = 0
    /// Default time budget of an interactive request.
    public var interactiveDeadlineMs = 15_000.0
    /// Default time budget of a heavy request.
    public var heavyDeadlineMs = 120_000.0
    /// A request still queued this many deadline budgets after its deadline expires; the front door gives up at the
    /// deadline itself. Generous because a late answer is usually still worth more than none.
    public var expiryGraceFactor = 2.0
    /// Reject at submission what could not meet its deadline even if dispatched at once (else it is served late,
    /// after everything that can still make it).
    public var shedInfeasibleAtSubmit = false
    public var maxQueueLength = 100_000

    // Allocation (adaptive DRR).
    /// DRR quantum of each class per round, in predicted tokens; interactive earns more so short work drains first.
    /// 8:1: unlabelled work is classified by `p_short`, so the interactive class holds nearly every short request and
    /// about as many long ones, and the heavy class the requests predicted surely long. Those absorb an overload
    /// (their quanta grow with their deadline pressure); at 2:1 they were served nearly as they came, and short
    /// requests waited among the interactive class's long ones (docs/benchmarks/simulator.md).
    public var interactiveQuantumTokens = 8000.0
    public var heavyQuantumTokens = 1000.0
    /// Quantum boost per unit of head-of-line age measured in the class's deadline budget (aging: nothing starves).
    public var drrAgeGain = 2.0
    /// Quantum boost at full deadline pressure (the head's slack gone).
    public var drrPressureGain = 2.0
    /// Upper bound of the boost factor, so one class cannot lock the other out completely.
    public var drrMaxBoost = 4.0
    /// DRR quantum between tenants inside a class, in predicted tokens.
    public var tenantQuantumTokens = 512.0

    // Ordering.
    /// Feasible-set rank = latest start + weight × predicted duration: 1 is EDF, 0 least-laxity; above 1 lets
    /// shorter requests pass longer ones with similar slack (lower mean slowdown). 1 by default: the class split
    /// already puts short work first, and inside the heavy class pushing long requests back stretches the makespan.
    public var feasibleSizeWeight = 1.0
    /// The same weight inside the heavy class. Below 1 a longer request starts before a shorter one with a similar
    /// deadline (least laxity at 0, longest-first among equal deadlines), so the longest answers do not all start
    /// last and stretch the makespan.
    public var heavyFeasibleSizeWeight = 1.0
    /// `shortest_expected_work`: rank = latest start + weight × trust × expected work, where trust (0…1) is how well
    /// the predictions have ranked the answers that came back (`PredictionTrust`). 0 is least laxity; large values
    /// order by expected work, with slack aging (below) protecting the deadlines. 16: with trustworthy predictions
    /// (noise σ 0.5, τ ≈ 0.67) unlabelled short P95 and every labelled regime's deadlines in the simulator were the
    /// same from 16 to 64; with the shipped predictor (τ ≈ 0.34) weights above about 4 made short P95 worse than no
    /// prediction at all, which the trust scaling avoids.
    public var expectedWorkWeight = 16.0
    /// Rank correlation (Kendall τ of predicted p50 against the output) at and below which predicted sizes get no
    /// weight in ordering, and from which they get all of it.
    public var untrustedRankCorrelation = 0.2
    public var trustedRankCorrelation = 0.7
    /// Trust before 50 answers have come back.
    public var initialPredictionTrust = 0.25
    /// `shortest_expected_work`: a request becomes urgent (served before any rank, by latest start) this share of its
    /// deadline budget before its latest start.
    public var urgentSlackShare = 0.1
    /// One priority step moves a request this far in rank (ms of deadline).
    public var priorityStepMs = 1000.0

    // Overload control.
    public var ladder: [LadderRungDocument] = SchedulerPolicy.defaultLadder
    /// Retry-After given with a ladder rejection: about the time the congestion controller needs to change mode.
    public var rejectRetryAfterMs = 5000.0
    /// Budget multiplier per congestion mode (free is 1).
    public var moderateBudgetScale = 0.8
    public var congestedBudgetScale = 0.6

    // Congestion controller (ratios are smoothed time per output token over its uncongested baseline).
    public var moderateEnterRatio = 1.6
    public var moderateExitRatio = 1.3
    public var congestedEnterRatio = 2.5
    public var congestedExitRatio = 2.0
    /// Rate-limit (429) share of recent completions that enters / leaves each mode.
    public var moderateEnter429Rate = 0.02
    public var moderateExit429Rate = 0.01
    public var congestedEnter429Rate = 0.10
    public var congestedExit429Rate = 0.05
    /// Minimum time in a mode before leaving it (hysteresis in time as well as in level).
    public var modeMinDwellMs = 1000.0
    /// Knee probing: while the ratio stays below `probeLowRatio` and the budget is what holds work back, the budget
    /// scale grows by the factor `1 + probeStep` per completion; above `probeHighRatio` it shrinks 2% per completion.
    /// This keeps dispatch near the provider's knee without knowing it. The shrink level sits at the moderate entry
    /// level because the per-token time of a finished request describes the load it ran under, seconds ago: shrinking
    /// on smaller excursions makes the budget oscillate below the knee and idles capacity while work waits.
    public var probeLowRatio = 1.15
    public var probeHighRatio = 1.6
    public var probeStep = 0.02
    public var probeUtilization = 0.8
    public var minCapacityScale = 0.3
    public var maxCapacityScale = 4.0

    /// Knee finding (see `KneeEstimator`): the cap keeps the provider's knee in flight and probes this many times it
    /// (at least one request more) for an eighth of each window; 0 turns the request cap off. Above 1 so that a cap
    /// below the knee climbs back (by this factor per probe). While probing, answers run this much slower than
    /// uncongested ones; against a provider whose throughput falls past its knee the probe costs throughput too, so
    /// it is short and small. It is also the slowdown up to which a request counts as served at full speed.
    public var kneeGain = 1.05
    /// A completion slowed down at least this much (per-token time over baseline) shows the provider saturated and
    /// engages the request cap; well above measurement noise, so a cap is not set from a jittery sample.
    public var kneeSaturationRatio = 1.3
    /// How long a saturated sample counts; without recent ones the request cap lifts and capacity is re-probed.
    public var kneeWindowMs = 30_000.0
    /// The request cap never goes below this.
    public var kneeMinimumInflight = 4
    /// Requests in flight while the provider's capacity is still unknown (TCP's initial window, grown by one per
    /// clean completion); 0 leaves only the token budgets until the provider is seen saturated.
    public var kneeStartupInflight = 4
    /// A first token later than the uncongested one by this share of a mean service time shows the provider
    /// queueing this client's requests (and engages the request cap).
    public var kneeQueueFraction = 0.5
    /// Under the knee cap, waiting interactive work takes every free slot first unless the next heavy request has
    /// used this share of its slack (deadline pressure); then the allocation policy weighs both classes.
    public var heavyUrgentPressure = 0.5

    // Service-time model (learned online; these are only the starting point).
    public var priorMsPerOutputToken = 20.0
    public var priorTtftMs = 300.0
    /// EWMA weight of one completion in the per-token time and TTFT estimates.
    public var estimateAlpha = 0.1
    /// The uncongested baseline follows lower samples fast and higher samples slowly (a low-quantile tracker); slowly
    /// enough that a sustained overload is not mistaken for a new normal within a few hundred completions, yet a
    /// provider that became permanently slower is re-learned eventually.
    public var baselineDownAlpha = 0.2
    public var baselineUpAlpha = 0.0005
    /// Completions the baselines start from (their lowest values): never one sample, which may have queued.
    public var baselineWarmupSamples = 3

    // Rate limits from upstream.
    /// Dispatches per request before a 429 or an unreachable upstream fails it. Generous: a 429 says "later", not
    /// "never", and the request keeps its deadline (it expires on its own when waiting is pointless).
    public var maxAttempts = 6
    /// Back-off after a 429 without Retry-After, doubling per attempt up to 8×.
    public var rateLimitRetryMs = 1000.0

    public init() {}

    /// Default ladder: ShareGPT-sized work (≤ 4096 tokens) is always admitted; larger work waits in a congested
    /// provider; outsized work waits when moderate and is refused when congested.
    public static let defaultLadder: [LadderRungDocument] = [
        LadderRungDocument(maxCost: 4096, free: .admit, moderate: .admit, congested: .admit),
        LadderRungDocument(maxCost: 16384, free: .admit, moderate: .admit, congested: .defer),
        LadderRungDocument(maxCost: nil, free: .admit, moderate: .defer, congested: .reject),
    ]

    /// Default time budget of a class.
    public func deadlineBudgetMs(_ requestClass: RequestClass) -> Double {
        requestClass == .interactive ? interactiveDeadlineMs : heavyDeadlineMs
    }

    /// Base in-flight budget of a class, before mode and probing scale it.
    public func baseBudget(_ requestClass: RequestClass) -> Int {
        requestClass == .interactive ? interactiveInflightTokens : heavyInflightTokens
    }
}
