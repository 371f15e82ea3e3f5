import ArgumentParser
import Foundation
import ProcessLauncher

/// wrk as the load generator: a C client on one thread. On a 2-core machine the in-process AsyncHTTPClient generator
/// costs about as much CPU as the server it measures, so the figures that say how fast a service is come from wrk
/// when it is installed (`apt-get install wrk`).
struct WrkLoad {
    let executable: String

    /// wrk from `PATH`, or nil when it is not installed.
    static func find() -> WrkLoad? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let candidates = path.split(separator: ":").map { "\($0)/wrk" }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }.map(WrkLoad.init)
    }

    /// Closed-loop load: `connections` connections, each sending the next POST of `body` when the last answer ends,
    /// for `seconds`. Any error answer or socket error is counted in `failures`.
    func post(url: String, body: String, headers: [String: String] = [:], connections: Int, seconds: Double)
        async throws -> WrkResult
    {
        try await post(url: url, bodies: [body], headers: headers, connections: connections, seconds: seconds)
    }

    /// As above, each request's body drawn at random from `bodies` (the same seeded sequence in every run). Waits
    /// without holding a thread, so several wrk processes can run at once (one per scheduler replica).
    func post(url: String, bodies: [String], headers: [String: String] = [:], connections: Int, seconds: Double)
        async throws -> WrkResult
    {
        let name = "maitre-bench-\(UUID().uuidString)"
        let script = FileManager.default.temporaryDirectory.appendingPathComponent(name + ".lua")
        let printed = FileManager.default.temporaryDirectory.appendingPathComponent(name + ".out")
        try Self.script(bodies: bodies, headers: headers).write(to: script, atomically: true, encoding: .utf8)
        defer {
            try? FileManager.default.removeItem(at: script)
            try? FileManager.default.removeItem(at: printed)
        }
        let child = try ChildProcess.spawn(
            executable,
            arguments: [
                "-t1", "-c\(max(1, connections))", "-d\(max(1, Int(seconds.rounded())))s", "-s", script.path, url,
            ],
            output: printed.path)
        if await child.waitAsync(timeout: .seconds(seconds + 60)) == nil { child.stop() }
        let output = (try? String(contentsOf: printed, encoding: .utf8)) ?? ""
        func number(_ label: String) -> Double? {
            guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("maitre-\(label): ") }) else {
                return nil
            }
            return Double(line.dropFirst("maitre-\(label): ".count))
        }
        guard let rate = number("rate"), let requests = number("requests"), let failures = number("failures")
        else { throw ValidationError("Could not read wrk's summary:\n\(output)") }
        var latencies = LoadLatencyHistogram()
        for line in output.split(separator: "\n") where line.hasPrefix("maitre-us: ") {
            let fields = line.dropFirst("maitre-us: ".count).split(separator: " ")
            guard fields.count == 2, let micros = Int(fields[0]), let count = Int(fields[1]) else {
                throw ValidationError("Could not read wrk's latency line '\(line)'")
            }
            latencies.add(microseconds: micros, count: count)
        }
        return WrkResult(rate: rate, requests: Int(requests), failures: Int(failures), latencies: latencies)
    }

    /// The Lua script: one fixed request (or one drawn from `bodies` each time), and a machine-readable summary:
    /// rate, counts and wrk's whole latency histogram (one line per distinct microsecond value and its count), so
    /// cells can be merged.
    static func script(bodies: [String], headers: [String: String]) -> String {
        var lines = ["wrk.method = \"POST\"", "wrk.headers[\"Content-Type\"] = \"application/json\""]
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) {
            lines.append("wrk.headers[\(luaString(name))] = \(luaString(value))")
        }
        if bodies.count == 1 {
            lines.append("wrk.body = \(luaString(bodies[0]))")
        } else {
            lines.append("bodies = {" + bodies.map(luaString).joined(separator: ", ") + "}")
            lines.append("math.randomseed(42)")
            lines.append("request = function() return wrk.format(nil, nil, nil, bodies[math.random(#bodies)]) end")
        }
        lines.append(
            """
            done = function(summary, latency, requests)
                local e = summary.errors
                io.write(string.format("maitre-rate: %.1f\\n", summary.requests / (summary.duration / 1e6)))
                io.write(string.format("maitre-requests: %d\\n", summary.requests))
                io.write(string.format("maitre-failures: %d\\n", e.status + e.connect + e.read + e.write + e.timeout))
                for i = 1, #latency do
                    local micros, count = latency(i)
                    io.write(string.format("maitre-us: %d %d\\n", micros, count))
                end
            end
            """)
        return lines.joined(separator: "\n") + "\n"
    }

    /// A Lua long-bracket string literal holding `text` exactly.
    static func luaString(_ text: String) -> String {
        var level = 0
        while text.contains("]" + String(repeating: "=", count: level) + "]") { level += 1 }
        let equals = String(repeating: "=", count: level)
        // Lua drops a newline right after the opening bracket; a spare one keeps the text's own.
        return "[\(equals)[\(text.hasPrefix("\n") ? "\n" : "")\(text)]\(equals)]"
    }
}

/// `--client`: which load generator an HTTP benchmark uses (shared by `scheduler` and `proxy`).
struct LoadGeneratorOptions: ParsableArguments {
    @Option(
        name: .customLong("client"),
        help:
            "Load generator: wrk (one thread, lightest on a small machine; falls back to swift when wrk is not installed) or swift (AsyncHTTPClient in this process)."
    )
    var name = "wrk"

    func validate() throws {
        guard ["wrk", "swift"].contains(name) else { throw ValidationError("--client must be wrk or swift.") }
    }

    /// wrk when it was asked for and is installed (saying so when it falls back); nil: the in-process client.
    func wrk() -> WrkLoad? {
        guard name == "wrk" else { return nil }
        guard let wrk = WrkLoad.find() else {
            print("wrk is not installed; using the in-process swift client")
            return nil
        }
        return wrk
    }
}

/// What one wrk run measured.
struct WrkResult {
    var rate: Double
    var requests: Int
    var failures: Int
    var latencies: LoadLatencyHistogram

    var p50Ms: Double { latencies.quantile(0.5) * 1000 }
    var p99Ms: Double { latencies.quantile(0.99) * 1000 }
}

/// Request latencies at microsecond resolution (wrk's own), mergeable across cells.
struct LoadLatencyHistogram {
    private(set) var counts: [Int: Int] = [:]
    private(set) var total = 0

    mutating func add(microseconds: Int, count: Int = 1) {
        guard count > 0 else { return }
        counts[max(0, microseconds), default: 0] += count
        total += count
    }

    mutating func add(seconds: Double) {
        add(microseconds: Int((seconds * 1e6).rounded()))
    }

    mutating func merge(_ other: LoadLatencyHistogram) {
        for (micros, count) in other.counts { add(microseconds: micros, count: count) }
    }

    /// The smallest latency (seconds) with at least `q` of the requests at or below it; 0 when empty.
    func quantile(_ q: Double) -> Double {
        guard total > 0 else { return 0 }
        let rank = max(1, Int((q * Double(total)).rounded(.up)))
        var seen = 0
        for micros in counts.keys.sorted() {
            seen += counts[micros]!
            if seen >= rank { return Double(micros) / 1e6 }
        }
        return Double(counts.keys.max()!) / 1e6
    }
}
