import Contracts
import Foundation
import SchedulerCore

/// What a simulator report ran with (printed at its top, so any figure can be reproduced).
public struct SimulatorConfig: Sendable, Codable {
    public var model: KneeLatencyModel
    public var rule: DeadlineRule
    public var requests: Int
    public var seeds: Int
    public var regimes: [Regime]
    public var predictedError: Double
    public var noiseLevels: [Double]
    /// σ of the information sweep's extra "noise σ" rungs (true size × exp(σZ)).
    public var replayNoise: [Double] = []
    public var tickMs = 100.0
    /// Policy knobs set on the command line (`--set key=value`), by their configuration names; empty: the defaults.
    public var policyOverrides: [String: Double] = [:]
    /// `ordering_policy` set on the command line (nil: the default).
    public var orderingPolicy: String?
    /// The `evaluate --dump` file the pool came from (nil: the ShareGPT shuffle, no replayed rung).
    public var replaySource: String?

    /// The scheduler policy every scheduled variant starts from: the defaults with `policyOverrides` applied.
    public func basePolicy() throws -> SchedulerPolicy {
        try SchedulerPolicy().applying(
            SchedulerConfigDocument(orderingPolicy: orderingPolicy, extra: policyOverrides.mapValues { .number($0) }))
    }

    enum CodingKeys: String, CodingKey {
        case model = "upstream"
        case rule = "deadline_rule"
        case requests, seeds, regimes
        case predictedError = "predicted_error"
        case noiseLevels = "noise_levels"
        case replayNoise = "replay_noise"
        case tickMs = "tick_ms"
        case policyOverrides = "policy_overrides"
        case orderingPolicy = "ordering_policy"
        case replaySource = "replay_source"
    }
}

/// One cell of a sweep: a variant in a regime, one `RunMetrics` per seed.
public struct SweepCell: Sendable, Codable {
    public var regime: String
    public var variant: String
    public var ratePerSecond: Double
    public var runs: [RunMetrics]
    /// Heavy average latency over FIFO's on the same workload, minus one, per seed.
    public var longOverheadVsFIFO: [Double] = []

    enum CodingKeys: String, CodingKey {
        case regime, variant, runs
        case ratePerSecond = "rate_per_second"
        case longOverheadVsFIFO = "long_overhead_vs_fifo"
    }
}

/// A scheduler variant of a sweep: allocation/ordering policy and what it is told.
public struct SchedulerVariant: Sendable {
    public var name: String
    /// nil: no scheduler (every request sent on arrival).
    public var policy: SchedulerPolicy?
    public var level: InformationLevel
    public var error: Double

    public static func policy(
        _ allocation: AllocationPolicyName, ordering: OrderingPolicyName = .feasibleSet,
        base: SchedulerPolicy = SchedulerPolicy()
    ) -> SchedulerPolicy {
        var policy = base
        policy.allocation = allocation
        policy.ordering = ordering
        return policy
    }
}

/// Runs the sweeps; workloads are paired (the same seed gives every variant the same requests and arrivals).
public struct SimulatorSweeps: Sendable {
    public let config: SimulatorConfig
    public let pool: [LengthSample]
    public let history: [LengthSample]
    public private(set) var simulatedRequests = 0
    private var fifoHeavyAverage: [String: [Double]] = [:]

    /// The policy every scheduled variant starts from: the defaults with the config's overrides.
    public let base: SchedulerPolicy

    /// Throws when the config's policy overrides are invalid.
    public init(config: SimulatorConfig, pool: [LengthSample], history: [LengthSample]) throws {
        self.config = config
        self.pool = pool
        self.history = history
        self.base = try config.basePolicy()
    }

    /// Medians the lower information rungs use (overall, interactive, heavy).
    public var medians: [String: Int] {
        let factory = JobFactory(
            level: .none, errorModel: PredictionErrorModel(error: 0), history: history, rule: config.rule)
        return [
            "all": factory.medianOutputTokens, "interactive": factory.classMedianOutputTokens[.interactive] ?? 0,
            "heavy": factory.classMedianOutputTokens[.heavy] ?? 0,
        ]
    }

