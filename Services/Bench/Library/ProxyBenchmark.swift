import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// `maitre-bench proxy`: the latency the proxy adds over calling the simulated upstream directly (same run,
/// same load generator), at several concurrencies, streaming and not; the highest request rate through one
/// proxy; and the proxy's memory over a sustained run. Starts both executables from the build folder.
struct ProxyBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "Latency added by maitre-proxy over the simulated upstream, its highest request rate and memory."
    )

    @Option(help: "Folder with maitre-proxy and maitre-mock-llm (default: next to this executable).")
    var binDir: String?

    @Option(parsing: .upToNextOption, help: "Concurrencies to measure.")
    var concurrency: [Int] = [1, 16, 64]

    @Option(help: "Requests per measured cell.")
    var requests: Int = 4000

    @Option(help: "Seconds of the highest-rate run.")
    var rateSeconds: Double = 10

    @Option(help: "Concurrency of the highest-rate run.")
    var rateConcurrency: Int = 64

    @Option(help: "Seconds of the sustained run that samples the proxy's memory (0 skips it).")
    var soakSeconds: Double = 30

    @Option(help: "max_tokens of every request (the simulated upstream answers instantly with this many tokens).")
    var maxTokens: Int = 16

    @OptionGroup var loadGenerator: LoadGeneratorOptions

    @Option(help: "Seconds per measured cell with --client wrk.")
    var cellSeconds: Double = 5

    func run() async throws {
        let folder = binDir ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
        let mockPort = try ProxyBenchPort.find()
        let proxyPort = try ProxyBenchPort.find()
        let mock = try ProxyBenchProcess.start(
            "\(folder)/maitre-mock-llm",
            arguments: ["--port", "\(mockPort)", "--latency-profile", "instant", "--log-level", "error"],
            health: "http://127.0.0.1:\(mockPort)/health"
        )
        defer { mock.stop() }
        let proxy = try ProxyBenchProcess.start(
            "\(folder)/maitre-proxy",
            arguments: [
                "--port", "\(proxyPort)", "--default-upstream", "http://127.0.0.1:\(mockPort)/v1", "--predictor-base-url", "",
                "--max-concurrency", "1024", "--initial-window", "1024", "--log-level", "error",
            ],
            health: "http://127.0.0.1:\(proxyPort)/health"
        )
        defer { proxy.stop() }
        try await mock.waitUntilHealthy()
        try await proxy.waitUntilHealthy()

        var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(5), read: .seconds(60)))
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 1024)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            try await measure(client: client, mockPort: mockPort, proxyPort: proxyPort, proxy: proxy)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    func measure(client: HTTPClient, mockPort: Int, proxyPort: Int, proxy: ProxyBenchProcess) async throws {
        let direct = "http://127.0.0.1:\(mockPort)/v1/chat/completions"
        let proxied = "http://127.0.0.1:\(proxyPort)/v1/chat/completions"
        let load = ProxyLoadGenerator(client: client, maxTokens: maxTokens)
        let wrk = loadGenerator.wrk()
        /// One closed-loop cell: a request count (swift client) or, with wrk, `cellSeconds` (or `seconds`).
        func cell(_ url: String, stream: Bool, concurrency: Int, seconds: Double? = nil) async throws -> ProxyLoadResult {
            guard let wrk else {
                return try await load.run(url: url, stream: stream, concurrency: concurrency, count: seconds == nil ? requests : nil, seconds: seconds)
            }
            let result = try wrk.post(
                url: url, body: String(buffer: load.body(stream: stream)), connections: concurrency, seconds: seconds ?? cellSeconds)
            return ProxyLoadResult(p50: result.p50Ms / 1000, p99: result.p99Ms / 1000, rate: result.rate, errors: result.failures)
        }

        let plan = wrk == nil ? "\(requests) requests per cell, swift client" : String(format: "%.0f s per cell, wrk -t1", cellSeconds)
        print("maitre-bench proxy: \(plan), max_tokens \(maxTokens), simulated upstream in instant mode")
        _ = try await cell(proxied, stream: false, concurrency: 16, seconds: 2)
        _ = try await cell(direct, stream: false, concurrency: 16, seconds: 2)
        print("")
        print("mode       conc  direct p50  direct p99   proxy p50   proxy p99   added p50   added p99  proxy req/s")
        for stream in [false, true] {
            for level in concurrency {
                // Interleave so both paths see the same machine state.
                let base = try await cell(direct, stream: stream, concurrency: level)
                let through = try await cell(proxied, stream: stream, concurrency: level)
                let row = [
                    (stream ? "stream" : "json").padding(toLength: 9, withPad: " ", startingAt: 0),
                    String(format: "%5d", level),
                    ms(base.p50), ms(base.p99), ms(through.p50), ms(through.p99),
                    ms(through.p50 - base.p50), ms(through.p99 - base.p99),
                    String(format: "%12.0f", through.rate),
                ]
                print(row.joined(separator: " "))
            }
        }
        let directRate = try await cell(direct, stream: false, concurrency: rateConcurrency, seconds: rateSeconds)
        let proxyRate = try await cell(proxied, stream: false, concurrency: rateConcurrency, seconds: rateSeconds)
        print("")
        print(String(format: "highest rate at concurrency %d for %.0f s: direct %.0f req/s, through the proxy %.0f req/s (%d errors)", rateConcurrency, rateSeconds, directRate.rate, proxyRate.rate, proxyRate.errors))
        if soakSeconds > 0 {
            let before = proxy.residentMegabytes()
            var samples: [Double] = []
            let deadline = Date().addingTimeInterval(soakSeconds)
            while Date() < deadline {
                _ = try await cell(proxied, stream: false, concurrency: 32, seconds: min(10, max(1, deadline.timeIntervalSinceNow)))
                samples.append(proxy.residentMegabytes())
            }
            let shown = samples.map { String(format: "%.1f", $0) }.joined(separator: " ")
            print(String(format: "proxy memory over %.0f s at concurrency 32: %.1f MB before, samples every ~10 s: %@ MB", soakSeconds, before, shown))
        }
    }

    func ms(_ seconds: Double) -> String { String(format: "%8.3f ms", seconds * 1000) }
}

