import Contracts
import Foundation
import ProcessLauncher
import Testing

/// Tenant budgets (`budgets:` in the deployment file) at the real proxy: shared by three proxies through a real
/// PostgreSQL, and counted by one proxy alone without `DATABASE_URL`; the simulated upstream logs the tokens of every
/// request it receives.
@Suite(.serialized)
struct TenantBudgetTests {
    static let budget = 3_000

    /// A deployment file with one unlimited account at `upstream` and a day's budget of `budget` tokens for `team-a`.
    static func config(in folder: URL, upstream: String) throws -> String {
        let file = folder.appendingPathComponent("proxy-budgets.yaml")
        let yaml = """
            models:
              gpt-4o-mini:
                - api_base: \(upstream)/v1
            budgets:
              team-a: {tokens: \(budget), per: day}
            """
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    /// Sends `count` calls of `team-a` over `bases`, ten at a time; returns the answers.
    static func spend(_ count: Int, over bases: [String]) async throws -> [TestResponse] {
        var answers: [TestResponse] = []
        for group in stride(from: 0, to: count, by: 10) {
            try await withThrowingTaskGroup(of: TestResponse.self) { tasks in
                for index in group..<min(count, group + 10) {
                    let base = bases[index % bases.count]
                    tasks.addTask {
                        let body = ChatCompletionRequest(
                            model: "gpt-4o-mini",
                            messages: [ChatMessage(role: "user", content: "Budget check \(index) of the team")],
                            maxTokens: 60)
                        return try await TestHTTP.post(
                            "\(base)/v1/chat/completions", body: body, headers: ["X-Tenant-ID": "team-a"])
                    }
                }
                for try await answer in tasks { answers.append(answer) }
            }
        }
        return answers
    }

    /// The budget is used (the calls that fit pass), never passed by more than one call's reservation, and what is
    /// refused is a 429 with the reason and the time to the day's end.
    static func checkBudget(answers: [TestResponse], upstream: SharedLimitsTests.Upstream) throws {
        let arrivals = upstream.arrivals()
        let spent = arrivals.map(\.tokens).reduce(0, +)
        let largest = arrivals.map(\.tokens).max() ?? 0
        #expect(spent <= budget + largest, "the tenant spent \(spent) tokens of \(budget)")
        #expect(spent >= budget - 3 * largest, "only \(spent) of \(budget) tokens were spent")
        let refused = answers.filter { $0.status == 429 }
        #expect(answers.filter { $0.status == 200 }.count == arrivals.count)
        #expect(!refused.isEmpty)
        for answer in refused {
            #expect(answer.text.contains("tenant_budget_exhausted"), "\(answer.text)")
            let retryAfter = answer.header("Retry-After").flatMap(Int.init) ?? 0
            #expect(retryAfter >= 1 && retryAfter <= 86_400)
        }
        #expect(refused.count + arrivals.count == answers.count)
    }

    @Test(.enabled(if: TemporaryPostgres.unavailableReason == nil, "\(TemporaryPostgres.unavailableReason ?? "")"))
    func aTenantBudgetHoldsAcrossThreeProxies() async throws {
        let postgres = try await TemporaryPostgres.start()
        defer { postgres.stop() }
        let databaseURL = try postgres.createDatabase()
        let upstream = try await SharedLimitsTests.Upstream.start(in: postgres.folder, name: "budget")
        defer { upstream.service.stop() }
        let config = try Self.config(in: postgres.folder, upstream: upstream.service.baseURL)
        let proxies = try await SharedLimitsTests.startProxies(3, config: config, databaseURL: databaseURL)
        defer { for proxy in proxies { proxy.stop() } }
        // Each call costs about 75 tokens: about 40 fit, 90 are sent (alone, each proxy would let 40 through).
        let answers = try await Self.spend(90, over: proxies.map(\.baseURL))
        try Self.checkBudget(answers: answers, upstream: upstream)
        // Another tenant has no budget and is not held back.
        let other = try await TestHTTP.post(
            "\(proxies[0].baseURL)/v1/chat/completions",
            body: ChatCompletionRequest(
                model: "gpt-4o-mini", messages: [ChatMessage(role: "user", content: "Other team")], maxTokens: 5),
            headers: ["X-Tenant-ID": "team-b"])
        #expect(other.status == 200)
    }

    @Test func withoutADatabaseOneProxyCountsTheBudgetAlone() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("maitre-budget-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let upstream = try await SharedLimitsTests.Upstream.start(in: folder, name: "local-budget")
        defer { upstream.service.stop() }
        let proxy = try await LaunchedService.start(
            "maitre-proxy",
            environment: [
                "PROXY_CONFIG": try Self.config(in: folder, upstream: upstream.service.baseURL),
                "PREDICTOR_BASE_URL": "",
            ])
        defer { proxy.stop() }
        let health = try await TestHTTP.get("\(proxy.baseURL)/health").decode(HealthResponse.self)
        #expect(health.details["limits"] == "local")
        let answers = try await Self.spend(70, over: [proxy.baseURL])
        try Self.checkBudget(answers: answers, upstream: upstream)
    }

    @Test func aBadBudgetStopsTheProxyAtStartUpNamingTheEntry() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("maitre-budget-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("bad.yaml")
        try """
        models:
          gpt-4o-mini:
            - api_base: http://127.0.0.1:9/v1
        budgets:
          team-a: {usd: 5, per: week}
        """.write(to: file, atomically: true, encoding: .utf8)
        let run = try ChildProcess.run(
            try BinaryLocator.url(for: "maitre-proxy").path,
            environment: ProcessInfo.processInfo.environment.merging(["PROXY_CONFIG": file.path]) { $1 },
            timeout: .seconds(30))
        #expect(run.status != 0)
        #expect(run.output.contains("budgets.team-a.per: must be day or month"), "\(run.output)")
    }
}
