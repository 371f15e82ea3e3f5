import Contracts
import Foundation
import ProcessLauncher
import Testing

/// The operator page in a real browser: the whole stack on loopback (simulated upstream, predictor, proxy with a
/// stats token, scheduler), mixed traffic, then headless Chromium renders `/ui` and its figures must agree with the
/// JSON the scheduler serves. The upstream is then made to hang, so the queue holds still while the page is read.
@Suite(.serialized) struct OperatorPageTests {
    static let adminToken = "operator-admin-token-1"
    static let statsToken = "operator-stats-token-1"

    struct Stack {
        var mock: LaunchedService
        var predictor: LaunchedService
        var proxy: LaunchedService
        var scheduler: LaunchedService

        func stop() {
            scheduler.kill9()
            _ = proxy.stop()
            _ = predictor.stop()
            mock.kill9()
        }
    }

    private func startStack() async throws -> Stack {
        let mock = try await LaunchedService.start("maitre-mock-llm", environment: ["MOCK_TIME_SCALE": "0.02"])
        let predictor = try await LaunchedService.start("maitre-predictor", environment: ["EMBEDDER": "hashed"])
        let proxy = try await LaunchedService.start(
            "maitre-proxy",
            environment: [
                "PROXY_DEFAULT_UPSTREAM": "\(mock.baseURL)/v1", "PREDICTOR_BASE_URL": predictor.baseURL,
                "STATS_TOKEN": Self.statsToken,
            ])
        let scheduler = try await LaunchedService.start(
            "maitre-scheduler",
            environment: [
                "PROXY_URLS": proxy.baseURL, "PREDICTOR_BASE_URL": predictor.baseURL, "PREDICTOR_TIMEOUT_MS": "2000",
                "ADMIN_TOKEN": Self.adminToken, "PROXY_STATS_TOKEN": Self.statsToken, "MAX_INFLIGHT_REQUESTS": "4",
            ])
        return Stack(mock: mock, predictor: predictor, proxy: proxy, scheduler: scheduler)
    }

    private func submit(_ base: String, index: Int, tenant: String, deadlineMs: Double? = nil) async throws
        -> TestResponse
    {
        let heavy = index % 3 == 0
        let submit = SubmitRequest(
            prompt: "Operator page \(index): "
                + String(repeating: heavy ? "explain in depth " : "hi ", count: heavy ? 30 : 2),
            maxTokens: heavy ? 1200 : 200,
            model: "gpt-4o-mini",
            tenantId: tenant,
            requestClass: index % 5 == 0 ? .heavy : nil,
            deadlineMs: deadlineMs)
        return try await TestHTTP.post("\(base)/submit", body: submit)
    }

    private func state(_ base: String, tenant: String? = nil) async throws -> OperatorState {
        let query = tenant.map { "?tenant=\($0)" } ?? ""
        let response = try await TestHTTP.get("\(base)/ui/state\(query)")
        #expect(response.status == 200)
        return try response.decode(OperatorState.self)
    }

