import ArgumentParser
import Foundation
import Testing

@testable import Bench

/// The pure parts of `maitre-bench scheduler --replicas`: how load is spread, how runs are summarised and compared,
/// how CPU time is read from `/proc` and accounted, and which option combinations are refused.
@Suite struct SchedulerReplicaBenchmarkTests {
    @Test func connectionsAreSplitEvenlyOverReplicas() {
        #expect(SubmitLoad.shares(of: 64, over: 1) == [64])
        #expect(SubmitLoad.shares(of: 64, over: 2) == [32, 32])
        #expect(SubmitLoad.shares(of: 65, over: 2) == [33, 32])
        #expect(SubmitLoad.shares(of: 3, over: 4) == [1, 1, 1, 0])
    }

    @Test func medianOfOddAndEvenRunCounts() {
        #expect(SchedulerBenchmark.median([3, 1, 2]) == 2)
        #expect(SchedulerBenchmark.median([4, 1, 3, 2]) == 2.5)
        #expect(SchedulerBenchmark.median([]) == 0)
    }

    private func run(rate: Double, micros: [Int]) -> SubmitRun {
        var latencies = LoadLatencyHistogram()
        for value in micros { latencies.add(microseconds: value) }
        return SubmitRun(
            result: WrkResult(rate: rate, requests: micros.count, failures: 0, latencies: latencies), cpu: CPUAccount())
    }

    @Test func cellsCompareTheirMedianRateWithOneReplicasAtTheSameConnections() {
        let one = SubmitCell(
            replicas: 1, connections: 64,
            runs: [
                run(rate: 1_000, micros: [1_000]), run(rate: 1_200, micros: [2_000]), run(rate: 900, micros: [3_000]),
            ]
        )
        let two = SubmitCell(
            replicas: 2, connections: 64, runs: [run(rate: 1_800, micros: [4_000]), run(rate: 2_000, micros: [5_000])])
        #expect(one.medianRate == 1_000)
        #expect(two.medianRate == 1_900)
        #expect(two.ratio(to: [one, two]) == 1.9)
        #expect(two.ratio(to: [two]) == nil)
        #expect(one.latencies.total == 3)
        #expect(one.latencies.quantile(0.99) == 0.003)
        let table = SubmitCell.table([one, two])
        #expect(table.count == 3)
        #expect(table[1].contains("1.00x") && table[2].contains("1.90x"))
        #expect(table[1].contains("1000, 1200, 900"))
    }

    @Test func severalConnectionCountsAddEachReplicaCountsHighestRate() {
        let cells = [
            SubmitCell(replicas: 1, connections: 64, runs: [run(rate: 1_000, micros: [1_000])]),
            SubmitCell(replicas: 1, connections: 256, runs: [run(rate: 1_500, micros: [1_000])]),
            SubmitCell(replicas: 2, connections: 64, runs: [run(rate: 1_100, micros: [1_000])]),
            SubmitCell(replicas: 2, connections: 256, runs: [run(rate: 1_200, micros: [1_000])]),
        ]
        #expect(cells[3].ratio(to: cells) == 0.8)
        #expect(SubmitCell.peaks(cells).map(\.connections) == [256, 256])
        let table = SubmitCell.table(cells)
        #expect(table.count == 7)
        #expect(table[5] == "highest, 1 replica(s): 1500 req/s at 256 connections, 1.00x one replica's highest")
        #expect(table[6] == "highest, 2 replica(s): 1200 req/s at 256 connections, 0.80x one replica's highest")
    }

    @Test func processTicksReadNamesWithSpacesAndParentheses() throws {
        let line = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 15 5 20 0 4 0 12345 0 0"
        let (command, ticks) = try #require(CPUAccount.processTicks(line))
        #expect(command == "a (weird) name")
        #expect(ticks == 325)
        #expect(CPUAccount.endedChildrenTicks(line) == 20)
        #expect(CPUAccount.processTicks("garbage") == nil)
        #expect(CPUAccount.busyTicks("cpu  100 5 50 1000 20 0 5 0 0 0\ncpu0 1 2 3 4 5") == 160)
        #expect(CPUAccount.busyTicks("intr 1 2 3") == nil)
    }

    @Test func cpuIsAccountedToReplicasPostgresWrkThisProcessAndTheRest() {
        let start = ContinuousClock.now
        let me = getpid()
        let before = CPUAccount.Reading(
            processes: [
                10: ("maitre-schedule", 1), 11: ("maitre-schedule", 1), 20: ("postgres", 0), 30: ("wrk", 0),
                me: ("maitre-bench", 0), 40: ("swift-frontend", 0),
            ],
            endedChildrenSeconds: 4, busySeconds: 100, at: start)
        let after = CPUAccount.Reading(
            processes: [
                10: ("maitre-schedule", 3), 11: ("maitre-schedule", 2), 20: ("postgres", 1),
                21: ("postgres", 0.5), 30: ("wrk", 0.5), me: ("maitre-bench", 0.25), 40: ("swift-frontend", 0.5),
            ],
            endedChildrenSeconds: 4.25, busySeconds: 106, at: start + .seconds(2))
        let account = CPUAccount(from: before, to: after, schedulers: [10, 11])
        #expect(account.schedulers == 1.5)
        #expect(account.postgres == 0.75)
        // 0.5 s of a wrk still running, 0.25 s of one that ended: over 2 s.
        #expect(account.wrk == 0.375)
        #expect(account.bench == 0.125)
        #expect(account.busy == 3)
        #expect(account.other == 3 - 1.5 - 0.75 - 0.375 - 0.125)
        let mean = CPUAccount.mean([account, CPUAccount()])
        #expect(mean.schedulers == 0.75)
    }

    @Test func severalReplicasNeedADatabaseAndTheListMustParse() throws {
        #expect(throws: (any Error).self) { try SchedulerBenchmark.parse(["--replicas", "1,2"]) }
        #expect(throws: (any Error).self) { try SchedulerBenchmark.parse(["--replicas", "1,x"]) }
        #expect(throws: (any Error).self) { try SchedulerBenchmark.parse(["--database-url", "mysql://x@y/z"]) }
        let parsed = try SchedulerBenchmark.parse([
            "--replicas", "1, 2", "--database-url", "postgres://maitre@127.0.0.1:5432/maitre?sslmode=disable",
        ])
        #expect(parsed.replicaCounts == [1, 2])
        #expect(try SchedulerBenchmark.parse(["--concurrency", "64,256"]).concurrencies == [64, 256])
        #expect(throws: (any Error).self) { try SchedulerBenchmark.parse(["--concurrency", "64,"]) }
    }
}
