import Foundation
import Testing

/// The 30-second soak with the debug executables: 50 requests/s through scheduler → proxy → simulated upstream.
/// Asserts the soak's own criteria (exit status), that every request ended completed or refused with a reason, that
/// resident memory stayed within bounds after the 10-second warm-up, and that once the load has drained (the
/// generator's connections closed, pooled connections past their 60 s idle timeout) every service is back to the
/// descriptors it had before the load. Memory is judged by peaks of like phases (first half after warm-up against
/// the second), so the predictor's retraining swings do not decide it. No speed verdict: p99 stability is printed but
/// not judged here (the suite runs other tests beside this one on two cores); the full soak judges it.
@Suite(.serialized)
struct SoakIntegrationTests {
    @Test func thirtySecondSoakKeepsMemoryAndDescriptorsFlatAndEndsEveryRequest() async throws {
        let bench = try BinaryLocator.url(for: "maitre-bench")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "maitre-soak-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let out = folder.appendingPathComponent("soak.json")
        // The history window (200 rows) fills during the 500 warm-up requests, as the default does at 200/s.
        let arguments = [
            "soak", "--seconds", "30", "--warmup-seconds", "10", "--rate", "50", "--sample-seconds", "2", "--windows",
            "4",
            "--predictor-history-window", "200", "--p99-informational", "--bin-dir", BinaryLocator.directory.path,
            "--work-dir", folder.appendingPathComponent("work").path, "--out", out.path,
        ]
        let (status, printed) = try Command.run(bench.path, arguments)
        #expect(status == 0, "maitre-bench soak failed:\n\(printed.suffix(4000))")

        let data = try Data(contentsOf: out)
        let report = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let sent = report["sent"] as? Int ?? 0
        let completed = report["completed"] as? Int ?? 0
        let rejected = report["rejected"] as? Int ?? 0
        #expect(sent == 1500)
        #expect(report["failed"] as? Int == 0, "\(report["reasons"] ?? [:])")
        #expect(completed + rejected == sent)
        #expect(completed > 0)
        let reasons = report["reasons"] as? [String: Int] ?? [:]
        #expect(!reasons.keys.contains { $0.hasSuffix(": none") }, "a refusal without a reason: \(reasons)")

        let services = try #require(report["services"] as? [[String: Any]])
        #expect(
            Set(services.compactMap { $0["service"] as? String })
                == ["maitre-mock-llm", "maitre-predictor", "maitre-proxy", "maitre-scheduler"])
        for service in services {
            let name = service["service"] as? String ?? "?"
            let fdsIdle = service["fds_idle"] as? Int ?? -1
            let fdsDrained = service["fds_drained"] as? Int ?? -1
            let fdsMax = service["fds_max"] as? Int ?? -1
            #expect(fdsIdle > 0, "\(name)")
            #expect(
                fdsDrained - fdsIdle <= 8,
                "\(name) descriptors \(fdsIdle) before the load → \(fdsDrained) after it drained")
            #expect(fdsMax >= fdsDrained, "\(name)")
            let rssWarmup = service["rss_kb_warmup"] as? Int ?? -1
            #expect(rssWarmup > 0, "\(name)")
            let growth = service["rss_growth_percent"] as? Double ?? .infinity
            #expect(growth <= 10, "\(name) resident memory grew \(growth)%")
        }
        let windows = try #require(report["windows"] as? [[String: Any]])
        #expect(windows.count == 4)
        #expect(windows.allSatisfy { ($0["completed"] as? Int ?? 0) > 0 && ($0["p99_ms"] as? Double ?? 0) > 0 })
    }
}
