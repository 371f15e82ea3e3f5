import Contracts
import Foundation
import SchedulerCore
import Testing

@testable import Bench

/// The simulation loop on tiny workloads whose timings can be worked out by hand.
struct SimulationTests {
    let model = KneeLatencyModel(
        baseTTFTMs: 100, prefillMsPerToken: 0, tpotMs: 10, knee: 1, alpha: 1, concurrencyCap: 8)

    func request(
        _ index: Int, at arrival: Double, output: Int, deadline: Double, clientClass: ClientClass = .interactive
    ) -> WorkloadRequest {
        WorkloadRequest(
            index: index, arrivalMs: arrival, promptTokens: 10, outputTokens: output, clientClass: clientClass,
            maxTokens: 4096, deadlineMs: deadline)
    }

    @Test func directModeSendsOnArrivalAndSharesTheProvider() {
        let requests = [request(0, at: 0, output: 11, deadline: 250), request(1, at: 0, output: 6, deadline: 150)]
        let outcomes = Simulation(model: model).run(requests, mode: .direct)
        #expect(outcomes.map(\.status) == [.completed, .completed])
        #expect(abs(outcomes[0].finishedAtMs! - 250) < 1e-6)
        #expect(abs(outcomes[1].finishedAtMs! - 200) < 1e-6)
        let metrics = RunMetrics(outcomes, shortMaxOutputTokens: 256)
        #expect(metrics.completionRate == 1)
        #expect(metrics.deadlineSatisfaction == 0.5)
        #expect(abs(metrics.makespanMs - 250) < 1e-6)
        #expect(abs(metrics.goodputPerSecond - 4) < 1e-9)
    }

    @Test func scheduledModeRunsTheRealEngineAndCompletesEverything() {
        // A budget of one request's worth of tokens serialises the two requests; the engine must still finish both.
        var policy = SchedulerPolicy()
        policy.interactiveInflightTokens = 11
        policy.heavyInflightTokens = 1
        policy.maxCapacityScale = 1
        policy.minCapacityScale = 1
        let jobs = JobFactory(
            level: .oracle, errorModel: PredictionErrorModel(error: 0), medianOutputTokens: 8,
            classMedianOutputTokens: [:])
        let requests = [
            request(0, at: 0, output: 11, deadline: 10_000), request(1, at: 0, output: 11, deadline: 10_000),
        ]
        let outcomes = Simulation(model: model).run(requests, mode: .scheduled(policy: policy, jobs: jobs))
        #expect(outcomes.allSatisfy { $0.status == .completed })
        // One at a time at full speed: 0–200 ms, then 200–400 ms.
        let finishes = outcomes.compactMap(\.finishedAtMs).sorted()
        #expect(abs(finishes[0] - 200) < 1e-6)
        #expect(abs(finishes[1] - 400) < 1e-6)
    }

    @Test func scheduledShortRequestOvertakesQueuedLongOne() {
        var policy = SchedulerPolicy()
        policy.interactiveInflightTokens = 50
        policy.heavyInflightTokens = 50
        policy.heavyBorrowFraction = 0
        policy.maxCapacityScale = 1
        policy.minCapacityScale = 1
        // The "long" requests here are 40 tokens: promotion by predicted size would make them interactive.
        policy.promoteHeavyMaxP90Tokens = 0
        let jobs = JobFactory(
            level: .oracle, errorModel: PredictionErrorModel(error: 0), medianOutputTokens: 8,
            classMedianOutputTokens: [:])
        // A long request holds the heavy budget; a second long one waits; a short one arrives later and goes at once.
        let requests = [
            request(0, at: 0, output: 40, deadline: 100_000, clientClass: .heavy),
            request(1, at: 1, output: 40, deadline: 100_000, clientClass: .heavy),
            request(2, at: 2, output: 5, deadline: 1_000),
        ]
        let outcomes = Simulation(model: model).run(requests, mode: .scheduled(policy: policy, jobs: jobs))
        #expect(outcomes[2].dispatchedAtMs == 2)
        #expect(outcomes[1].dispatchedAtMs! > outcomes[0].arrivalMs + 100)
        #expect(outcomes[2].metDeadline)
    }

    @Test func deadlineRuleUsesOnlyClassAndMaxTokens() {
        let rule = DeadlineRule()
        let provider = KneeLatencyModel()
        let short = rule.budgetMs(clientClass: .interactive, promptTokens: 100, model: provider)
        // 3 × (300 + 0.2·100 + 255·20) = 3 × 5420.
        #expect(abs(short - 16_260) < 1e-6)
        var generator = SeededGenerator(seed: 1)
        var noiseless = rule
        noiseless.labelNoise = 0
        let long = noiseless.request(
            index: 0, sample: LengthSample(promptTokens: 100, outputTokens: 900), arrivalMs: 5, model: provider,
            generator: &generator)
        #expect(long.clientClass == .heavy)
        #expect(long.maxTokens == 2048)
        #expect(abs(long.deadlineMs - 5 - 3 * (320 + 2047 * 20)) < 1e-6)
    }

