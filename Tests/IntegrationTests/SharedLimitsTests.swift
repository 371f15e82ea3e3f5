import Contracts
import Foundation
import ProcessLauncher
import Synchronization
import Testing

/// Account limits that hold across proxy replicas sharing one real PostgreSQL (initdb into a temporary folder): the
/// simulated upstream logs every request it receives with its arrival time and tokens, and the tests check what it
/// saw in every minute.
@Suite(
    .serialized,
    .enabled(if: TemporaryPostgres.unavailableReason == nil, "\(TemporaryPostgres.unavailableReason ?? "")"))
struct SharedLimitsTests {
    /// One simulated upstream answering at once, with its request log.
    struct Upstream {
        var service: LaunchedService
        var log: URL

        static func start(in folder: URL, name: String) async throws -> Upstream {
            let log = folder.appendingPathComponent("\(name)-requests.log")
            let service = try await LaunchedService.start(
                "maitre-mock-llm", environment: ["MOCK_LATENCY_PROFILE": "instant", "MOCK_REQUEST_LOG": log.path])
            return Upstream(service: service, log: log)
        }

        /// Every request received: arrival (Unix ms) and tokens (prompt + output).
        func arrivals() -> [(ms: Int64, tokens: Int)] {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap { line in
                let fields = line.split(separator: "\t")
                guard fields.count == 4, let ms = Int64(fields[1]), let prompt = Int(fields[2]),
                    let output = Int(fields[3])
                else { return nil }
                return (ms, prompt + output)
            }
        }
    }

    /// The most requests (or tokens) that arrived within any 60 s.
    static func busiestMinute(_ arrivals: [(ms: Int64, tokens: Int)]) -> (requests: Int, tokens: Int) {
        let sorted = arrivals.sorted { $0.ms < $1.ms }
        var start = 0
        var tokens = 0
        var most = (requests: 0, tokens: 0)
        for (end, arrival) in sorted.enumerated() {
            tokens += arrival.tokens
            while arrival.ms - sorted[start].ms >= 60_000 {
                tokens -= sorted[start].tokens
                start += 1
            }
            most = (max(most.requests, end - start + 1), max(most.tokens, tokens))
        }
        return most
    }

    /// A deployment file with one account of `model` at `upstream` with the given limits.
    static func config(in folder: URL, model: String, upstream: String, limits: String) throws -> String {
        let file = folder.appendingPathComponent("proxy-\(model).yaml")
        let yaml = """
            models:
              \(model):
                - name: shared-account
                  api_base: \(upstream)/v1
                  \(limits)
            """
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    static func startProxies(_ count: Int, config: String, databaseURL: String) async throws -> [LaunchedService] {
        var proxies: [LaunchedService] = []
        for _ in 0..<count {
            proxies.append(
                try await LaunchedService.start(
                    "maitre-proxy",
                    environment: ["PROXY_CONFIG": config, "DATABASE_URL": databaseURL, "PREDICTOR_BASE_URL": ""]))
        }
        return proxies
    }

    /// Waits (at most 10 s) until every proxy at `bases` counts `count` replicas alive (heartbeats once a second);
    /// returns the counts last seen, one per proxy.
    static func waitForReplicas(_ count: Int, at bases: [String]) async throws -> [String] {
        let deadline = ContinuousClock.now + .seconds(10)
        var counts: [String] = []
        repeat {
            try await Task.sleep(for: .milliseconds(200))
            counts = []
            for base in bases {
                let health = try await TestHTTP.get("\(base)/health").decode(HealthResponse.self)
                counts.append(health.details["limits_replicas"] ?? "")
            }
        } while counts != Array(repeating: String(count), count: bases.count) && ContinuousClock.now < deadline
        return counts
    }

    /// Offers `perSecond` chat requests a second for `seconds`, spread over `bases` in turn, each allowed to wait
    /// `waitMs` for room; returns how many were answered 200 and 429.
    static func offer(
        perSecond: Double, seconds: Double, to bases: [String], model: String, maxTokens: Int, waitMs: Int = 1_000
    ) async throws -> (ok: Int, limited: Int) {
        let total = Int(perSecond * seconds)
        let started = ContinuousClock.now
        return try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<total {
                try await Task.sleep(until: started + .milliseconds(Int64(Double(index) * 1000 / perSecond)))
                let base = bases[index % bases.count]
                group.addTask {
                    let body = ChatCompletionRequest(
                        model: model, messages: [ChatMessage(role: "user", content: "Limit check \(index)")],
                        maxTokens: maxTokens)
                    let answer = try await TestHTTP.post(
                        "\(base)/v1/chat/completions", body: body, headers: ["X-Deadline-Ms": String(waitMs)])
                    return answer.status
                }
            }
            var counts = (ok: 0, limited: 0)
            for try await status in group {
                if status == 200 { counts.ok += 1 } else if status == 429 { counts.limited += 1 }
            }
            return counts
        }
    }

