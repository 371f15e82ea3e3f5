import Foundation
import Logging
import PostgresNIO
import PostgresSupport
import ServiceRuntime

/// A new, empty database for one benchmark run, created on the server `--database-url` points at and dropped after
/// the run: every run starts from empty tables, and the database the URL names is never written to. Needs a role
/// that may create databases (`scripts/bench/temporary-postgres` gives one).
struct ScratchDatabase {
    /// The scratch database's URL: the given one with its database name replaced.
    let url: String
    let name: String
    private let server: DatabaseURL

    /// Creates `maitre_bench_<random>` on the server of `url`.
    static func create(beside url: String) async throws -> ScratchDatabase {
        let server = try DatabaseURL(url)
        let name = "maitre_bench_\(UUID().uuidString.prefix(8).lowercased())"
        guard var components = URLComponents(string: url) else { throw BenchmarkError("\(server) is not a URL") }
        components.path = "/" + name
        guard let scratch = components.string else { throw BenchmarkError("cannot name a database beside \(server)") }
        try await run("CREATE DATABASE \(name)", on: server)
        return ScratchDatabase(url: scratch, name: name, server: server)
    }

    /// Runs `body` with the URL of a new database beside `url`, dropped afterwards whatever happens; `url` empty: no
    /// database (SQLite), `body` gets nil.
    static func using<Result>(beside url: String, _ body: (String?) async throws -> Result) async throws -> Result {
        guard !url.isEmpty else { return try await body(nil) }
        let scratch = try await create(beside: url)
        do {
            let result = try await body(scratch.url)
            await scratch.drop()
            return result
        } catch {
            await scratch.drop()
            throw error
        }
    }

    /// Drops the database, ending any session still connected to it.
    func drop() async {
        try? await Self.run("DROP DATABASE IF EXISTS \(name) WITH (FORCE)", on: server)
    }

    /// One statement on a short-lived connection pool to `server`.
    private static func run(_ sql: String, on server: DatabaseURL) async throws {
        var logger = Logger(label: "maitre-bench-database")
        logger.logLevel = .critical
        let client = PostgresClient(configuration: SharedDatabase.configuration(server), backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            do {
                try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
            } catch {
                throw BenchmarkError("\(server): \(sql) failed: \(String(reflecting: error))")
            }
        }
    }
}
