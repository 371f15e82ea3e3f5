import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import ProcessLauncher

/// `maitre-bench proxy`: the latency the proxy adds over calling the simulated upstream directly (same run,
/// same load generator), at several concurrencies, streaming and not, against two upstreams: an instant one
/// (every answer at once, so the machine is saturated and the added latency is the proxy's CPU cost) and a paced
/// one (a first token after `pacedTtftMs`, then `pacedTpotMs` per token: the latency a client sees). Each upstream
/// is reached over plain http and over https (the simulated upstream's https listener, with a certificate made for
/// the run and trusted through the proxy's `--ca-file`), one proxy per scheme, in the same run. Against the instant
/// upstream also the highest request rate through each proxy and its memory over a sustained run. Starts the
/// executables from the build folder, a fresh set per upstream.
struct ProxyBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "Latency added by maitre-proxy over the simulated upstream, its highest request rate and memory."
    )

    @Option(help: "Folder with maitre-proxy and maitre-mock-llm (default: next to this executable).")
    var binDir: String?

    @Option(parsing: .upToNextOption, help: "Concurrencies to measure.")
    var concurrency: [Int] = [1, 16, 64]

    @Option(help: "Seconds of the highest-rate run.")
    var rateSeconds: Double = 10

    @Option(help: "Concurrency of the highest-rate run.")
    var rateConcurrency: Int = 64

    @Option(help: "Seconds of the sustained run that samples the proxy's memory (0 skips it).")
    var soakSeconds: Double = 30

    @Option(help: "max_tokens of every request (the simulated upstream answers instantly with this many tokens).")
    var maxTokens: Int = 16

    @OptionGroup var loadGenerator: LoadGeneratorOptions

    @Option(help: "Seconds per measured cell (per path: direct and proxied each get this long).")
    var cellSeconds: Double = 5

    @Option(
        help:
            "Rounds each cell is split into: direct and proxied alternate (direct first in odd rounds, proxied first in even ones) in cells of cell-seconds/rounds, and each path's latencies are merged over its rounds, so a drift of the machine's speed during the run lands on both paths alike."
    )
    var rounds: Int = 1

    @Option(
        help:
            "What to measure, comma-separated: instant (the upstream answers at once: the proxy's cost on a saturated machine, highest rate, memory) and paced (an upstream with latency: what a client sees)."
    )
    var sections = "instant,paced"

    @Option(help: "Time to first token of the paced upstream, in ms.")
    var pacedTtftMs: Double = 20

    @Option(help: "Time per further output token of the paced upstream, in ms.")
    var pacedTpotMs: Double = 1

    @Option(
        help:
            "How the proxy reaches the upstream, comma-separated: http and/or https (one proxy each, measured side by side)."
    )
    var schemes = "http,https"

    @Option(
        help:
            "Per-minute limits of the proxies' account, as rpm,tpm (high enough never to bind, so the limit path runs on every call); empty: none."
    )
    var accountLimits = ""

    @Option(
        help:
            "PostgreSQL the proxies share their account limits through (DATABASE_URL); needs --account-limits. Empty: each proxy counts its limits alone."
    )
    var databaseURL = ""

    /// The `--schemes` named, http first.
    var chosenSchemes: [String] {
        let named = Set(schemes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        return ["http", "https"].filter(named.contains)
    }

    /// The `--sections` named.
    var chosenSections: Set<String> {
        Set(sections.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
    }

    func validate() throws {
        let chosen = chosenSections
        guard !chosen.isEmpty, chosen.isSubset(of: ["instant", "paced"]) else {
            throw ValidationError("--sections takes instant and/or paced, comma-separated.")
        }
        guard pacedTtftMs >= 0, pacedTpotMs >= 0, cellSeconds >= 1 else {
            throw ValidationError("--paced-ttft-ms and --paced-tpot-ms must be ≥ 0 and --cell-seconds ≥ 1.")
        }
        guard rounds >= 1, cellSeconds / Double(rounds) >= 1 else {
            throw ValidationError("--rounds must be ≥ 1 and leave at least 1 s per round (--cell-seconds / --rounds).")
        }
        guard !chosenSchemes.isEmpty, schemes.split(separator: ",").count == chosenSchemes.count else {
            throw ValidationError("--schemes takes http and/or https, comma-separated.")
        }
        guard accountLimits.isEmpty || limits != nil else {
            throw ValidationError("--account-limits takes rpm,tpm (positive integers), e.g. 1000000,1000000000.")
        }
        guard databaseURL.isEmpty || !accountLimits.isEmpty else {
            throw ValidationError("--database-url shares account limits: give --account-limits too.")
        }
    }

    /// `--account-limits` as numbers.
    var limits: (rpm: Int, tpm: Int)? {
        let parts = accountLimits.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, parts.allSatisfy({ $0 > 0 }) else { return nil }
        return (parts[0], parts[1])
    }

    /// The proxy's settings to reach `base`: the default upstream, or with `--account-limits` a deployment file
    /// (written to `folder`) whose one account serves every model name under those limits; with `--database-url`.
    func proxySettings(base: String, scheme: String, folder: URL) throws -> [String] {
        guard let limits else { return ["--default-upstream", base + "/v1"] }
        let file = folder.appendingPathComponent("maitre-bench-proxy-\(scheme)-\(UUID().uuidString.prefix(8)).yaml")
        let yaml = """
            models:
              "*":
                - {name: bench-\(scheme), api_base: \(base)/v1, model: "*", rpm: \(limits.rpm), tpm: \(limits.tpm)}
            """
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        return ["--proxy-config", file.path] + (databaseURL.isEmpty ? [] : ["--database-url", databaseURL])
    }

    func run() async throws {
        let folder =
            binDir
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
        let certificate = chosenSchemes.contains("https") ? try BenchCertificate.make() : nil
        var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(5), read: .seconds(60)))
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 1024)
        if let certificate {
            // The in-process load generator calls the https listener directly too: it trusts the run's certificate.
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.additionalTrustRoots = [.file(certificate.certificate)]
            configuration.tlsConfiguration = tls
        }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let wrk = loadGenerator.wrk()
            let plan = String(format: "%.0f s per cell, ", cellSeconds) + (wrk == nil ? "swift client" : "wrk -t1")
            let limited =
                limits.map {
                    "; account limits \($0.rpm) rpm, \($0.tpm) tpm, " + (databaseURL.isEmpty ? "local" : "shared")
                }
                ?? ""
            print(
                "maitre-bench proxy: \(plan); upstream reached over \(chosenSchemes.joined(separator: " and "))\(limited)"
            )
            if chosenSections.contains("instant") {
                try await withStack(folder: folder, certificate: certificate, mock: ["--latency-profile", "instant"]) {
                    routes in
                    try await measureInstant(client: client, wrk: wrk, routes: routes)
                }
            }
            if chosenSections.contains("paced") {
                let paced = [
                    "--latency-profile", "congested", "--ttft-base-ms", "\(pacedTtftMs)", "--prefill-us-per-token", "0",
                    "--tpot-ms", "\(pacedTpotMs)", "--congestion-knee", "1024", "--max-concurrency", "1024",
                ]
                try await withStack(folder: folder, certificate: certificate, mock: paced) { routes in
                    try await measurePaced(client: client, wrk: wrk, routes: routes)
                }
            }
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    /// One way to the upstream: its chat completions URL called directly and through the proxy that uses it.
    struct Route {
        var scheme: String
        var direct: String
        var proxied: String
        var proxy: LaunchedService
    }

    /// Starts the simulated upstream with `mock` settings (with its https listener when https is measured) and one proxy
    /// per scheme in front of it, runs `body` with the routes, stops them all.
    func withStack(
        folder: String, certificate: BenchCertificate?, mock arguments: [String], _ body: ([Route]) async throws -> Void
    ) async throws {
        let bin = URL(fileURLWithPath: folder)
        var mockArguments = arguments
        var tlsPort = 0
        if let certificate {
            tlsPort = try FreePort.allocate()
            mockArguments += [
                "--tls-port", "\(tlsPort)", "--tls-cert", certificate.certificate, "--tls-key", certificate.key,
            ]
        }
        let mock = try await LaunchedService.start(
            "maitre-mock-llm", binDirectory: bin, arguments: mockArguments, logLevel: "error")
        defer { mock.stop() }
        var proxies: [LaunchedService] = []
        defer { for proxy in proxies { proxy.stop() } }
        var routes: [Route] = []
        for scheme in chosenSchemes {
            let base = scheme == "https" ? "https://localhost:\(tlsPort)" : mock.baseURL
            var proxyArguments =
                try proxySettings(base: base, scheme: scheme, folder: FileManager.default.temporaryDirectory) + [
                    "--predictor-base-url", "", "--max-concurrency", "1024", "--initial-window", "1024",
                ]
            if scheme == "https", let certificate { proxyArguments += ["--ca-file", certificate.certificate] }
            let proxy = try await LaunchedService.start(
                "maitre-proxy", binDirectory: bin, arguments: proxyArguments, logLevel: "error")
            proxies.append(proxy)
            routes.append(
                Route(
                    scheme: scheme, direct: base + "/v1/chat/completions",
                    proxied: proxy.baseURL + "/v1/chat/completions", proxy: proxy))
        }
        try await body(routes)
    }

    /// One closed-loop cell of `cellSeconds` (or `seconds`).
    func cell(
        _ load: ProxyLoadGenerator, wrk: WrkLoad?, url: String, stream: Bool, concurrency: Int, seconds: Double? = nil
    ) async throws -> ProxyLoadResult {
        guard let wrk else {
            return try await load.run(
                url: url, stream: stream, concurrency: concurrency, seconds: seconds ?? cellSeconds)
        }
        let bodies = load.bodies(stream: stream).map { String(buffer: $0) }
        let result = try await wrk.post(
            url: url, bodies: bodies, connections: concurrency, seconds: seconds ?? cellSeconds)
        return ProxyLoadResult(latencies: result.latencies, rate: result.rate, errors: result.failures)
    }

    /// Direct and proxied cells interleaved (so both paths see the same machine state), one row per scheme, mode and
    /// concurrency; with `--rounds` each path's cell is `rounds` shorter cells alternating with the other path's,
    /// merged.
    func table(_ load: ProxyLoadGenerator, wrk: WrkLoad?, routes: [Route]) async throws {
        if rounds > 1 {
            print(
                String(
                    format: "each row: %d rounds of %.0f s per path, alternating, latencies merged per path", rounds,
                    cellSeconds / Double(rounds)))
        }
        print(
            "upstream mode       conc  direct p50  direct p99   proxy p50   proxy p99   added p50   added p99  proxy req/s  errors"
        )
        for stream in [false, true] {
            for level in concurrency {
                for route in routes {
                    var base = ProxyLoadResult()
                    var through = ProxyLoadResult()
                    let seconds = cellSeconds / Double(rounds)
                    for round in 0..<rounds {
                        for proxiedFirst in round % 2 == 0 ? [false, true] : [true, false] {
                            let part = try await cell(
                                load, wrk: wrk, url: proxiedFirst ? route.proxied : route.direct, stream: stream,
                                concurrency: level, seconds: seconds)
                            if proxiedFirst {
                                through.merge(part, seconds: seconds)
                            } else {
                                base.merge(part, seconds: seconds)
                            }
                        }
                    }
                    let row = [
                        route.scheme.padding(toLength: 8, withPad: " ", startingAt: 0),
                        (stream ? "stream" : "json").padding(toLength: 9, withPad: " ", startingAt: 0),
                        String(format: "%5d", level),
                        ms(base.p50), ms(base.p99), ms(through.p50), ms(through.p99),
                        ms(through.p50 - base.p50), ms(through.p99 - base.p99),
                        String(format: "%12.0f", through.rate), String(format: "%7d", base.errors + through.errors),
                    ]
                    print(row.joined(separator: " "))
                }
            }
        }
    }

    func measureInstant(client: HTTPClient, wrk: WrkLoad?, routes: [Route]) async throws {
        let load = ProxyLoadGenerator(client: client, maxTokens: [maxTokens])
        print("")
        print(
            "Instant upstream (every answer at once, max_tokens \(maxTokens)): the proxy's own cost with the machine saturated"
        )
        for route in routes {
            _ = try await cell(load, wrk: wrk, url: route.proxied, stream: false, concurrency: 16, seconds: 2)
            _ = try await cell(load, wrk: wrk, url: route.direct, stream: false, concurrency: 16, seconds: 2)
        }
        try await table(load, wrk: wrk, routes: routes)
        print("")
        for route in routes {
            let directRate = try await cell(
                load, wrk: wrk, url: route.direct, stream: false, concurrency: rateConcurrency, seconds: rateSeconds)
            let proxyRate = try await cell(
                load, wrk: wrk, url: route.proxied, stream: false, concurrency: rateConcurrency, seconds: rateSeconds)
            print(
                String(
                    format:
                        "highest rate over %@ at concurrency %d for %.0f s: direct %.0f req/s, through the proxy %.0f req/s (%d errors)",
                    route.scheme, rateConcurrency, rateSeconds, directRate.rate, proxyRate.rate, proxyRate.errors))
        }
        guard soakSeconds > 0 else { return }
        for route in routes {
            let proxy = route.proxy
            let before = WatchedProcess(name: "proxy", pid: proxy.processIdentifier).residentMegabytes()
            var samples: [Double] = []
            var served = 0.0
            var errors = 0
            let deadline = Date().addingTimeInterval(soakSeconds)
            while Date() < deadline {
                let seconds = min(10, max(1, deadline.timeIntervalSinceNow))
                let result = try await cell(
                    load, wrk: wrk, url: route.proxied, stream: false, concurrency: 32, seconds: seconds)
                served += result.rate * seconds
                errors += result.errors
                samples.append(WatchedProcess(name: "proxy", pid: proxy.processIdentifier).residentMegabytes())
            }
            let shown = samples.map { String(format: "%.1f", $0) }.joined(separator: " ")
            print(
                String(
                    format:
                        "proxy over %@, memory over %.0f s at concurrency 32 (%.0f requests, %d errors): %.1f MB before, samples every ~10 s: %@ MB",
                    route.scheme, soakSeconds, served, errors, before, shown))
        }
    }

    func measurePaced(client: HTTPClient, wrk: WrkLoad?, routes: [Route]) async throws {
        let load = ProxyLoadGenerator(client: client, maxTokens: Array(8...24))
        print("")
        print(
            String(
                format:
                    "Paced upstream (first token after %.0f ms, then %.0f ms per token; max_tokens drawn from 8...24): the latency a client sees",
                pacedTtftMs, pacedTpotMs))
        for route in routes {
            _ = try await cell(load, wrk: wrk, url: route.proxied, stream: false, concurrency: 16, seconds: 2)
        }
        try await table(load, wrk: wrk, routes: routes)
    }

    func ms(_ seconds: Double) -> String { String(format: "%8.3f ms", seconds * 1000) }
}

