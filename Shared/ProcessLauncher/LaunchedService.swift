import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A maitre executable running on a loopback port with its output in a log file: started, polled until ready, and
/// stopped (SIGTERM with a bounded grace) or crashed (SIGKILL). Benchmarks and the integration tests both use it.
public final class LaunchedService: Sendable {
    public let product: String
    public let port: Int
    public let dataDirectory: URL
    public let logFile: URL
    public let process: ChildProcess
    private let executable: URL
    private let environment: [String: String]
    private let arguments: [String]
    private let logLevel: String

    public var baseURL: String { "http://127.0.0.1:\(port)" }
    public var processIdentifier: Int32 { process.pid }
    public var isRunning: Bool { process.isRunning }

    private init(
        product: String, port: Int, dataDirectory: URL, logFile: URL, process: ChildProcess, executable: URL,
        environment: [String: String], arguments: [String], logLevel: String
    ) {
        self.product = product
        self.port = port
        self.dataDirectory = dataDirectory
        self.logFile = logFile
        self.process = process
        self.executable = executable
        self.environment = environment
        self.arguments = arguments
        self.logLevel = logLevel
    }

    /// Starts `binDirectory/product` on `port` (a free one when nil) with this process's environment, `HOST`, `PORT`,
    /// `DATA_DIR` and `LOG_LEVEL` set and `DATABASE_URL` empty, then `environment`, and waits until `readyPath` answers
    /// 200 from this process. `wrapper` is a command that execs the service (`prlimit …`, `unshare … sh -c …`), so the
    /// service keeps the wrapper's pid.
    ///
    /// A free port is free only until someone binds it: another program can take it between `FreePort.allocate`
    /// and the service's bind. Then the service exits and another program answers on its port; that launch is
    /// retried on a new port (at most three times) rather than handing the caller somebody else's service.
    public static func start(
        _ product: String, binDirectory: URL, environment: [String: String] = [:], arguments: [String] = [],
        wrapper: [String] = [], dataDirectory: URL? = nil, port: Int? = nil, logLevel: String = "info",
        readyPath: String = "/health", timeout: Duration = .seconds(60)
    ) async throws -> LaunchedService {
        var attempt = 1
        while true {
            do {
                return try await launch(
                    product, binDirectory: binDirectory, environment: environment, arguments: arguments,
                    wrapper: wrapper, dataDirectory: dataDirectory, port: port ?? FreePort.allocate(),
                    logLevel: logLevel, readyPath: readyPath, timeout: timeout)
            } catch is PortTaken where port == nil && attempt < 3 {
                attempt += 1
            }
        }
    }

    private static func launch(
        _ product: String, binDirectory: URL, environment: [String: String], arguments: [String],
        wrapper: [String], dataDirectory: URL?, port: Int, logLevel: String, readyPath: String, timeout: Duration
    ) async throws -> LaunchedService {
        let executable = binDirectory.appendingPathComponent(product)
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw ChildProcessError("\(product) is not built in \(binDirectory.path); run `swift build` first")
        }
        let directory =
            dataDirectory
            ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("maitre-\(product)-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let logFile = directory.appendingPathComponent("\(product)-\(UUID().uuidString.prefix(6)).log")
        var merged = ProcessInfo.processInfo.environment
        merged["HOST"] = "127.0.0.1"
        merged["PORT"] = String(port)
        merged["DATA_DIR"] = directory.path
        merged["LOG_LEVEL"] = logLevel
        // A database only where the caller names one: a `DATABASE_URL` exported in the shell (say, a production
        // queue's) must not become a benchmark's or a test's store.
        merged["DATABASE_URL"] = ""
        merged.merge(environment) { $1 }
        let command = wrapper + [executable.path] + arguments
        let process = try ChildProcess.spawn(
            command[0], arguments: Array(command.dropFirst()), environment: merged, output: logFile.path)
        let service = LaunchedService(
            product: product, port: port, dataDirectory: directory, logFile: logFile, process: process,
            executable: executable, environment: environment, arguments: arguments, logLevel: logLevel)
        try await service.waitUntilReady(path: readyPath, timeout: timeout)
        return service
    }