    @Test func aSixHundredRPMAccountBehindThreeProxiesSeesAtMostItsLimitInAnyMinute() async throws {
        let postgres = try await TemporaryPostgres.start()
        defer { postgres.stop() }
        let databaseURL = try postgres.createDatabase()
        let upstream = try await Upstream.start(in: postgres.folder, name: "rpm")
        defer { upstream.service.stop() }
        let config = try Self.config(
            in: postgres.folder, model: "gpt-4o-mini", upstream: upstream.service.baseURL, limits: "rpm: 600")
        let proxies = try await Self.startProxies(3, config: config, databaseURL: databaseURL)
        defer { for proxy in proxies { proxy.stop() } }
        for proxy in proxies {
            let health = try await TestHTTP.get("\(proxy.baseURL)/health").decode(HealthResponse.self)
            #expect(health.details["limits"] == "shared")
        }
        // Three times the limit for 66 s: alone, each proxy would pass all of it.
        let counts = try await Self.offer(
            perSecond: 30, seconds: 66, to: proxies.map(\.baseURL), model: "gpt-4o-mini", maxTokens: 8)
        let arrivals = upstream.arrivals()
        let busiest = Self.busiestMinute(arrivals)
        #expect(busiest.requests <= 630, "the upstream saw \(busiest.requests) requests within one minute")
        // The limit is used, not starved: the first minute's 600 pass. (A call can reach the upstream and still miss its
        // deadline on a loaded machine, so answers and arrivals are not compared one to one.)
        #expect(arrivals.count >= 570, "only \(arrivals.count) requests reached the upstream")
        #expect(counts.ok >= 570 && counts.ok <= arrivals.count)
        #expect(counts.limited > 0)
    }

