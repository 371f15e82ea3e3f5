import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
    import Glibc
#endif

/// A maitre executable the benchmark started on a free loopback port, with its output in a log file.
final class LaunchedService: @unchecked Sendable {
    let product: String
    let port: Int
    let logFile: URL
    private let process: Process

    var baseURL: String { "http://127.0.0.1:\(port)" }
    /// The process id, for reading `/proc/<pid>/` (resident memory, open descriptors).
    var processIdentifier: Int32 { process.processIdentifier }

    private init(product: String, port: Int, logFile: URL, process: Process) {
        self.product = product
        self.port = port
        self.logFile = logFile
        self.process = process
    }

    /// Starts `binDirectory/product` with `environment` on a free port and waits for `/health`.
    static func start(
        _ product: String, binDirectory: URL, dataDirectory: URL, environment: [String: String], arguments: [String] = [],
        client: HTTPClient, timeoutSeconds: Double = 120
    ) async throws -> LaunchedService {
        let executable = binDirectory.appendingPathComponent(product)
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw BenchmarkError("\(product) is not built in \(binDirectory.path) (swift build -c release)")
        }
        let port = try freeLoopbackPort()
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        let logFile = dataDirectory.appendingPathComponent("\(product).log")
        FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let handle = try FileHandle(forWritingTo: logFile)
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment
        merged["HOST"] = "127.0.0.1"
        merged["PORT"] = String(port)
        merged["DATA_DIR"] = dataDirectory.path
        merged["LOG_LEVEL"] = merged["MAITRE_BENCH_LOG_LEVEL"] ?? "warning"
        for (key, value) in environment { merged[key] = value }
        process.environment = merged
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let service = LaunchedService(product: product, port: port, logFile: logFile, process: process)
        try await service.waitForHealth(client: client, timeoutSeconds: timeoutSeconds)
        return service
    }

    private func waitForHealth(client: HTTPClient, timeoutSeconds: Double) async throws {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            guard process.isRunning else {
                throw BenchmarkError("\(product) exited at start-up (status \(process.terminationStatus)); log:\n\(logTail())")
            }
            var request = HTTPClientRequest(url: baseURL + "/health")
            request.method = .GET
            if let response = try? await client.execute(request, timeout: .seconds(2)), response.status.code == 200 {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        stop()
        throw BenchmarkError("\(product) did not answer /health within \(Int(timeoutSeconds)) s; log:\n\(logTail())")
    }

    /// SIGTERM, then SIGKILL after five seconds.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    func logTail(lines: Int = 30) -> String {
        let text = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}

/// A failure of the end-to-end benchmark, said in one sentence.
struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A free TCP port on loopback: bind port 0 and read back what the kernel chose.
func freeLoopbackPort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw BenchmarkError("socket() failed") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw BenchmarkError("bind() failed") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    guard named == 0 else { throw BenchmarkError("getsockname() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}
