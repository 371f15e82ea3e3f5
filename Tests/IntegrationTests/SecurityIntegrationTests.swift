import Foundation
import ProcessLauncher
import Testing

/// Access control and secret hygiene of the real executables: client keys, admin and stats tokens, and upstream
/// API keys that never show up in any output.
@Suite(.serialized) struct SecurityIntegrationTests {
    static let chat = #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hi"}],"max_tokens":8}"#

    /// Requests the mock has answered on `route`, summed over methods and statuses, from its Prometheus text.
    static func mockRequests(_ mock: LaunchedService, route: String) async throws -> Double {
        let text = try await TestHTTP.get("\(mock.baseURL)/metrics?format=prometheus").text
        return text.split(separator: "\n")
            .filter { $0.hasPrefix("http_requests_total{") && $0.contains("route=\"\(route)\"") }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }
            .reduce(0, +)
    }

    @Test func proxyWithClientKeysRefusesMissingOrWrongKeysBeforeAnyUpstreamCall() async throws {
        let mock = try await LaunchedService.start(
            "maitre-mock-llm", environment: ["MOCK_LATENCY_PROFILE": "instant", "LOG_LEVEL": "warning"])
        defer { mock.stop() }
        let proxy = try await LaunchedService.start(
            "maitre-proxy",
            environment: [
                "PROXY_DEFAULT_UPSTREAM": "\(mock.baseURL)/v1", "PREDICTOR_BASE_URL": "",
                "PROXY_API_KEYS": "key-one,key-two", "LOG_LEVEL": "warning",
            ])
        defer { proxy.stop() }
        let refused: [[String: String]] = [
            [:],
            ["Authorization": "Bearer key-on"],
            ["Authorization": "Bearer key-one-and-more"],
            ["Authorization": "Basic key-one"],
            ["api-key": "nope"],
        ]
        for headers in refused {
            let answer = try await TestHTTP.post(
                "\(proxy.baseURL)/v1/chat/completions", raw: Self.chat, headers: headers)
            #expect(answer.status == 401, "\(headers)")
            #expect(answer.text.contains("\"authentication_error\""), "\(answer.text)")
            let models = try await TestHTTP.get("\(proxy.baseURL)/v1/models", headers: headers)
            #expect(models.status == 401, "\(headers)")
        }
        #expect(try await Self.mockRequests(mock, route: "/v1/chat/completions") == 0)
        let accepted = try await TestHTTP.post(
            "\(proxy.baseURL)/v1/chat/completions", raw: Self.chat, headers: ["Authorization": "Bearer key-two"])
        #expect(accepted.status == 200, "\(accepted.text)")
        #expect(try await Self.mockRequests(mock, route: "/v1/chat/completions") == 1)

        // A scheduler in front of the keyed proxy presents its own key (PROXY_API_KEY); without one its dispatches
        // would all be refused.
        let scheduler = try await LaunchedService.start(
            "maitre-scheduler",
            environment: [
                "PROXY_URLS": proxy.baseURL, "PREDICTOR_BASE_URL": "http://127.0.0.1:9", "PREDICTOR_TIMEOUT_MS": "50",
                "PROXY_API_KEY": "key-one", "LOG_LEVEL": "warning",
            ])
        defer { scheduler.stop() }
        let throughScheduler = try await TestHTTP.post("\(scheduler.baseURL)/v1/chat/completions", raw: Self.chat)
        #expect(throughScheduler.status == 200, "\(throughScheduler.text)")
        #expect(try await Self.mockRequests(mock, route: "/v1/chat/completions") == 2)
    }

    @Test func adminAndStatsSurfacesNeedTheirTokens() async throws {
        let scheduler = try await LaunchedService.start(
            "maitre-scheduler",
            environment: [
                "ADMIN_TOKEN": "admin-secret", "PREDICTOR_BASE_URL": "http://127.0.0.1:9",
                "PROXY_URLS": "http://127.0.0.1:9",
                "LOG_LEVEL": "warning",
            ])
        defer { scheduler.stop() }
        let wrong: [[String: String]] = [
            [:], ["Authorization": "Bearer admin-secre"], ["Authorization": "Bearer admin-secret2"],
        ]
        for headers in wrong {
            #expect(try await TestHTTP.get("\(scheduler.baseURL)/admin/config", headers: headers).status == 401)
            #expect(
                try await TestHTTP.post(
                    "\(scheduler.baseURL)/admin/config", raw: #"{"max_queue_length":1}"#, headers: headers
                ).status == 401)
            #expect(try await TestHTTP.post("\(scheduler.baseURL)/reset", raw: "", headers: headers).status == 401)
        }
        let admin = ["Authorization": "Bearer admin-secret"]
        let config = try await TestHTTP.get("\(scheduler.baseURL)/admin/config", headers: admin)
        #expect(config.status == 200)
        #expect(!config.text.contains("max_queue_length\":1,"))
        #expect(try await TestHTTP.post("\(scheduler.baseURL)/reset", raw: "", headers: admin).status == 200)

        let proxy = try await LaunchedService.start(
            "maitre-proxy",
            environment: [
                "PROXY_DEFAULT_UPSTREAM": "http://127.0.0.1:9/v1", "PREDICTOR_BASE_URL": "",
                "STATS_TOKEN": "stats-secret",
                "LOG_LEVEL": "warning",
            ])
        defer { proxy.stop() }
        for headers in [[:], ["Authorization": "Bearer stats-secre"], ["Authorization": "Bearer admin-secret"]] {
            #expect(try await TestHTTP.get("\(proxy.baseURL)/_stats", headers: headers).status == 401)
        }
        #expect(
            try await TestHTTP.get("\(proxy.baseURL)/_stats", headers: ["Authorization": "Bearer stats-secret"]).status
                == 200)
    }

    @Test func upstreamKeysNeverAppearInLogsErrorsMetricsStatsOrEvents() async throws {
        let secret = "sk-leakcheck-\(UUID().uuidString.lowercased())"
        let mock = try await LaunchedService.start(
            "maitre-mock-llm", environment: ["MOCK_LATENCY_PROFILE": "instant", "LOG_LEVEL": "trace"])
        defer { mock.stop() }
        // One healthy deployment, one whose upstream refuses connections, so error paths run too.
        let yaml = """
            models:
              gpt-4o-mini:
                - api_base: \(mock.baseURL)/v1
                  api_key: \(secret)
              broken-model:
                - api_base: http://127.0.0.1:9/v1
                  api_key: \(secret)
            """
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(
            "proxy-leak-\(UUID().uuidString.prefix(8)).yaml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let proxy = try await LaunchedService.start(
            "maitre-proxy",
            environment: [
                "PROXY_CONFIG": file.path, "PREDICTOR_BASE_URL": "", "STATS_TOKEN": "stats-secret",
                "LOG_LEVEL": "trace",
                "PROXY_MAX_RETRIES": "1", "PROXY_RETRY_BACKOFF_MS": "1",
            ])
        defer { proxy.stop() }
        let scheduler = try await LaunchedService.start(
            "maitre-scheduler",
            environment: [
                "PROXY_URLS": proxy.baseURL, "PREDICTOR_BASE_URL": "http://127.0.0.1:9", "PREDICTOR_TIMEOUT_MS": "50",
                "LOG_LEVEL": "trace", "PROXY_STATS_TOKEN": "stats-secret",
            ])
        defer { scheduler.stop() }

        // No service logs prompts: a distinctive prompt must not reach any log, even at trace level.
        let canary = "prompt-canary-\(UUID().uuidString.lowercased())"
        let canaryChat = #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"\#(canary)"}],"max_tokens":8}"#
        var outputs: [String: String] = [:]
        let good = try await TestHTTP.post("\(proxy.baseURL)/v1/chat/completions", raw: canaryChat)
        #expect(good.status == 200, "\(good.text)")
        let streamed = try await TestHTTP.post(
            "\(proxy.baseURL)/v1/chat/completions",
            raw: #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"max_tokens":8,"stream":true}"#)
        outputs["proxy stream"] = streamed.text
        let broken = try await TestHTTP.post(
            "\(proxy.baseURL)/v1/chat/completions",
            raw: #"{"model":"broken-model","messages":[{"role":"user","content":"Hi"}]}"#)
        #expect(broken.status >= 500, "\(broken.text)")
        outputs["proxy error"] = broken.text
        outputs["proxy bad request"] = try await TestHTTP.post("\(proxy.baseURL)/v1/chat/completions", raw: "{").text
        outputs["front door"] = try await TestHTTP.post("\(scheduler.baseURL)/v1/chat/completions", raw: canaryChat)
            .text
        outputs["front door error"] = try await TestHTTP.post(
            "\(scheduler.baseURL)/v1/chat/completions",
            raw: #"{"model":"broken-model","messages":[{"role":"user","content":"Hi"}]}"#
        ).text
        outputs["submit"] = try await TestHTTP.post(
            "\(scheduler.baseURL)/submit", raw: #"{"model":"broken-model","prompt":"Hi","max_tokens":8}"#
        ).text

        for service in [mock, proxy, scheduler] {
            outputs["\(service.baseURL) metrics text"] = try await TestHTTP.get(
                "\(service.baseURL)/metrics?format=prometheus"
            ).text
            outputs["\(service.baseURL) metrics json"] = try await TestHTTP.get(
                "\(service.baseURL)/metrics?format=json"
            ).text
            outputs["\(service.baseURL) health"] = try await TestHTTP.get("\(service.baseURL)/health").text
        }
        outputs["stats"] = try await TestHTTP.get(
            "\(proxy.baseURL)/_stats", headers: ["Authorization": "Bearer stats-secret"]
        ).text
        #expect(outputs["stats"]?.contains("broken-model") == true)
        outputs["events"] = try await TestHTTP.get("\(scheduler.baseURL)/events").text
        #expect(outputs["events"]?.contains("\"kind\"") == true)
        // The operator page and what it polls show decisions and accounts, never prompts, keys or the stats token.
        outputs["operator state"] = try await TestHTTP.get("\(scheduler.baseURL)/ui/state").text
        outputs["operator accounts"] = try await TestHTTP.get("\(scheduler.baseURL)/ui/accounts").text
        outputs["operator page"] = try await TestHTTP.get("\(scheduler.baseURL)/ui").text
        #expect(outputs["operator accounts"]?.contains("broken-model") == true)
        for name in ["operator state", "operator accounts", "operator page"] {
            #expect(outputs[name]?.contains(canary) == false, "the prompt appears in the \(name)")
            #expect(outputs[name]?.contains("stats-secret") == false, "the stats token appears in the \(name)")
        }
        outputs["mock log"] = mock.logs()
        outputs["proxy log"] = proxy.logs()
        outputs["scheduler log"] = scheduler.logs()
        #expect(outputs["proxy log"]?.isEmpty == false)
        for name in ["mock log", "proxy log", "scheduler log"] {
            #expect(outputs[name]?.contains(canary) == false, "the prompt appears in the \(name)")
        }
        for (name, text) in outputs {
            #expect(!text.contains(secret), "the upstream key appears in \(name)")
            #expect(!text.contains(String(secret.suffix(12))), "part of the upstream key appears in \(name)")
        }
    }
}