    @Test func aTPMLimitedAccountBehindThreeProxiesSeesAtMostItsTokensInAnyMinute() async throws {
        let postgres = try await TemporaryPostgres.start()
        defer { postgres.stop() }
        let databaseURL = try postgres.createDatabase()
        let upstream = try await Upstream.start(in: postgres.folder, name: "tpm")
        defer { upstream.service.stop() }
        let config = try Self.config(
            in: postgres.folder, model: "gpt-4o-mini", upstream: upstream.service.baseURL, limits: "tpm: 6000")
        let proxies = try await Self.startProxies(3, config: config, databaseURL: databaseURL)
        defer { for proxy in proxies { proxy.stop() } }
        // Each call reserves its prompt and max_tokens (40) and uses at most that: about 120 calls a minute fit,
        // 300 are offered.
        _ = try await Self.offer(
            perSecond: 5, seconds: 64, to: proxies.map(\.baseURL), model: "gpt-4o-mini", maxTokens: 40)
        let arrivals = upstream.arrivals()
        let busiest = Self.busiestMinute(arrivals)
        let largest = arrivals.map(\.tokens).max() ?? 0
        #expect(
            busiest.tokens <= 6000 + largest, "the upstream saw \(busiest.tokens) tokens within one minute")
        #expect(busiest.tokens >= 4000, "only \(busiest.tokens) tokens in the busiest minute: the limit starves")
    }

    @Test func anAccountsConcurrencyHoldsAcrossThreeProxies() async throws {
        let postgres = try await TemporaryPostgres.start()
        defer { postgres.stop() }
        let databaseURL = try postgres.createDatabase()
        // An upstream that takes about a second per answer, so that requests overlap.
        let upstream = try await LaunchedService.start("maitre-mock-llm", environment: ["LOG_LEVEL": "warning"])
        defer { upstream.stop() }
        let config = try Self.config(
            in: postgres.folder, model: "gpt-4o-mini", upstream: upstream.baseURL, limits: "max_concurrency: 6")
        let proxies = try await Self.startProxies(3, config: config, databaseURL: databaseURL)
        defer { for proxy in proxies { proxy.stop() } }
        // Every replica counts the three.
        let counts = try await Self.waitForReplicas(3, at: proxies.map(\.baseURL))
        #expect(counts == ["3", "3", "3"])
        // The upstream's own count of requests in flight, sampled while three proxies are offered four times more.
        let peak = Mutex(0)
        let sampling = Task {
            while !Task.isCancelled {
                if let health = try? await TestHTTP.get("\(upstream.baseURL)/health").decode(HealthResponse.self),
                    let inFlight = health.details["in_flight"].flatMap(Int.init)
                {
                    peak.withLock { $0 = max($0, inFlight) }
                }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        let answered = try await Self.offer(
            perSecond: 24, seconds: 5, to: proxies.map(\.baseURL), model: "gpt-4o-mini", maxTokens: 40, waitMs: 60_000)
        sampling.cancel()
        let most = peak.withLock { $0 }
        // Alone, each proxy's window would grow to the account's 6: up to 18 together.
        #expect(most <= 6, "the upstream had \(most) requests in flight")
        #expect(most >= 4, "at most \(most) in flight: the shares starve the account")
        #expect(answered.ok > 0)
    }

    @Test func aProxyThatLosesTheDatabaseEnforcesItsShareAndSaysSo() async throws {
        let postgres = try await TemporaryPostgres.start()
        var stopped = false
        defer { if !stopped { postgres.stop() } }
        let databaseURL = try postgres.createDatabase()
        let upstream = try await Upstream.start(in: postgres.folder, name: "loss")
        defer { upstream.service.stop() }
        let config = try Self.config(
            in: postgres.folder, model: "gpt-4o-mini", upstream: upstream.service.baseURL, limits: "rpm: 600")
        let proxies = try await Self.startProxies(2, config: config, databaseURL: databaseURL)
        defer { for proxy in proxies { proxy.stop() } }
        let base = proxies[0].baseURL
        // Both replicas have announced themselves.
        let replicas = try await Self.waitForReplicas(2, at: [base])
        #expect(replicas == ["2"])
        postgres.stop()
        stopped = true
        var health = HealthResponse(service: "", version: "", uptimeSeconds: 0)
        let degraded = ContinuousClock.now + .seconds(15)
        while health.details["limits"] != "local_share" && ContinuousClock.now < degraded {
            try await Task.sleep(for: .milliseconds(200))
            health = try await TestHTTP.get("\(base)/health").decode(HealthResponse.self)
        }
        #expect(health.details["limits"] == "local_share")
        #expect(health.details["limits_reason"]?.contains("divided by 2 replicas") == true, "\(health.details)")
        // Requests still flow, within half the limit: 320 offered at once, at most 300 pass.
        let counts = try await Self.offer(
            perSecond: 200, seconds: 1.6, to: [base], model: "gpt-4o-mini", maxTokens: 8, waitMs: 500)
        #expect(counts.ok >= 250 && counts.ok <= 300, "\(counts.ok) passed, \(counts.limited) refused")
        #expect(counts.limited > 0)
    }
}
