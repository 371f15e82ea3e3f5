import Contracts
import Foundation
import ProcessLauncher
import Testing

/// The official `openai` Python client through the proxy, and the outcome reports the proxy sends.
@Suite(.serialized) struct ProxyClientIntegrationTests {
    static var pythonFolder: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("python")
    }

    @Test func officialOpenAIClientWorksForChatStreamingAndEmbeddings() async throws {
        let mock = try await LaunchedService.start(
            "maitre-mock-llm", environment: ["MOCK_LATENCY_PROFILE": "instant", "LOG_LEVEL": "warning"])
        defer { mock.stop() }
        // The simulated upstream has no embeddings; the real predictor serves OpenAI's /v1/embeddings behind the proxy.
        let predictor = try await LaunchedService.start("maitre-predictor", environment: ["LOG_LEVEL": "warning"])
        defer { predictor.stop() }
        let embeddingsBase = predictor.baseURL
        let probe = try await TestHTTP.post(
            "\(predictor.baseURL)/v1/embeddings", raw: #"{"model":"text-embedding-3-small","input":"probe"}"#)
        #expect(probe.status == 200, "the predictor must serve /v1/embeddings: \(probe.text)")
        let yaml =
            "models:\n  gpt-4o-mini:\n    - api_base: \(mock.baseURL)/v1\n      api_key: sk-upstream\n"
            + "  text-embedding-3-small:\n    - api_base: \(embeddingsBase)/v1\n"
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(
            "proxy-client-\(UUID().uuidString.prefix(8)).yaml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        let proxy = try await LaunchedService.start(
            "maitre-proxy",
            environment: [
                "PROXY_CONFIG": file.path, "PREDICTOR_BASE_URL": "", "PROXY_API_KEYS": "client-key",
                "LOG_LEVEL": "warning",
            ]
        )
        defer { proxy.stop() }
        let arguments = [
            Self.pythonFolder.appendingPathComponent("proxy_openai_client.py").path, "\(proxy.baseURL)/v1",
            "client-key", "text-embedding-3-small",
        ]
        let result = try Command.run("python3", arguments)
        #expect(result.status == 0, "\(result.output)")
        let line = result.output.split(separator: "\n").last.map(String.init) ?? ""
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        let chat = object?["chat"] as? [String: Any]
        #expect((chat?["content"] as? String)?.isEmpty == false)
        let stream = object?["stream"] as? [String: Any]
        #expect((stream?["chunks"] as? Int ?? 0) > 1)
        #expect((stream?["content"] as? String)?.isEmpty == false)
        #expect(object?["unknown_model"] as? Int == 404)
        let embeddings = object?["embeddings"] as? [String: Any]
        #expect(embeddings?["count"] as? Int == 2)
        #expect((embeddings?["dimension"] as? Int ?? 0) > 0)
        // The upstream key never leaks into what the proxy shows.
        let stats = try await TestHTTP.get("\(proxy.baseURL)/_stats")
        #expect(!stats.text.contains("sk-upstream"))
        #expect(!proxy.logs().contains("sk-upstream"))
    }

    /// Starts `proxy_fake_predictor.py` on `port` and waits until it answers.
    static func startFakePredictor(port: Int, reports: URL) async throws -> ChildProcess {
        try await startPythonServer("proxy_fake_predictor.py", port: port, arguments: [reports.path])
    }

    /// Starts one of the Python servers in `python/` with its port first, and waits (at most 5 s) until `readyPath`
    /// answers 200.
    static func startPythonServer(
        _ script: String, port: Int, arguments: [String] = [], readyPath: String = "/"
    ) async throws -> ChildProcess {
        let server = try ChildProcess.spawn(
            "/usr/bin/env",
            arguments: ["python3", pythonFolder.appendingPathComponent(script).path, String(port)] + arguments)
        for _ in 0..<100 {
            if let ready = try? await TestHTTP.get("http://127.0.0.1:\(port)\(readyPath)", timeout: .seconds(1)),
                ready.status == 200
            {
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return server
    }

    @Test func outcomeReportsReachThePredictorInBatchesAndItsOutageNeverFailsTraffic() async throws {
        let mock = try await LaunchedService.start(
            "maitre-mock-llm", environment: ["MOCK_LATENCY_PROFILE": "instant", "LOG_LEVEL": "warning"])
        defer { mock.stop() }
        let port = try FreePort.allocate()
        let reports = FileManager.default.temporaryDirectory.appendingPathComponent(
            "proxy-reports-\(UUID().uuidString.prefix(8)).jsonl")
        let fake = try await Self.startFakePredictor(port: port, reports: reports)
        defer { fake.kill() }
        let proxy = try await LaunchedService.start(
            "maitre-proxy",
            environment: [
                "PROXY_DEFAULT_UPSTREAM": "\(mock.baseURL)/v1", "PREDICTOR_BASE_URL": "http://127.0.0.1:\(port)",
                "PROXY_REPORT_INTERVAL_MS": "100", "LOG_LEVEL": "warning",
            ]
        )
        defer { proxy.stop() }
        let headers = ["X-Tenant-ID": "tenant-7", "X-Task-Type": "summarise"]
        for stream in [false, true] {
            let body =
                #"{"model":"gpt-4o-mini","max_tokens":6,"stream":\#(stream),"messages":[{"role":"user","content":"Report me"}]}"#
            let response = try await TestHTTP.post("\(proxy.baseURL)/v1/chat/completions", raw: body, headers: headers)
            #expect(response.status == 200)
        }
        var records: [OutcomeReport] = []
        for _ in 0..<50 {
            if records.count >= 2 { break }
            try await Task.sleep(for: .milliseconds(100))
            let text = (try? String(contentsOf: reports, encoding: .utf8)) ?? ""
            records = text.split(separator: "\n").compactMap {
                try? JSONDecoder().decode(OutcomeBatch.self, from: Data($0.utf8))
            }.flatMap(\.records)
        }
        #expect(records.count == 2)
        for record in records {
            #expect(record.model == "gpt-4o-mini")
            #expect(record.tenantId == "tenant-7" && record.taskType == "summarise")
            #expect(record.success)
            #expect(record.outputTokens > 0 && record.outputTokens <= 6)
            #expect(record.messages?.first?.content?.plainText == "Report me")
            #expect(record.latencyMs != nil)
        }
        #expect(records.contains { $0.ttftMs != nil })
        // With the predictor gone, traffic still flows and the failed deliveries are counted (the reports wait in the
        // buffer for the predictor to come back).
        fake.kill()
        for _ in 0..<5 {
            let response = try await TestHTTP.post(
                "\(proxy.baseURL)/v1/chat/completions",
                raw: #"{"model":"gpt-4o-mini","max_tokens":4,"messages":[{"role":"user","content":"x"}]}"#)
            #expect(response.status == 200)
        }
        var dropped = false
        for _ in 0..<50 {
            if dropped { break }
            try await Task.sleep(for: .milliseconds(100))
            let metrics = try await TestHTTP.get("\(proxy.baseURL)/metrics", headers: ["Accept": "text/plain"])
            dropped = metrics.text.split(separator: "\n").contains {
                $0.hasPrefix("proxy_report_batches_failed_total") && !$0.hasSuffix(" 0")
            }
        }
        #expect(dropped)
    }
}
