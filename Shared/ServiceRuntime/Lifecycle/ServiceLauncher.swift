import Foundation
import Hummingbird
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals

/// What a service executable does before serving: read settings (printing `--help`), bootstrap logging and
/// metrics once, and report start-up errors as one clear line with exit code 2.
public enum ServiceLauncher {
    /// Resolves settings from the command line and environment, or exits: 0 after `--help`, `--version` or
    /// `--print-openapi` (the document the service serves, as committed under `deploy/openapi`), 2 on a bad setting.
    public static func resolveSettings(
        service: String, specs: [SettingSpec], openAPI: OpenAPIDocument,
        arguments: [String] = Array(CommandLine.arguments.dropFirst())
    ) -> ResolvedSettings {
        // A file-size limit (RLIMIT_FSIZE) must fail the write that crosses it, with an error the service answers
        // and logs, not kill the process: SIGXFSZ's default action is to terminate it.
        signal(SIGXFSZ, SIG_IGN)
        if arguments.contains("--help") || arguments.contains("-h") {
            print("maitre-\(service) \(ServiceIdentity.maitreVersion)\n")
            print(ResolvedSettings.helpText(service: "maitre-\(service)", specs: specs))
            print(
                "\nAlso: --version prints the version; --print-openapi prints the OpenAPI document this build serves.")
            exit(0)
        }
        if arguments.contains("--version") {
            print(ServiceIdentity.maitreVersion)
            exit(0)
        }
        if arguments.contains("--print-openapi") {
            print(openAPI.json, terminator: "")
            exit(0)
        }
        do {
            return try ResolvedSettings(
                specs: specs, arguments: arguments, environment: ProcessInfo.processInfo.environment)
        } catch {
            fail(service: service, error)
        }
    }

    /// Prints a start-up error and exits with status 2.
    public static func fail(service: String, _ error: any Error) -> Never {
        FileHandle.standardError.write(Data("maitre-\(service): \(error)\n".utf8))
        exit(2)
    }

    /// Bootstraps swift-log (to standard error) and swift-metrics (into `metrics`). Call once, from `main`.
    public static func bootstrap(logLevel: String, metrics: ServiceMetrics) -> Logger {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = DeferredMetadataLogHandler(StreamLogHandler.standardError(label: label))
            handler.logLevel = level
            return handler
        }
        MetricsSystem.bootstrap(metrics.factory)
        var logger = Logger(label: "maitre")
        logger.logLevel = level
        return logger
    }

    /// Makes NIO's event-loop threads Swift concurrency's global executor, so a request handler runs on the thread
    /// that read its request, and the resumes after each read and write stay there instead of waking a pool thread.
    /// Call at most once, from `main`, before the first task starts; true when it took effect. The cost: work a
    /// task does between awaits delays the I/O of other connections on its loop, so only services whose handlers
    /// never block (the proxy) use it.
    @discardableResult
    public static func runTasksOnEventLoops() -> Bool {
        let installed = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        tasksOnEventLoops.withLockedValue { $0 = installed }
        return installed
    }

    /// Whether `runTasksOnEventLoops()` took effect in this process.
    public static var tasksRunOnEventLoops: Bool { tasksOnEventLoops.withLockedValue { $0 } }
    private static let tasksOnEventLoops = NIOLockedValueBox(false)

    /// Serves `app` until SIGTERM or SIGINT, then shuts down gracefully: the server drains first, then its services.
    /// The drain is bounded: requests still running after `gracefulShutdownLimit` (a client waiting in a queue, a
    /// long stream) are cancelled, and a process whose tasks ignore cancellation for `cancellationLimit` more stops
    /// anyway, so every service exits within five seconds of SIGTERM.
    public static func run(_ app: some ApplicationProtocol) async throws {
        var configuration = ServiceGroupConfiguration(
            services: [.init(service: app)], gracefulShutdownSignals: [.sigterm, .sigint], logger: app.logger)
        configuration.maximumGracefulShutdownDuration = gracefulShutdownLimit
        configuration.maximumCancellationDuration = cancellationLimit
        try await ServiceGroup(configuration: configuration).run()
    }

    /// How long the server may drain after SIGTERM before what still runs is cancelled.
    public static let gracefulShutdownLimit = Duration.seconds(2)
    /// How long cancelled work may take before the process stops regardless.
    public static let cancellationLimit = Duration.milliseconds(1500)

    /// Creates the data directory, with a clear error when it cannot be.
    public static func prepareDataDirectory(_ path: String) throws -> URL {
        let url = URL(fileURLWithPath: path, isDirectory: true)
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw SettingError(key: "data-dir", message: "cannot create \(path): \(error.localizedDescription)")
        }
        guard FileManager.default.isWritableFile(atPath: url.path) else {
            throw SettingError(key: "data-dir", message: "\(path) is not writable")
        }
        return url
    }
}
