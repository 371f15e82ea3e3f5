import Foundation
import Testing

/// `maitre-bench scheduler` on a temporary PostgreSQL with one and then two replicas, briefly: every cell's runs
/// start fresh replicas on a new database, every /submit is accepted, the table compares the counts, the dispatch
/// delay is measured, and the scratch databases are dropped afterwards. No speed verdict: that is the benchmark's.
@Suite(
    .serialized,
    .enabled(if: TemporaryPostgres.unavailableReason == nil, "\(TemporaryPostgres.unavailableReason ?? "")"))
struct SchedulerReplicaBenchmarkSmokeTests {
    @Test func measuresOneAndTwoReplicasOnAFreshDatabaseEachRun() async throws {
        let postgres = try await TemporaryPostgres.start()
        defer { postgres.stop() }
        let databaseURL = try postgres.createDatabase("maitre")
        let bench = try BinaryLocator.url(for: "maitre-bench")
        let (status, printed) = try Command.run(
            bench.path,
            [
                "scheduler", "--decisions", "2000", "--queued", "1000", "--database-url", databaseURL, "--replicas",
                "1,2", "--runs", "2", "--duration", "1", "--submits", "300", "--concurrency", "4,8", "--dispatches",
                "100",
                "--scheduler-path", BinaryLocator.directory.appendingPathComponent("maitre-scheduler").path,
            ])
        #expect(status == 0, "maitre-bench scheduler failed:\n\(printed.suffix(4000))")
        #expect(printed.contains("decision cost:"))
        #expect(printed.contains("/submit throughput: PostgreSQL"))
        let rows = printed.split(separator: "\n").filter { $0.hasPrefix("       1 ") || $0.hasPrefix("       2 ") }
        #expect(rows.count == 4, "\(printed)")
        #expect(printed.contains("highest, 2 replica(s):"), "\(printed)")
        #expect(rows.allSatisfy { $0.contains("x  schedulers") }, "\(printed)")
        #expect(printed.contains("dispatch delay"), "\(printed)")
        // Only the database the URL names is left: each run's scratch database was dropped.
        let databases = try postgres.query(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'maitre_bench_%'", database: databaseURL)
        #expect(databases == "0")
        let tables = try postgres.query(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'request'", database: databaseURL)
        #expect(tables == "0", "the database the URL names must not be written to")
    }
}