    @Test(.enabled(if: HeadlessChromium.installed != nil, "chromium is not installed (apt-get install chromium)"))
    func thePageRendersQueueDecisionAndAccountFiguresThatAgreeWithTheJSON() async throws {
        let chromium = try #require(HeadlessChromium.installed)
        var stack = try await startStack()
        defer { stack.stop() }
        let base = stack.scheduler.baseURL
        let tenants = ["tenant-a", "tenant-b", "tenant-c"]

        // Traffic that completes: predictions meet answers, latency is recorded.
        var ids: [String] = []
        for index in 0..<60 {
            let response = try await submit(base, index: index, tenant: tenants[index % 3])
            if response.status == 202 { ids.append(try response.decode(SubmitResponse.self).requestId) }
        }
        let finished = try await SchedulerPolling.waitForTerminal(ids, base: base, seconds: 240)
        #expect(finished.count == ids.count)

        // The upstream now hangs: four requests stay in flight, the rest wait, and a short queue refuses some.
        let port = stack.mock.port
        stack.mock.kill9()
        stack.mock = try await LaunchedService.start(
            "maitre-mock-llm", environment: ["MOCK_FAULT_HANG_RATE": "1", "MOCK_FAULT_HANG_SECONDS": "600"], port: port)
        let config = try await TestHTTP.post(
            "\(base)/admin/config", raw: #"{"max_queue_length": 24}"#,
            headers: ["Authorization": "Bearer \(Self.adminToken)", "Content-Type": "application/json"])
        #expect(config.status == 200, "\(config.text)")
        var refused = 0
        for index in 0..<40 {
            let response = try await submit(
                base, index: index, tenant: tenants[index % 4 == 0 ? 1 : index % 3], deadlineMs: 600_000)
            if response.status == 429 { refused += 1 }
        }
        #expect(refused > 0)

        // Read the page once nothing moves (requests in flight, a queue, the same newest decision before and after).
        var rendered: (dom: String, log: String, state: OperatorState)?
        for _ in 0..<5 where rendered == nil {
            let before = try await settledState(base)
            let (dom, log) = try await chromium.dumpDOM("\(base)/ui")
            let after = try await state(base)
            if after.decisions.first?.sequence == before.decisions.first?.sequence,
                after.queuedTotal == before.queuedTotal
            {
                rendered = (dom, log, after)
            }
        }
        let (dom, log, after) = try #require(rendered, "the scheduler's state kept changing while the page loaded")
        let page = RenderedPage(dom: dom)
        #expect(dom.contains(#"data-ready="true""#), "the page never rendered its data:\n\(log)")
        #expect(HeadlessChromium.consoleErrors(log) == [], "console errors:\n\(log)")

        // Capacity and queues.
        #expect(page.attribute("data-mode", of: "mode") == after.mode.rawValue)
        #expect(page.value("inflight") == String(after.inflightRequests))
        #expect(after.inflightRequests > 0)
        #expect(page.value("queued-total") == String(after.queuedTotal))
        #expect(after.queuedTotal > 0)
        #expect(page.value("tenants-waiting") == String(after.tenantsWaiting))
        let tenantRows = page.rows(with: "data-tenant").filter { $0["data-queued"] != nil }
        #expect(tenantRows.map { $0["data-tenant"] ?? "" } == after.waitingByTenant.map(\.name))
        #expect(tenantRows.map { $0["data-queued"] ?? "" } == after.waitingByTenant.map { String($0.queued) })
        let classRows = page.rows(with: "data-queued").filter { $0["data-class"] != nil }
        #expect(classRows.map { Int($0["data-queued"] ?? "") ?? -1 } == after.waitingByClass.map(\.queued))
        #expect(page.value("rejected-total") == String(after.rejectedByReason.values.reduce(0, +)))
        #expect((after.rejectedByReason["queue_full"] ?? 0) > 0)
        #expect(page.value("completed-total") == String(after.completedTotal))
        #expect(after.completedTotal > 0)

        // Decisions: the same events, newest first, as the JSON and as /events.
        let decisionRows = page.rows(with: "data-sequence")
        #expect(decisionRows.count == after.decisions.count)
        #expect(!decisionRows.isEmpty)
        #expect(decisionRows.map { $0["data-sequence"] ?? "" } == after.decisions.map { String($0.sequence) })
        #expect(decisionRows.map { $0["data-kind"] ?? "" } == after.decisions.map(\.kind.rawValue))
        #expect(page.value("decision-count") == String(after.decisions.count))
        let kinds = Set(decisionRows.compactMap { $0["data-kind"] })
        #expect(kinds.isSuperset(of: ["admit", "dispatch", "reject"]), "kinds shown: \(kinds)")
        if let oldest = after.decisions.last {
            let events = try await TestHTTP.get("\(base)/events?since=\(oldest.sequence - 1)&limit=10000").decode(
                EventsResponse.self)
            #expect(
                events.events.reversed().map(\.sequence).prefix(after.decisions.count).elementsEqual(
                    after.decisions.map(\.sequence)))
        }

        // Accounts, read through the scheduler with the stats token the page never sees.
        let accounts = try await TestHTTP.get("\(base)/ui/accounts").decode(OperatorAccounts.self)
        let accountRows = page.rows(with: "data-account")
        let served = accounts.proxies.flatMap(\.accounts)
        #expect(accounts.proxies.allSatisfy { $0.error == nil }, "\(accounts.proxies.compactMap(\.error))")
        #expect(!served.isEmpty)
        #expect(accountRows.map { $0["data-account"] ?? "" } == served.map(\.name))
        #expect(accountRows.map { $0["data-requests"] ?? "" } == served.map { String($0.requests) })
        #expect(accountRows.map { $0["data-in-flight"] ?? "" } == served.map { String($0.inFlight) })
        #expect(served.map(\.requests).reduce(0, +) > 0)
        #expect(page.value("accounts-requests") == String(served.map(\.requests).reduce(0, +)))
        #expect(!dom.contains(Self.statsToken) && !dom.contains(Self.adminToken))

