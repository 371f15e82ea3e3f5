import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

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

    /// Starts `binDirectory/product` on `port` (a free one when nil) with `HOST`, `PORT`, `DATA_DIR` and `LOG_LEVEL`
    /// set, then `environment`, and waits until `readyPath` answers 200. `wrapper` is a command that execs the
    /// service (`prlimit …`, `unshare … sh -c …`), so the service keeps the wrapper's pid.
    public static func start(
        _ product: String, binDirectory: URL, environment: [String: String] = [:], arguments: [String] = [],
        wrapper: [String] = [], dataDirectory: URL? = nil, port: Int? = nil, logLevel: String = "info",
        readyPath: String = "/health", timeout: Duration = .seconds(60)
    ) async throws -> LaunchedService {
        let executable = binDirectory.appendingPathComponent(product)
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw ChildProcessError("\(product) is not built in \(binDirectory.path); run `swift build` first")
        }
        let port = try port ?? FreePort.allocate()
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
                if response.status.code == 200 { return }
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

/// Free TCP ports on loopback, found by binding port 0 and reading back what the kernel chose.
public enum FreePort {
    public static func allocate() throws -> Int {
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
