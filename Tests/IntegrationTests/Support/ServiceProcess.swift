import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Errors of the integration harness, with the service's log attached where there is one.
struct HarnessError: Error, CustomStringConvertible {
    var description: String
}

/// Finds the built executables: `MAITRE_BIN_DIR` (set by scripts/test), else the folder of the test bundle.
enum BinaryLocator {
    static var directory: URL {
        if let configured = ProcessInfo.processInfo.environment["MAITRE_BIN_DIR"], !configured.isEmpty {
            return URL(fileURLWithPath: configured, isDirectory: true)
        }
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        // .build/debug/maitrePackageTests.xctest (a file on Linux, a bundle on macOS): walk up to the folder holding it.
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("maitre-mock-llm").path) {
                return url
            }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".build/debug")
    }

    static func url(for product: String) throws -> URL {
        let url = directory.appendingPathComponent(product)
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw HarnessError(description: "\(product) is not built in \(directory.path); run `swift build` first")
        }
        return url
    }
}

/// Free TCP ports on loopback, found by binding port 0 and reading back what the kernel chose.
enum FreePort {
    static func allocate() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw HarnessError(description: "socket() failed") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw HarnessError(description: "bind() failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard named == 0 else { throw HarnessError(description: "getsockname() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// A real service executable running on a free loopback port, with its output in a log file.
/// Start it, talk HTTP to `baseURL`, stop it (SIGTERM) or crash it (SIGKILL).
final class ServiceProcess: @unchecked Sendable {
    let product: String
    let port: Int
    let dataDirectory: URL
    let logFile: URL
    private let process: Process
    private let environment: [String: String]
    private let arguments: [String]

    var baseURL: String { "http://127.0.0.1:\(port)" }

    private init(
        product: String, port: Int, dataDirectory: URL, logFile: URL, environment: [String: String], arguments: [String],
        wrapper: [String]
    ) throws {
        self.product = product
        self.port = port
        self.dataDirectory = dataDirectory
        self.logFile = logFile
        self.environment = environment
        self.arguments = arguments
        self.process = Process()
        process.setCommand(try BinaryLocator.url(for: product), arguments: arguments, wrapper: wrapper)
        var merged = ProcessInfo.processInfo.environment
        merged["HOST"] = "127.0.0.1"
        merged["PORT"] = String(port)
        merged["DATA_DIR"] = dataDirectory.path
        merged["LOG_LEVEL"] = merged["MAITRE_TEST_LOG_LEVEL"] ?? "info"
        for (key, value) in environment { merged[key] = value }
        process.environment = merged
        FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let handle = try FileHandle(forWritingTo: logFile)
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
    }

    /// Starts `product` (e.g. "maitre-predictor") and waits until `readyPath` answers 200.
    /// `dataDirectory` lets a restarted service find its previous state; `wrapper` is a command that execs it.
    static func start(
        _ product: String,
        environment: [String: String] = [:],
        arguments: [String] = [],
        wrapper: [String] = [],
        dataDirectory: URL? = nil,
        port: Int? = nil,
        readyPath: String = "/health",
        timeout: Duration = .seconds(60)
    ) async throws -> ServiceProcess {
        let port = try port ?? FreePort.allocate()
        let directory = dataDirectory ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("maitre-it-\(product)-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let logFile = directory.appendingPathComponent("\(product)-\(UUID().uuidString.prefix(6)).log")
        let service = try ServiceProcess(
            product: product, port: port, dataDirectory: directory, logFile: logFile, environment: environment, arguments: arguments,
            wrapper: wrapper
        )
        try service.process.run()
        try await service.waitUntilReady(path: readyPath, timeout: timeout)
        return service
    }

    /// The same service again on the same port and data directory (after `kill9()` or `stop()`).
    func restart(timeout: Duration = .seconds(60)) async throws -> ServiceProcess {
        try await ServiceProcess.start(
            product, environment: environment, arguments: arguments, dataDirectory: dataDirectory, port: port, timeout: timeout
        )
    }

    private func waitUntilReady(path: String, timeout: Duration) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if !process.isRunning {
                throw HarnessError(description: "\(product) exited with status \(process.terminationStatus) before it was ready:\n\(logs())")
            }
            if let response = try? await TestHTTP.get("\(baseURL)\(path)", timeout: .seconds(2)), response.status == 200 {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        stop()
        throw HarnessError(description: "\(product) did not become ready within \(timeout):\n\(logs())")
    }

    var isRunning: Bool { process.isRunning }
    var processIdentifier: Int32 { process.processIdentifier }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`. Returns the exit status.
    @discardableResult
    func stop(grace: TimeInterval = 10) -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        process.terminate()
        let deadline = Date().addingTimeInterval(grace)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// A crash: SIGKILL, no chance to flush anything.
    func kill9() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Everything the service printed so far.
    func logs() -> String {
        (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
    }
}

extension Process {
    /// Runs `executable` with `arguments`, through `wrapper` when one is given: a command that execs it, e.g.
    /// `["/usr/bin/prlimit", "--fsize=65536"]` or `unshare … sh -c …`, so the service keeps the wrapper's PID.
    func setCommand(_ executable: URL, arguments: [String], wrapper: [String]) {
        if let launcher = wrapper.first {
            executableURL = URL(fileURLWithPath: launcher)
            self.arguments = Array(wrapper.dropFirst()) + [executable.path] + arguments
        } else {
            executableURL = executable
            self.arguments = arguments
        }
    }
}
