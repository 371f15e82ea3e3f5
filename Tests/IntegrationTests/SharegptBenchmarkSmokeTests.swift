import Foundation
import ProcessLauncher
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A 20-request run of the end-to-end ShareGPT benchmark with the debug executables: every mode runs against a fresh
/// stack and the JSON report has sane figures. Small and fast (time scale 0.05, hashed embedder); no speed assertions.
@Suite(.serialized)
struct SharegptBenchmarkSmokeTests {
    @Test func twentyRequestRunReportsEveryModeWithSaneFields() async throws {
        let bench = try BinaryLocator.url(for: "maitre-bench")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "maitre-sharegpt-smoke-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let out = folder.appendingPathComponent("results.json")
        let arguments = [
            "sharegpt", "--total-requests", "20", "--seed-count", "30", "--seed", "3", "--rate", "4", "--time-scale",
            "0.05",
            "--embedder", "hashed", "--bin-dir", BinaryLocator.directory.path, "--work-dir",
            folder.appendingPathComponent("work").path,
            "--out", out.path,
        ]
        let (status, printed) = try Command.run(bench.path, arguments)
        #expect(status == 0, "maitre-bench sharegpt failed:\n\(printed.suffix(4000))")
        guard status == 0 else { return }

        let data = try Data(contentsOf: out)
        let report = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let modes = try #require(report["modes"] as? [[String: Any]])
        #expect(modes.compactMap { $0["mode"] as? String } == ["naive", "blind", "scheduler", "oracle"])
        // The no-wait floor: short requests at the provider's uncongested speed from arrival, which no mode beats
        // (5% for timing noise at this time scale).
        let noWait = try #require(report["short_no_wait_ms"] as? [String: Double])
        let noWaitP50 = noWait["p50"] ?? 0
        #expect(noWaitP50 > 300 && noWaitP50 <= noWait["p90"] ?? 0 && noWait["p90"] ?? 0 <= noWait["p95"] ?? 0)
        for mode in modes {
            let name = mode["mode"] as? String ?? "?"
            let metrics = try #require(mode["metrics"] as? [String: Double], "\(name) has no metrics")
            let requests = try #require(mode["requests"] as? [[String: Any]])
            #expect(requests.count == 20, "\(name)")
            #expect(metrics["requests"] == 20)
            let completion = metrics["completion_rate"] ?? -1
            #expect(completion > 0.5 && completion <= 1, "\(name) completion \(completion)")
            let deadlines = metrics["deadline_satisfaction"] ?? -1
            #expect(deadlines >= 0 && deadlines <= completion, "\(name)")
            #expect((metrics["makespan_ms"] ?? 0) > 0, "\(name)")
            #expect((metrics["global_p95_ms"] ?? 0) >= (metrics["short_p50_ms"] ?? 0), "\(name)")
            #expect((metrics["short_p50_ms"] ?? 0) >= 0.95 * noWaitP50, "\(name) beat the no-wait floor")
            for request in requests where (request["status"] as? Int) == 200 {
                let arrival = request["arrival_ms"] as? Double ?? -1
                let finished = request["finished_ms"] as? Double ?? -1
                #expect(finished > arrival, "\(name) request \(request["index"] ?? "?") finished before it arrived")
                #expect((request["output_tokens"] as? Int ?? 0) <= (request["max_tokens"] as? Int ?? 0))
            }
            if name != "naive" {
                #expect((mode["delta_vs_naive_percent"] as? [String: Double])?["short_p95"] != nil)
            }
        }
        #expect(printed.contains("short P95 ms") && printed.contains("No wait at all"))
        let svg = try String(contentsOf: folder.appendingPathComponent("results.svg"), encoding: .utf8)
        #expect(svg.contains("<polyline"))
    }

    /// Killing the benchmark midway stops the services it started: none is left running.
    @Test func aBenchmarkKilledMidwayLeavesNoServiceRunning() async throws {
        let bench = try BinaryLocator.url(for: "maitre-bench")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "maitre-sharegpt-kill-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let run = try ChildProcess.spawn(
            bench.path,
            arguments: [
                "sharegpt", "--total-requests", "200", "--seed-count", "30", "--time-scale", "0.05", "--embedder",
                "hashed", "--bin-dir", BinaryLocator.directory.path, "--work-dir",
                folder.appendingPathComponent("work").path, "--out", folder.appendingPathComponent("r.json").path,
            ], output: folder.appendingPathComponent("bench.log").path)
        defer { run.stop() }
        var services: Set<pid_t> = []
        for _ in 0..<600 where services.count < 3 && run.isRunning {
            services.formUnion(ChildProcess.children(of: run.pid))
            try await Task.sleep(for: .milliseconds(100))
        }
        try #require(services.count >= 3, "the benchmark started \(services.count) services")
        run.signal(SIGTERM)
        let status = await run.waitAsync(timeout: .seconds(30))
        #expect(status == .exited(128 + SIGTERM))
        for pid in services {
            #expect(!Self.isRunning(pid), "service \(pid) still runs after the benchmark was killed")
        }
    }

    /// Running, sleeping or in I/O; a process that is gone or a zombie is not.
    private static func isRunning(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z" && state != "X"
    }
}
