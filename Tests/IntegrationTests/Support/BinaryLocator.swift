import Foundation
import ProcessLauncher

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

extension LaunchedService {
    /// Starts a built `product` for a test: from `BinaryLocator.directory`, logging at `MAITRE_TEST_LOG_LEVEL` (info).
    static func start(
        _ product: String, environment: [String: String] = [:], arguments: [String] = [], wrapper: [String] = [],
        dataDirectory: URL? = nil, port: Int? = nil, readyPath: String = "/health", timeout: Duration = .seconds(60)
    ) async throws -> LaunchedService {
        try await start(
            product, binDirectory: BinaryLocator.directory, environment: environment, arguments: arguments,
            wrapper: wrapper,
            dataDirectory: dataDirectory, port: port,
            logLevel: ProcessInfo.processInfo.environment["MAITRE_TEST_LOG_LEVEL"] ?? "info", readyPath: readyPath,
            timeout: timeout)
    }
}
