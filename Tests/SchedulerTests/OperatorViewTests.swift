import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ServiceRuntime
import Testing

@testable import Scheduler
@testable import SchedulerCore

/// What the operator page reads: the engine's waiting groups and latest decisions, the prediction window, the
/// latency timeline and fallback counts, and the bounded routes that serve them.
@Suite struct OperatorViewTests {
    private func job(_ id: String, tenant: String, at now: Double, requestClass: RequestClass) -> Job {
        Job(id: id, tenantId: tenant, requestedClass: requestClass, submittedAtMs: now, predictedOutputTokensP50: 100)
    }

    @Test func waitingGroupsCountEachClassAndTheBusiestTenantsWithTheirOldestWait() {
        var engine = SchedulerEngine()
        _ = engine.submit(job("a1", tenant: "acme", at: 1_000, requestClass: .interactive), now: 1_000)
        _ = engine.submit(job("a2", tenant: "acme", at: 2_000, requestClass: .heavy), now: 2_000)
        _ = engine.submit(job("a3", tenant: "acme", at: 3_000, requestClass: .heavy), now: 3_000)
        _ = engine.submit(job("b1", tenant: "beta", at: 4_000, requestClass: .interactive), now: 4_000)
        _ = engine.submit(job("c1", tenant: "corp", at: 5_000, requestClass: .interactive), now: 5_000)
        let waiting = engine.waiting(now: 10_000, tenantLimit: 2)
        #expect(
            waiting.byClass == [
                WaitingGroup(name: "interactive", queued: 3, oldestWaitMs: 9_000),
                WaitingGroup(name: "heavy", queued: 2, oldestWaitMs: 8_000),
            ])
        // Most waiting first, ties by name; bounded by the limit, with the number of all waiting tenants beside.
        #expect(
            waiting.byTenant == [
                WaitingGroup(name: "acme", queued: 3, oldestWaitMs: 9_000),
                WaitingGroup(name: "beta", queued: 1, oldestWaitMs: 6_000),
            ])
        #expect(waiting.tenants == 3)
        // Dispatched requests no longer wait.
        let dispatched = engine.nextDispatches(now: 10_000)
        #expect(!dispatched.isEmpty)
        let after = engine.waiting(now: 10_000, tenantLimit: 20)
        #expect(after.byClass.map(\.queued).reduce(0, +) == 5 - dispatched.count)
    }

    @Test func latestEventsAreNewestFirstBoundedAndFilteredByTenant() {
        var engine = SchedulerEngine(eventCapacity: 5)
        for index in 0..<8 {
            _ = engine.submit(
                job("r\(index)", tenant: index % 2 == 0 ? "even" : "odd", at: 0, requestClass: .heavy), now: 0)
        }
        // The ring holds the last five admissions (sequences 4…8); the newest comes first.
        #expect(engine.latestEvents(limit: 3).map(\.sequence) == [8, 7, 6])
        #expect(engine.latestEvents(limit: 100).map(\.sequence) == [8, 7, 6, 5, 4])
        #expect(engine.latestEvents(limit: 100, tenant: "odd").map(\.requestId) == ["r7", "r5", "r3"])
        #expect(engine.latestEvents(limit: 1, tenant: "even").map(\.requestId) == ["r6"])
        #expect(engine.latestEvents(limit: 10, tenant: "nobody").isEmpty)
        #expect(SchedulerEngine(eventCapacity: 0).latestEvents(limit: 10).isEmpty)
    }

    @Test func predictionSamplesAreOldestFirstAndCoverageCountsAnswersAtOrBelowP90() {
        var trust = PredictionTrust(policy: SchedulerPolicy())
        #expect(trust.p90Coverage == nil)
        for index in 0..<(trust.window + 10) {
            // Every fourth answer runs past its p90.
            trust.observe(predictedTokens: 100, predictedP90Tokens: 200, outputTokens: index % 4 == 0 ? 300 : index + 1)
        }
        let samples = trust.samples
        #expect(samples.count == trust.window)
        #expect(samples.first?.outputTokens == 11)
        #expect(samples.last?.outputTokens == trust.window + 10)
        #expect(samples.allSatisfy { $0.predictedP50 == 100 && $0.predictedP90 == 200 })
        let within = samples.filter { $0.outputTokens <= 200 }.count
        #expect(trust.p90Coverage == Double(within) / Double(trust.window))
    }

    @Test func latencyTimelineGivesQuantilesPerClassAndBucketAndForgetsAfterFiveMinutes() {
        var timeline = LatencyTimeline()
        for ms in stride(from: 100.0, through: 10_000, by: 100) { timeline.record(.interactive, ms: ms, now: 1_000) }
        timeline.record(.heavy, ms: 50_000, now: 6_000)
        let points = timeline.points(now: 7_000)
        #expect(points.count == 2)
        let interactive = try? #require(points.first { $0.requestClass == .interactive })
        #expect(interactive?.count == 100)
        #expect(interactive?.startUnixMs == 0)
        // Within a bin (25%) of the exact 5,000 and 9,500 ms.
        #expect(abs((interactive?.p50Ms ?? 0) / 5_000 - 1) < 0.25)
        #expect(abs((interactive?.p95Ms ?? 0) / 9_500 - 1) < 0.25)
        #expect(points.first { $0.requestClass == .heavy }?.startUnixMs == 5_000)
        #expect(timeline.points(now: 305_000).map(\.requestClass) == [.heavy])
        #expect(timeline.points(now: 311_000).isEmpty)
    }

    @Test func fallbackLevelWindowCountsOnlyTheLastSubmissions() {
        var window = FallbackLevelWindow(capacity: 3)
        window.record(.localPrior)
        window.record(.trainedPrior)
        window.record(.trainedPrior)
        #expect(window.counts == ["local_prior": 1, "trained_prior": 2])
        window.record(.tenantNeighbors)
        #expect(window.counts == ["trained_prior": 2, "tenant_neighbors": 1])
    }

    private func makeApp() async throws -> some ApplicationProtocol {
        let configuration = try SchedulerConfiguration.defaults([
            "database-file": ":memory:", "predictor-base-url": "http://127.0.0.1:9", "predictor-timeout-ms": "100",
            "proxy-urls": "http://127.0.0.1:9", "tick-ms": "5",
        ])
        return try await buildApplication(
            configuration: configuration, metrics: ServiceMetrics(), logger: Logger(label: "operator-test"),
            execute: { dispatch, _, _ in (200, dispatch.predictedOutputTokens, 5) })
    }

    @Test func thePageIsServedWithItsAssetsAndAPolicyThatKeepsItToItself() async throws {
        try await makeApp().test(.router) { client in
            for path in ["/", "/ui"] {
                let page = try await client.execute(uri: path, method: .get)
                #expect(page.status == .ok)
                #expect(page.headers[.contentType] == "text/html; charset=utf-8")
                #expect(page.headers[.contentSecurityPolicy]?.contains("default-src 'self'") == true)
                #expect(String(buffer: page.body).contains(#"<script src="ui/page.js" defer></script>"#))
            }
            let script = try await client.execute(uri: "/ui/page.js", method: .get)
            #expect(script.headers[.contentType] == "text/javascript; charset=utf-8")
            #expect(String(buffer: script.body).contains("ui/state"))
            let style = try await client.execute(uri: "/ui/page.css", method: .get)
            #expect(style.headers[.contentType] == "text/css; charset=utf-8")
        }
    }

    @Test func stateIsBoundedAndFiltersDecisionsByTenant() async throws {
        try await makeApp().test(.router) { client in
            for index in 0..<150 {
                let submit = SubmitRequest(
                    prompt: "Hello \(index)", maxTokens: 64, model: "gpt-4o-mini", tenantId: "tenant-\(index % 30)")
                let response = try await client.execute(
                    uri: "/submit", method: .post, body: ByteBuffer(bytes: try JSONEncoder().encode(submit)))
                #expect(response.status == .accepted)
            }
            let full = try await client.execute(uri: "/ui/state", method: .get)
            #expect(full.status == .ok)
            #expect(full.headers[.cacheControl] == "no-store")
            let state = try JSONDecoder().decode(OperatorState.self, from: Data(full.body.readableBytesView))
            #expect(state.decisions.count == OperatorPageController.defaultDecisions)
            #expect(state.waitingByTenant.count <= OperatorPageController.tenantLimit)
            #expect(zip(state.decisions, state.decisions.dropFirst()).allSatisfy { $0.sequence > $1.sequence })
            let filtered = try await client.execute(uri: "/ui/state?tenant=tenant-7&decisions=3", method: .get)
            let only = try JSONDecoder().decode(OperatorState.self, from: Data(filtered.body.readableBytesView))
            #expect(only.decisions.count == 3)
            #expect(only.decisions.allSatisfy { $0.tenantId == "tenant-7" })
            for bad in ["decisions=0", "decisions=1001", "decisions=x"] {
                let refused = try await client.execute(uri: "/ui/state?\(bad)", method: .get)
                #expect(refused.status == .badRequest, "\(bad)")
            }
            let accounts = try await client.execute(uri: "/ui/accounts", method: .get)
            let read = try JSONDecoder().decode(OperatorAccounts.self, from: Data(accounts.body.readableBytesView))
            // No proxy listens there: the page is told why, not left empty.
            #expect(read.proxies.count == 1)
            #expect(read.proxies.first?.error != nil)
        }
    }
}