/// Latency figures of one measured cell, or of several merged.
struct ProxyLoadResult {
    var latencies = LoadLatencyHistogram()
    var rate = 0.0
    var errors = 0
    /// Seconds measured (for the rate of merged cells).
    var seconds = 0.0

    var p50: Double { latencies.quantile(0.5) }
    var p99: Double { latencies.quantile(0.99) }

    /// Adds a cell of `seconds`: latencies pooled, rate averaged over the time, errors summed.
    mutating func merge(_ other: ProxyLoadResult, seconds cellSeconds: Double) {
        let total = seconds + cellSeconds
        rate = total > 0 ? (rate * seconds + other.rate * cellSeconds) / total : 0
        seconds = total
        latencies.merge(other.latencies)
        errors += other.errors
    }
}

/// A closed-loop load generator: `concurrency` workers, each sending the next request when the last ends;
/// each request's max_tokens is drawn from `maxTokens`.
struct ProxyLoadGenerator {
    let client: HTTPClient
    let maxTokens: [Int]

    func bodies(stream: Bool) -> [ByteBuffer] {
        maxTokens.map { tokens in
            ByteBuffer(
                string:
                    #"{"model":"gpt-4o-mini","max_tokens":\#(tokens),"stream":\#(stream),"messages":[{"role":"user","content":"Say something short about load balancers."}]}"#
            )
        }
    }

