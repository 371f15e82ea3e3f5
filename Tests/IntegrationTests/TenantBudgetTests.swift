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
    static func config(in folder: URL, upstream: String, tenants: [String] = ["team-a"]) throws -> String {
        let file = folder.appendingPathComponent("proxy-budgets.yaml")
        let yaml = """
            models:
              gpt-4o-mini:
                - api_base: \(upstream)/v1
            budgets:
            """ + tenants.map { "\n  \($0): {tokens: \(budget), per: day}" }.joined() + "\n"
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    /// A new folder for a test's files (request log, deployment file), apart from any database's folder.
    static func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("maitre-budget-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// Sends `count` calls of `tenant` over `bases`, `together` at a time; returns the answers.
    static func spend(_ count: Int, over bases: [String], tenant: String = "team-a", together: Int = 10)
        async throws -> [TestResponse]
    {
        var answers: [TestResponse] = []
        for group in stride(from: 0, to: count, by: together) {
            try await withThrowingTaskGroup(of: TestResponse.self) { tasks in
                for index in group..<min(count, group + together) {
                    let base = bases[index % bases.count]
                    tasks.addTask {
                        let body = ChatCompletionRequest(
                            model: "gpt-4o-mini",
                            messages: [ChatMessage(role: "user", content: "Budget check \(index) of the team")],
                            maxTokens: 60)
                        return try await TestHTTP.post(
                            "\(base)/v1/chat/completions", body: body, headers: ["X-Tenant-ID": tenant])
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

    @Test(.enabled(if: TemporaryPostgres.unavailableReason == nil, "\(TemporaryPostgres.unavailableReason ?? "")"))
    func aProxyThatLosesTheDatabaseSpendsItsShareOfWhatWasLeftAndSaysSo() async throws {
        let postgres = try await TemporaryPostgres.start()
        var stopped = false
        defer { if !stopped { postgres.stop() } }
        let databaseURL = try postgres.createDatabase()
        // The request log and the deployment file outlive the database's folder.
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let upstream = try await SharedLimitsTests.Upstream.start(in: folder, name: "budget-loss")
        defer { upstream.service.stop() }
        let config = try Self.config(in: folder, upstream: upstream.service.baseURL, tenants: ["team-a", "team-c"])
        let proxies = try await SharedLimitsTests.startProxies(2, config: config, databaseURL: databaseURL)
        defer { for proxy in proxies { proxy.stop() } }
        let base = proxies[0].baseURL
        let replicas = try await SharedLimitsTests.waitForReplicas(2, at: [base])
        #expect(replicas == ["2"])
        // Ten calls while the database answers: the proxy has seen team-a's budget.
        let before = try await Self.spend(10, over: [base])
        #expect(before.allSatisfy { $0.status == 200 })
        let spentBefore = upstream.arrivals().map(\.tokens).reduce(0, +)
        postgres.stop()
        stopped = true
        // 40 more calls of team-a (about 3,000 tokens): one proxy of two may spend half of what was left.
        let after = try await Self.spend(40, over: [base])
        let arrivals = upstream.arrivals()
        let spentAfter = arrivals.map(\.tokens).reduce(0, +) - spentBefore
        let largest = arrivals.map(\.tokens).max() ?? 0
        let share = (Self.budget - spentBefore) / 2
        #expect(spentAfter <= share + largest, "spent \(spentAfter) tokens alone; its share was \(share)")
        #expect(spentAfter >= share - 3 * largest, "only \(spentAfter) tokens of a share of \(share)")
        let refused = after.filter { $0.status == 429 }
        #expect(!refused.isEmpty && refused.allSatisfy { $0.text.contains("tenant_budget_exhausted") })
        #expect(after.filter { $0.status == 200 }.count + refused.count == after.count)
        // A tenant this proxy has not seen: nothing says what it has left.
        let unseen = try await Self.spend(1, over: [base], tenant: "team-c")
        #expect(unseen.first?.status == 503 && unseen.first?.text.contains("budget_unavailable") == true)
        let health = try await TestHTTP.get("\(base)/health").decode(HealthResponse.self)
        #expect(health.details["budgets"] == "local_share", "\(health.details)")
    }

    @Test(.enabled(if: TemporaryPostgres.unavailableReason == nil, "\(TemporaryPostgres.unavailableReason ?? "")"))
    func whatWasSpentWhileTheDatabaseHungCountsOnceItAnswersAgain() async throws {
        let postgres = try await TemporaryPostgres.start()
        defer {
            postgres.freeze(false)
            postgres.stop()
        }
        let databaseURL = try postgres.createDatabase()
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let upstream = try await SharedLimitsTests.Upstream.start(in: folder, name: "budget-hang")
        defer { upstream.service.stop() }
        let config = try Self.config(in: folder, upstream: upstream.service.baseURL)
        let proxies = try await SharedLimitsTests.startProxies(2, config: config, databaseURL: databaseURL)
        defer { for proxy in proxies { proxy.stop() } }
        let before = try await Self.spend(6, over: [proxies[0].baseURL])
        #expect(before.allSatisfy { $0.status == 200 })
        // The database stops answering: the first proxy spends from its share. (The reservation of the call that
        // finds it hung may still be applied when it resumes; it is voided then.) The calls come more than a second
        // apart, so each asks the database again; those probes write nothing.
        postgres.freeze(true)
        var during: [TestResponse] = []
        for _ in 0..<6 {
            during += try await Self.spend(1, over: [proxies[0].baseURL])
            try await Task.sleep(for: .milliseconds(1_200))
        }
        #expect(during.allSatisfy { $0.status == 200 }, "\(during.map(\.status))")
        let hung = try await TestHTTP.get("\(proxies[0].baseURL)/health").decode(HealthResponse.self)
        #expect(hung.details["budgets"] == "local_share", "\(hung.details)")
        postgres.freeze(false)
        // Once it answers, the other proxy sees everything spent: the budget runs out where it would have.
        try await Task.sleep(for: .seconds(3))
        let rest = try await Self.spend(60, over: [proxies[0].baseURL, proxies[1].baseURL])
        try Self.checkBudget(answers: before + during + rest, upstream: upstream)
        let back = try await TestHTTP.get("\(proxies[0].baseURL)/health").decode(HealthResponse.self)
        #expect(back.details["budgets"] == "shared", "\(back.details)")
        // Every call has ended: the database holds what was spent, and nothing stays reserved — not even the
        // reservation of the call that found it hung, whose answer never came (it is voided).
        let spent = upstream.arrivals().map(\.tokens).reduce(0, +)
        var period = ""
        let deadline = ContinuousClock.now + .seconds(15)
        repeat {
            period = try postgres.query(
                "SELECT used_tokens, reserved_tokens FROM tenant_budget WHERE tenant = 'team-a'", database: databaseURL)
            if period == "\(spent)|0" { break }
            try await Task.sleep(for: .milliseconds(200))
        } while ContinuousClock.now < deadline
        #expect(period == "\(spent)|0", "used|reserved in the database: \(period); spent upstream: \(spent)")
    }

    @Test func withoutADatabaseOneProxyCountsTheBudgetAlone() async throws {
        let folder = try Self.temporaryFolder()
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
        let folder = try Self.temporaryFolder()
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