    /// The same service again on the same port and data directory (after `kill9()` or `stop()`).
    public func restart(timeout: Duration = .seconds(60)) async throws -> LaunchedService {
        try await Self.start(
            product, binDirectory: executable.deletingLastPathComponent(), environment: environment,
            arguments: arguments,
            dataDirectory: dataDirectory, port: port, logLevel: logLevel, timeout: timeout)
    }

    private func waitUntilReady(path: String, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .GET
        while ContinuousClock.now < deadline {
            if let status = process.exitStatus {
                throw ChildProcessError("\(product) exited (\(status)) before it was ready; log:\n\(logs())")
            }
            if let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(2)) {
                _ = try? await response.body.collect(upTo: 1 << 20)
                if response.status.code == 200 {
                    switch ListeningSocket.owner(port: port, pid: process.pid) {
                    case .this, .unknown: return
                    case .another:
                        // Someone else answered: ours either still starts (and fails to bind) or has just failed.
                        if await process.waitAsync(timeout: .seconds(5)) != nil {
                            throw PortTaken(port: port)
                        }
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        stop()
        throw ChildProcessError("\(product) did not become ready within \(timeout); log:\n\(logs())")
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`; returns once it is reaped.
    @discardableResult
    public func stop(grace: Duration = .seconds(10)) -> ExitStatus {
        process.stop(grace: grace)
    }

    /// A crash: SIGKILL, no chance to flush anything.
    public func kill9() {
        process.kill()
    }

    /// Everything the service printed so far.
    public func logs() -> String {
        (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
    }

    /// The last `lines` lines of the log.
    public func logTail(lines: Int = 30) -> String {
        logs().split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}

/// Another program answered on the port a service was started on.
struct PortTaken: Error, CustomStringConvertible {
    let port: Int
    var description: String { "another program took port \(port) before the service could bind it" }
}

/// Which process holds the socket listening on a loopback port, read from `/proc/net/tcp` and `/proc/<pid>/fd`.
enum ListeningSocket {
    enum Owner { case this, another, unknown }

    /// `.this` when `pid` or one of its descendants holds the socket listening on 127.0.0.1:`port`, `.another` when
    /// a socket listens there that none of them holds, `.unknown` where `/proc` cannot tell.
    static func owner(port: Int, pid: pid_t) -> Owner {
        guard let table = ChildProcess.procText("/proc/net/tcp") else { return .unknown }
        let local = "0100007F:" + String(format: "%04X", port)
        var inodes: Set<String> = []
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            // sl, local_address, rem_address, st (0A: listening), tx:rx, tr:when, retrnsmt, uid, timeout, inode
            guard fields.count > 9, fields[1] == local, fields[3] == "0A" else { continue }
            inodes.insert(String(fields[9]))
        }
        if inodes.isEmpty { return .unknown }
        for process in [pid] + descendants(of: pid) {
            let directory = "/proc/\(process)/fd"
            guard let descriptors = try? FileManager.default.contentsOfDirectory(atPath: directory) else { continue }
            for descriptor in descriptors {
                guard
                    let target = try? FileManager.default.destinationOfSymbolicLink(
                        atPath: "\(directory)/\(descriptor)")
                else { continue }
                if target.hasPrefix("socket:["), inodes.contains(String(target.dropFirst(8).dropLast())) {
                    return .this
                }
            }
        }
        return .another
    }

    private static func descendants(of pid: pid_t) -> [pid_t] {
        var found: [pid_t] = []
        var frontier = [pid]
        while let next = frontier.popLast(), found.count < 64 {
            let children = ChildProcess.children(of: next)
            found += children
            frontier += children
        }
        return found
    }
}

/// Free TCP ports on loopback, found by binding port 0 and reading back what the kernel chose. A port is handed out
/// once per process, so two services started side by side never get the same one from here.
public enum FreePort {
    private static let handedOut = Mutex<Set<Int>>([])

    public static func allocate() throws -> Int {
        for _ in 0..<32 {
            let port = try bindEphemeral()
            let fresh = handedOut.withLock { $0.insert(port).inserted }
            if fresh { return port }
        }
        throw ChildProcessError("no fresh loopback port after 32 tries")
    }

    private static func bindEphemeral() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw ChildProcessError("socket() failed") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw ChildProcessError("bind() failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard named == 0 else { throw ChildProcessError("getsockname() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