    @Test func unlabelledClientsTellNoClassAtAnyRung() {
        let rule = DeadlineRule()
        let provider = KneeLatencyModel()
        var generator = SeededGenerator(seed: 1)
        let short = rule.request(
            index: 0, sample: LengthSample(promptTokens: 10, outputTokens: 50), arrivalMs: 0, model: provider,
            generator: &generator, labelled: false)
        // One use case for everything: the heavy max_tokens and its deadline, whatever the answer's length.
        #expect(short.maxTokens == 2048)
        #expect(!short.labelled)
        #expect(short.clientClass == .interactive)
        #expect(abs(short.deadlineMs - rule.budgetMs(clientClass: .heavy, promptTokens: 10, model: provider)) < 1e-6)
        for level in InformationLevel.allCases {
            let factory = JobFactory(
                level: level, errorModel: PredictionErrorModel(error: 0), medianOutputTokens: 300,
                classMedianOutputTokens: [.interactive: 60, .heavy: 700])
            let job = factory.job(short, generator: &generator)
            #expect(job.requestedClass == nil, "\(level)")
            if level == .classLabel { #expect(job.predictedOutputTokensP50 == 300) }
            if level == .oracle { #expect(job.predictedOutputTokensP50 == 50) }
        }
        var labelled = short
        labelled.labelled = true
        let factory = JobFactory(
            level: .classLabel, errorModel: PredictionErrorModel(error: 0), medianOutputTokens: 300,
            classMedianOutputTokens: [.interactive: 60, .heavy: 700])
        #expect(factory.job(labelled, generator: &generator).requestedClass == .interactive)
        #expect(factory.job(labelled, generator: &generator).predictedOutputTokensP50 == 60)
    }

    @Test func percentileInterpolatesLikeNumpy() {
        #expect(Statistics.percentile([1, 2, 3, 4], 0.5) == 2.5)
        #expect(Statistics.percentile([10], 0.95) == 10)
        #expect(abs(Statistics.percentile(Array(1...100).map(Double.init), 0.95) - 95.05) < 1e-9)
    }

    @Test func predictionErrorHasTheStatedSpread() {
        var generator = SeededGenerator(seed: 42)
        let model = PredictionErrorModel(error: 0.6)
        let logs = (0..<20_000).map { _ in
            log(Double(model.predict(trueTokens: 1000, shortMaxTokens: 256, generator: &generator).p50) / 1000)
        }
        #expect(abs(Statistics.mean(logs)) < 0.02)
        #expect(abs(Statistics.standardDeviation(logs) - log(1.6)) < 0.02)
    }
}

#if canImport(Glibc)
    import Glibc
#endif

/// The `replayed` rung: a pool read from `maitre-predictor evaluate --dump` lines carries each conversation's real
/// prediction into the job, and the information sweep offers the rung only for such a pool.
struct ReplayedRungTests {
    @Test func dumpLinesBecomeSamplesWithTheirPredictions() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("replay-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data(
            "{\"output_tokens\":300,\"p50\":120,\"p90\":640,\"prompt_tokens\":12}\n{\"output_tokens\":40,\"p50\":35,\"p90\":90,\"prompt_tokens\":7}\n"
                .utf8
        )
        .write(to: url)
        let pool = try SimulateBenchmark.replayedPool(url.path)
        #expect(
            pool == [
                LengthSample(promptTokens: 12, outputTokens: 300, replayedP50: 120, replayedP90: 640),
                LengthSample(promptTokens: 7, outputTokens: 40, replayedP50: 35, replayedP90: 90),
            ])
        try Data("{\"output_tokens\":300,\"prompt_tokens\":12}\n".utf8).write(to: url)
        #expect(throws: (any Error).self) { try SimulateBenchmark.replayedPool(url.path) }
    }

    @Test func theRungUsesThePredictorsNumbersNotTheTruth() {
        let rule = DeadlineRule()
        let model = KneeLatencyModel(
            baseTTFTMs: 100, prefillMsPerToken: 0, tpotMs: 10, knee: 4, alpha: 1, concurrencyCap: 8)
        var generator = SeededGenerator(seed: 1)
        let request = rule.request(
            index: 0, sample: LengthSample(promptTokens: 10, outputTokens: 900, replayedP50: 150, replayedP90: 700),
            arrivalMs: 0, model: model, generator: &generator)
        let jobs = JobFactory(
            level: .replayed, errorModel: PredictionErrorModel(error: 0), medianOutputTokens: 8,
            classMedianOutputTokens: [:])
        let job = jobs.job(request, generator: &generator)
        #expect(job.predictedOutputTokensP50 == 150)
        #expect(job.predictedOutputTokensP90 == 700)
    }

    @Test func theSweepOffersTheRungOnlyForAReplayedPool() throws {
        let model = KneeLatencyModel(
            baseTTFTMs: 100, prefillMsPerToken: 0, tpotMs: 10, knee: 4, alpha: 1, concurrencyCap: 8)
        var config = SimulatorConfig(
            model: model, rule: DeadlineRule(), requests: 20, seeds: 1,
            regimes: [Regime(name: "r", heavyShare: -1, load: 0.8)],
            predictedError: 0.5, noiseLevels: [])
        config.tickMs = 100
        let plain = (0..<50).map { LengthSample(promptTokens: 10, outputTokens: 20 + $0 * 13) }
        let replayed = plain.map {
            LengthSample(
                promptTokens: $0.promptTokens, outputTokens: $0.outputTokens, replayedP50: 100, replayedP90: 300)
        }
        var withoutReplay = try SimulatorSweeps(config: config, pool: plain, history: plain)
        var withReplay = try SimulatorSweeps(config: config, pool: replayed, history: plain)
        #expect(!withoutReplay.informationSweep().map(\.variant).contains("replayed"))
        #expect(withReplay.informationSweep().map(\.variant).contains("replayed"))
    }
}