/// Latency figures of one measured cell.
struct ProxyLoadResult {
    var p50: Double
    var p99: Double
    var rate: Double
    var errors: Int
}

/// A closed-loop load generator: `concurrency` workers, each sending the next request when the last ends.
struct ProxyLoadGenerator {
    let client: HTTPClient
    let maxTokens: Int

    func body(stream: Bool) -> ByteBuffer {
        let text = #"{"model":"gpt-4o-mini","max_tokens":\#(maxTokens),"stream":\#(stream),"messages":[{"role":"user","content":"Say something short about load balancers."}]}"#
        return ByteBuffer(string: text)
    }

    func run(url: String, stream: Bool, concurrency: Int, count: Int? = nil, seconds: Double? = nil) async throws -> ProxyLoadResult {
        let payload = body(stream: stream)
        let started = Date()
        let end = seconds.map { started.addingTimeInterval($0) }
        let counter = ProxyRequestCounter(limit: count ?? .max)
        let results = try await withThrowingTaskGroup(of: ([Double], Int).self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var latencies: [Double] = []
                    var errors = 0
                    while counter.take(), end.map({ Date() < $0 }) ?? true {
                        var request = HTTPClientRequest(url: url)
                        request.method = .POST
                        request.headers.add(name: "Content-Type", value: "application/json")
                        request.body = .bytes(payload)
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
        let sorted = results.0.sorted()
        func quantile(_ q: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))] }
        return ProxyLoadResult(p50: quantile(0.5), p99: quantile(0.99), rate: Double(sorted.count) / elapsed, errors: results.1)
    }
}

/// Hands out at most `limit` request slots across workers.
final class ProxyRequestCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var remaining: Int

    init(limit: Int) { remaining = limit }

    func take() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard remaining > 0 else { return false }
        remaining -= 1
        return true
    }
}

/// A service executable started for a benchmark, stopped with SIGTERM.
final class ProxyBenchProcess: @unchecked Sendable {
    let process: Process
    let healthURL: String

    init(process: Process, healthURL: String) {
        self.process = process
        self.healthURL = healthURL
    }

    static func start(_ path: String, arguments: [String], health: String) throws -> ProxyBenchProcess {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ValidationError("\(path) not found; build it first: swift build -c release")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return ProxyBenchProcess(process: process, healthURL: health)
    }

    func waitUntilHealthy() async throws {
        let client = HTTPClient.shared
        for _ in 0..<200 {
            if let response = try? await client.execute(HTTPClientRequest(url: healthURL), timeout: .seconds(1)), response.status == .ok {
                return
            }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        throw ValidationError("\(healthURL) did not become healthy")
    }

    /// Resident memory from /proc, in MB.
    func residentMegabytes() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let digits = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
            return digits / 1024
        }
        return 0
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}

/// A loopback port nothing listens on right now.
enum ProxyBenchPort {
    static func find() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw ValidationError("socket() failed") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) } }
        guard bound == 0 else { throw ValidationError("bind() failed") }
        let named = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) } }
        guard named == 0 else { throw ValidationError("getsockname() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
