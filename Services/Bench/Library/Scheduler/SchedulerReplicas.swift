import Foundation
import ProcessLauncher

/// One run's scheduler processes: `count` replicas of `maitre-scheduler` sharing one PostgreSQL database, or a
/// single one on SQLite in its own data folder; each on a free loopback port with a fresh data folder.
struct SchedulerReplicas {
    let services: [LaunchedService]

    var baseURLs: [String] { services.map(\.baseURL) }
    var processIdentifiers: [Int32] { services.map(\.processIdentifier) }

    /// Starts the replicas one after another (each applies or finds the migrations, then registers its lease) and
    /// returns once every one answers `/health`. `databaseURL` nil: SQLite.
    static func start(
        count: Int, executable: URL, databaseURL: String?, environment: [String: String]
    ) async throws -> SchedulerReplicas {
        var services: [LaunchedService] = []
        do {
            for _ in 0..<count {
                var settings = environment
                // Set either way: a DATABASE_URL in the benchmark's own environment must not choose the store.
                settings["DATABASE_URL"] = databaseURL ?? ""
                services.append(
                    try await LaunchedService.start(
                        executable.lastPathComponent, binDirectory: executable.deletingLastPathComponent(),
                        environment: settings, logLevel: "error"))
            }
        } catch {
            SchedulerReplicas(services: services).stop()
            throw error
        }
        return SchedulerReplicas(services: services)
    }

    /// Stops every replica (SIGTERM, then SIGKILL after the grace period) and removes their data folders.
    func stop() {
        for service in services {
            service.stop(grace: .seconds(5))
            try? FileManager.default.removeItem(at: service.dataDirectory)
        }
    }
}