    public mutating func policySweep() -> [SweepCell] {
        let variants: [SchedulerVariant] = [
            SchedulerVariant(
                name: "direct (no scheduler)", policy: nil, level: .predicted, error: config.predictedError),
            SchedulerVariant(
                name: "fifo", policy: SchedulerVariant.policy(.fifo, ordering: .fifo, base: base), level: .predicted,
                error: config.predictedError),
            SchedulerVariant(
                name: "short_priority", policy: SchedulerVariant.policy(.shortPriority, base: base), level: .predicted,
                error: config.predictedError),
            SchedulerVariant(
                name: "fair_queuing", policy: SchedulerVariant.policy(.fairQueuing, base: base), level: .predicted,
                error: config.predictedError),
            SchedulerVariant(
                name: "quota_tiered", policy: SchedulerVariant.policy(.quotaTiered, base: base), level: .predicted,
                error: config.predictedError),
            SchedulerVariant(
                name: "adaptive_drr (full stack)", policy: base, level: .predicted, error: config.predictedError),
        ]
        return sweep(variants)
    }

    public mutating func informationSweep() -> [SweepCell] {
        let replayed = !pool.isEmpty && pool.allSatisfy { $0.replayedP50 != nil }
        let noisy = config.replayNoise.map { sigma in
            SchedulerVariant(name: "noise σ=\(sigma)", policy: base, level: .predicted, error: exp(sigma) - 1)
        }
        return sweep(
            InformationLevel.allCases.filter { $0 != .replayed || replayed }
                .map { SchedulerVariant(name: $0.rawValue, policy: base, level: $0, error: config.predictedError) }
                + noisy)
    }

    public mutating func noiseSweep() -> [SweepCell] {
        sweep(
            config.noiseLevels.map {
                SchedulerVariant(name: "\(Int(($0 * 100).rounded()))%", policy: base, level: .predicted, error: $0)
            })
    }

    private mutating func sweep(_ variants: [SchedulerVariant]) -> [SweepCell] {
        var cells: [SweepCell] = []
        for (regimeIndex, regime) in config.regimes.enumerated() {
            let fifo = fifoBaseline(regime, regimeIndex: regimeIndex)
            for variant in variants {
                var cell = SweepCell(regime: regime.name, variant: variant.name, ratePerSecond: 0, runs: [])
                for seed in 0..<config.seeds {
                    let (metrics, rate) = run(variant, regime: regime, regimeIndex: regimeIndex, seed: seed)
                    cell.ratePerSecond = rate
                    cell.runs.append(metrics)
                    cell.longOverheadVsFIFO.append(fifo[seed] > 0 ? metrics.heavyAverageMs / fifo[seed] - 1 : 0)
                }
                cells.append(cell)
            }
        }
        return cells
    }

    private mutating func fifoBaseline(_ regime: Regime, regimeIndex: Int) -> [Double] {
        if let cached = fifoHeavyAverage[regime.name] { return cached }
        let variant = SchedulerVariant(
            name: "fifo", policy: SchedulerVariant.policy(.fifo, ordering: .fifo, base: base), level: .predicted,
            error: config.predictedError)
        let averages = (0..<config.seeds).map {
            run(variant, regime: regime, regimeIndex: regimeIndex, seed: $0).metrics.heavyAverageMs
        }
        fifoHeavyAverage[regime.name] = averages
        return averages
    }

    /// One run; the workload depends only on (regime, seed), never on the variant.
    public mutating func run(_ variant: SchedulerVariant, regime: Regime, regimeIndex: Int, seed: Int) -> (
        metrics: RunMetrics, rate: Double
    ) {
        let workloadSeed = UInt64(seed + 1) &* 7919 &+ UInt64(regimeIndex)
        let generator = WorkloadGenerator(pool: pool, rule: config.rule, model: config.model)
        let (requests, rate) = generator.make(regime: regime, count: config.requests, seed: workloadSeed)
        let simulation = Simulation(model: config.model, tickMs: config.tickMs)
        let mode: SimulationMode
        if let policy = variant.policy {
            let jobs = JobFactory(
                level: variant.level, errorModel: PredictionErrorModel(error: variant.error), history: history,
                rule: config.rule)
            mode = .scheduled(policy: policy, jobs: jobs)
        } else {
            mode = .direct
        }
        let outcomes = simulation.run(requests, mode: mode, seed: workloadSeed)
        simulatedRequests += requests.count
        return (RunMetrics(outcomes, shortMaxOutputTokens: config.rule.shortMaxOutputTokens), rate)
    }
}
