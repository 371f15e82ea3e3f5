import Logging
import NIOSSL
import PostgresNIO
import ServiceRuntime
import Synchronization

/// A named, append-only migration: applied once per database, in the order given. Names carry their service's
/// prefix (`scheduler-…`, `predictor-…`), since services may share one database.
public struct NamedMigration: Sendable {
    public var name: String
    public var statements: [String]

    public init(_ name: String, _ statements: [String]) {
        self.name = name
        self.statements = statements
    }
}

/// A PostgreSQL database shared by the replicas of a service (`DATABASE_URL`): its connection pool, opened and
/// migrated at start-up.
public struct SharedDatabase: Sendable {
    public let connections: PostgresClientService
    public let logger: Logger

    public var client: PostgresClient { connections.client }

    /// Arbitrary, fixed: the advisory lock under which migrations run, so replicas starting together take turns.
    static let migrationLock: Int64 = 0x6d61_6974_7265

    /// Connects to `url` and applies the `migrations` not yet applied, then `prepare` (registration, say); a
    /// database that does not answer within `timeout` is a start-up error, not a hang. A session that stays inside a
    /// transaction without sending anything for `idleInTransaction` (its process frozen, say) is ended by the server,
    /// so the locks it held do not stall the other replicas.
    public static func open(
        _ url: DatabaseURL, migrations: [NamedMigration], logger: Logger, timeout: Duration = .seconds(30),
        idleInTransaction: Duration = .seconds(5),
        prepare: @escaping @Sendable (SharedDatabase) async throws -> Void = { _ in }
    ) async throws -> SharedDatabase {
        var settings = configuration(url)
        let idleMs =
            idleInTransaction.components.seconds * 1000 + idleInTransaction.components.attoseconds
            / 1_000_000_000_000_000
        settings.options.additionalStartupParameters = [("idle_in_transaction_session_timeout", String(max(1, idleMs)))]
        let connections = PostgresClientService(
            client: PostgresClient(configuration: settings, backgroundLogger: logger))
        let database = SharedDatabase(connections: connections, logger: logger)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await database.migrate(migrations)
                    try await prepare(database)
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw SharedDatabaseError(
                        "\(url) did not answer within \(timeout) (is the server up and reachable?)")
                }
                try await group.next()
                group.cancelAll()
            }
        } catch {
            connections.close()
            throw SharedDatabaseError(error)
        }
        return database
    }

    /// The connection settings for `url`.
    public static func configuration(_ url: DatabaseURL) -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS
        switch url.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(.makeClientConfiguration())
        case .require: tls = .require(.makeClientConfiguration())
        }
        return PostgresClient.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password, database: url.database, tls: tls
        )
    }

    func migrate(_ migrations: [NamedMigration]) async throws {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.migrationLock))", logger: logger)
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS schema_migration (
                    name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())
                """,
                logger: logger)
            var applied: Set<String> = []
            for try await name in try await connection.query("SELECT name FROM schema_migration", logger: logger)
                .decode(String.self)
            {
                applied.insert(name)
            }
            for migration in migrations where !applied.contains(migration.name) {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO schema_migration (name) VALUES (\(migration.name))", logger: logger)
            }
        }
    }

    /// The longest one database operation may take before it counts as failed.
    public static let operationTimeout = Duration.seconds(10)

    /// Runs `body`, turning PostgresNIO's errors into ones that say what the server said, and failing it when it has
    /// not finished within `timeout`: a session the server ended, or a pool closing under it, must fail the caller,
    /// not hold it (and every write queued behind it) forever.
    public static func describingErrors<Result: Sendable>(
        timeout: Duration = operationTimeout, _ body: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            let answer = AnswerOnce(continuation)
            let timer = Task {
                try await Task.sleep(for: timeout)
                answer.resume(.failure(SharedDatabaseError("PostgreSQL did not answer within \(timeout)")))
            }
            Task {
                do {
                    answer.resume(.success(try await body()))
                } catch {
                    answer.resume(.failure(SharedDatabaseError(error)))
                }
                timer.cancel()
            }
        }
    }

    /// The database's clock in Unix milliseconds, as SQL: replicas time leases by it, so their clocks need not agree.
    public static let nowMs = "(extract(epoch FROM clock_timestamp()) * 1000)::double precision"
}

/// A continuation resumed by whichever comes first, the answer or the timeout.
private final class AnswerOnce<Result: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<Result, any Error>?>

    init(_ continuation: CheckedContinuation<Result, any Error>) {
        self.continuation = Mutex(continuation)
    }

    func resume(_ result: Swift.Result<Result, any Error>) {
        continuation.withLock { $0.take() }?.resume(with: result)
    }
}

/// A PostgreSQL failure in one line: the server's message and SQLSTATE when it sent one, else the client's code.
/// (PostgresNIO keeps the server's message out of its errors' descriptions.)
public struct SharedDatabaseError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }

    public init(_ error: any Error) {
        if let known = error as? SharedDatabaseError {
            self = known
        } else if let transaction = error as? PostgresTransactionError {
            let inner =
                transaction.closureError ?? transaction.beginError ?? transaction.commitError
                ?? transaction.rollbackError
            description = inner.map { SharedDatabaseError($0).description } ?? "PostgreSQL transaction failed"
        } else if let psql = error as? PSQLError {
            if let message = psql.serverInfo?[.message] {
                description = "PostgreSQL error \(psql.serverInfo?[.sqlState] ?? "?"): \(message)"
            } else {
                description = "PostgreSQL connection error: \(psql.code)"
            }
        } else {
            description = String(describing: error)
        }
    }
}

extension PostgresBindings {
    /// Bindings of `values`, in order (`$1`, `$2`, …).
    public static func of(_ values: any PostgresThrowingDynamicTypeEncodable...) throws -> PostgresBindings {
        var binds = PostgresBindings(capacity: values.count)
        for value in values { try binds.append(value) }
        return binds
    }

    /// The placeholders `($first, …, $last)` of one row of a multi-row `VALUES`, for the parameters appended since
    /// `first`.
    public func row(from first: Int) -> String {
        "(" + (first...count).map { "$\($0)" }.joined(separator: ", ") + ")"
    }
}
