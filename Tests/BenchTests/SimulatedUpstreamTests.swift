import MockLLMCore
import Testing

@testable import Bench

/// Hand-checked timings of the simulated provider: ttft = 100 ms, tpot0 = 10 ms, knee 1, alpha 1 (so two requests in
/// service take 20 ms per token each).
struct SimulatedUpstreamTests {
    let model = KneeLatencyModel(
        baseTTFTMs: 100, prefillMsPerToken: 0, tpotMs: 10, knee: 1, alpha: 1, concurrencyCap: 2)

    @Test func aloneRequestTakesTTFTThenTenTokensAtBaseSpeed() {
        var upstream = SimulatedUpstream(model: model)
        upstream.send(id: 7, promptTokens: 50, outputTokens: 11, now: 0)
        let finished = upstream.advance(to: 1000)
        #expect(finished.count == 1)
        #expect(finished[0].id == 7)
        #expect(abs(finished[0].firstTokenAtMs - 100) < 1e-6)
        #expect(abs(finished[0].finishedAtMs - 200) < 1e-6)
        #expect(upstream.isIdle)
    }

    @Test func perTokenTimeFollowsTheServedCountAsItChanges() {
        var upstream = SimulatedUpstream(model: model)
        upstream.send(id: 1, promptTokens: 0, outputTokens: 11, now: 0)
        upstream.send(id: 2, promptTokens: 0, outputTokens: 6, now: 0)
        let finished = upstream.advance(to: 1000)
        // Both at 20 ms/token: request 2 ends at 100 + 5·20 = 200 with request 1 half done (5 tokens left),
        // which then runs alone at 10 ms/token: 200 + 5·10 = 250.
        #expect(finished.map(\.id) == [2, 1])
        #expect(abs(finished[0].finishedAtMs - 200) < 1e-6)
        #expect(abs(finished[1].finishedAtMs - 250) < 1e-6)
    }

    @Test func requestsBeyondTheCapWaitInOrder() {
        let capped = KneeLatencyModel(
            baseTTFTMs: 100, prefillMsPerToken: 0, tpotMs: 10, knee: 1, alpha: 1, concurrencyCap: 1)
        var upstream = SimulatedUpstream(model: capped)
        upstream.send(id: 1, promptTokens: 0, outputTokens: 11, now: 0)
        upstream.send(id: 2, promptTokens: 0, outputTokens: 11, now: 0)
        #expect(upstream.queued == 1)
        let early = upstream.advance(to: 150)
        #expect(early.isEmpty)
        let finished = upstream.advance(to: 1000)
        #expect(finished.map(\.id) == [1, 2])
        #expect(abs(finished[1].firstTokenAtMs - 300) < 1e-6)
        #expect(abs(finished[1].finishedAtMs - 400) < 1e-6)
    }

    @Test func progressIsReportedEveryFewTokensAsTheSchedulerHearsAStream() {
        var upstream = SimulatedUpstream(model: model)
        upstream.progressEveryTokens = 4
        upstream.send(id: 3, promptTokens: 0, outputTokens: 11, now: 0)
        let finished = upstream.advance(to: 1000)
        // First token at 100 ms, then 10 ms a token: 4 tokens out at 130 ms, 8 at 170; the answer ends at 200 before
        // a third report.
        #expect(upstream.progressReports.map(\.tokens) == [4, 8])
        #expect(upstream.progressReports.map(\.atMs).enumerated().allSatisfy { abs($1 - [130, 170][$0]) < 1e-6 })
        // Reports do not move the answer's own timings.
        #expect(abs(finished[0].finishedAtMs - 200) < 1e-6)
    }

    @Test func latencyModelFormulas() {
        let knee = KneeLatencyModel(
            baseTTFTMs: 300, prefillMsPerToken: 0.5, tpotMs: 20, knee: 10, alpha: 2, concurrencyCap: 64)
        #expect(knee.timeToFirstTokenMs(promptTokens: 100) == 350)
        #expect(knee.timePerOutputTokenMs(inflight: 10) == 20)
        #expect(knee.timePerOutputTokenMs(inflight: 15) == 40)
        #expect(knee.saturatedTokensPerSecond == 500)
    }
}

/// The simulator's incremental provider and the mock's own batch simulation of the same latency model agree.
struct UpstreamAgreementTests {
    @Test func incrementalUpstreamMatchesTheMocksProviderSimulation() {
        let model = KneeLatencyModel(
            baseTTFTMs: 300, prefillMsPerToken: 0.2, tpotMs: 20, knee: 4, alpha: 1, concurrencyCap: 6)
        var generator = SeededGenerator(seed: 9)
        var clock = 0.0
        let arrivals = (0..<60).map { _ -> ProviderSimulation.Arrival in
            clock += generator.exponential(mean: 150)
            return ProviderSimulation.Arrival(
                time: clock / 1000, promptTokens: Int(generator.next() % 500),
                outputTokens: 4 + Int(generator.next() % 300))
        }
        let expected = ProviderSimulation(profile: model.profile, maxConcurrency: model.concurrencyCap).run(arrivals)
        var upstream = SimulatedUpstream(model: model)
        var finished: [Int: SimulatedUpstream<KneeLatencyModel>.Finished] = [:]
        for (index, arrival) in arrivals.enumerated() {
            for done in upstream.advance(to: arrival.time * 1000) { finished[done.id] = done }
            upstream.send(
                id: index, promptTokens: arrival.promptTokens, outputTokens: arrival.outputTokens,
                now: arrival.time * 1000)
        }
        for done in upstream.advance(to: .greatestFiniteMagnitude) { finished[done.id] = done }
        #expect(finished.count == arrivals.count)
        for (index, timeline) in expected.enumerated() {
            #expect(
                abs((finished[index]?.firstTokenAtMs ?? -1) - timeline.firstToken * 1000) < 1e-3, "request \(index)")
            #expect(abs((finished[index]?.finishedAtMs ?? -1) - timeline.finished * 1000) < 1e-3, "request \(index)")
        }
    }
}