        // Predictions and latency.
        #expect(page.value("prediction-samples") == String(after.prediction.samples.count))
        #expect(page.attribute("data-points", of: "scatter") == String(after.prediction.samples.count))
        #expect(!after.prediction.samples.isEmpty)
        #expect(page.value("p90-coverage") == after.prediction.p90Coverage.map { Self.javaScriptNumber($0) })
        let shownLevels: [Int] = page.rows(with: "data-level").map { Int($0["data-count"] ?? "") ?? 0 }
        let servedLevels: [Int] = Array(after.prediction.fallbackLevels.values)
        #expect(shownLevels.reduce(0, +) == servedLevels.reduce(0, +))
        #expect(shownLevels.reduce(0, +) > 0)
        let latencyPoints: Int = Int(page.attribute("data-points", of: "latency-chart") ?? "") ?? 0
        #expect(latencyPoints > 0)

        // The tenant filter: only that tenant's decisions, as the JSON filters them.
        let filtered = try await state(base, tenant: "tenant-b")
        let (filteredDOM, filteredLog) = try await chromium.dumpDOM("\(base)/ui?tenant=tenant-b")
        let filteredRows = RenderedPage(dom: filteredDOM).rows(with: "data-sequence")
        #expect(!filteredRows.isEmpty)
        #expect(filteredRows.allSatisfy { $0["data-tenant"] == "tenant-b" })
        #expect(filteredRows.map { $0["data-sequence"] ?? "" } == filtered.decisions.map { String($0.sequence) })
        #expect(HeadlessChromium.consoleErrors(filteredLog) == [])
    }

    @Test(.enabled(if: Command.exists("firefox-esr") && Command.exists("python3"), "firefox-esr is not installed"))
    func thePageRendersInFirefoxWithoutJavaScriptErrors() async throws {
        let stack = try await startStack()
        defer { stack.stop() }
        let base = stack.scheduler.baseURL
        var ids: [String] = []
        for index in 0..<20 {
            let response = try await submit(base, index: index, tenant: index % 2 == 0 ? "tenant-a" : "tenant-b")
            if response.status == 202 { ids.append(try response.decode(SubmitResponse.self).requestId) }
        }
        _ = try await SchedulerPolling.waitForTerminal(ids, base: base, seconds: 240)
        let script = Command.repositoryRoot.appendingPathComponent(
            "Tests/IntegrationTests/python/firefox_operator_page.py"
        ).path
        let run = try Command.run("python3", [script, "\(base)/ui"])
        #expect(run.status == 0, "\(run.output)")
        let line = run.output.split(separator: "\n").last.map(String.init) ?? ""
        let page = try JSONDecoder().decode(FirefoxPage.self, from: Data(line.utf8))
        #expect(page.ready == "true" && page.status == "ok", "\(run.output)")
        #expect(page.errors == [], "JavaScript errors in Firefox: \(page.errors)")
        #expect(page.decisions > 0)
        #expect(page.accounts > 0)
        let scatterPoints: Int = Int(page.scatterPoints ?? "") ?? 0
        #expect(scatterPoints > 0)
    }

    struct FirefoxPage: Decodable {
        var ready: String?
        var status: String?
        var decisions: Int
        var accounts: Int
        var scatterPoints: String?
        var errors: [String]

        enum CodingKeys: String, CodingKey {
            case ready, status, decisions, accounts, errors
            case scatterPoints = "scatter_points"
        }
    }

    /// The state once requests are in flight and waiting and the newest decision stayed the same for a second.
    private func settledState(_ base: String) async throws -> OperatorState {
        var previous: Int?
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            let current = try await state(base)
            let newest = current.decisions.first?.sequence
            if current.inflightRequests > 0, current.queuedTotal > 0, newest != nil, newest == previous {
                return current
            }
            previous = newest
            try await Task.sleep(for: .seconds(1))
        }
        throw HarnessError(description: "the scheduler did not settle with requests in flight and waiting")
    }

    /// JavaScript's `String(number)` for the fractions the page writes (shortest round-trip form, as Swift's).
    static func javaScriptNumber(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}
