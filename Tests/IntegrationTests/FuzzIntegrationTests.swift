import Foundation
import Testing

/// A short schemathesis run (scripts/fuzz runs the long one) against the four live services, from the OpenAPI
/// document each serves: no 5xx, every response within its spec, every service alive afterwards.
@Suite(.serialized) struct FuzzIntegrationTests {
    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("python/fuzz_services.py").path
    }

    @Test func everyServiceSurvivesGeneratedRequestsWithinItsSpec() throws {
        // Bounded by cases, not time: on a loaded machine a time limit left some services with almost no cases.
        let arguments = [Self.script, BinaryLocator.directory.path, "--cases", "40", "--phases", "examples,fuzzing"]
        let result = try Command.run("python3", arguments)
        #expect(result.status == 0, "\(result.output.suffix(20_000))")
        let line = result.output.split(separator: "\n").last.map(String.init) ?? ""
        let summary = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        let results = summary?["results"] as? [[String: Any]] ?? []
        #expect(results.count == 4)
        for service in results {
            #expect((service["cases"] as? Int ?? 0) >= 20, "\(service)")
            #expect(service["server_errors"] as? Int == 0, "\(service)")
            #expect(service["alive"] as? Bool == true, "\(service)")
        }
    }
}