    func run(url: String, stream: Bool, concurrency: Int, seconds: Double) async throws -> ProxyLoadResult {
        let payloads = bodies(stream: stream)
        let started = Date()
        let end = started.addingTimeInterval(seconds)
        let results = try await withThrowingTaskGroup(of: ([Double], Int).self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var latencies: [Double] = []
                    var errors = 0
                    while Date() < end {
                        var request = HTTPClientRequest(url: url)
                        request.method = .POST
                        request.headers.add(name: "Content-Type", value: "application/json")
                        request.body = .bytes(payloads.randomElement()!)
                        let sent = DispatchTime.now().uptimeNanoseconds
                        do {
                            let response = try await client.execute(request, timeout: .seconds(30))
                            for try await _ in response.body {}
                            if response.status != .ok { errors += 1 }
                        } catch {
                            errors += 1
                        }
                        latencies.append(Double(DispatchTime.now().uptimeNanoseconds - sent) / 1e9)
                    }
                    return (latencies, errors)
                }
            }
            var all: [Double] = []
            var errors = 0
            for try await (latencies, failed) in group {
                all += latencies
                errors += failed
            }
            return (all, errors)
        }
        let elapsed = Date().timeIntervalSince(started)
        var latencies = LoadLatencyHistogram()
        for latency in results.0 { latencies.add(seconds: latency) }
        return ProxyLoadResult(latencies: latencies, rate: Double(latencies.total) / elapsed, errors: results.1)
    }
}

/// A self-signed certificate for `localhost` made for one benchmark run (`openssl req -x509`), for the simulated
/// upstream's https listener; the proxy trusts it through `--ca-file`.
struct BenchCertificate {
    let certificate: String
    let key: String

    static func make() throws -> BenchCertificate {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "maitre-bench-tls-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let made = BenchCertificate(
            certificate: folder.appendingPathComponent("localhost.pem").path,
            key: folder.appendingPathComponent("localhost-key.pem").path)
        let result = try ChildProcess.run(
            "/usr/bin/env",
            arguments: [
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-days", "2",
                "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", "-keyout", made.key, "-out",
                made.certificate,
            ],
            timeout: .seconds(30))
        guard result.status == 0 else {
            throw ValidationError("openssl could not make the benchmark's certificate:\n\(result.output)")
        }
        return made
    }
}
