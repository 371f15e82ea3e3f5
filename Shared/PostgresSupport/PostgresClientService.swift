import PostgresNIO
import ServiceLifecycle

/// Runs the PostgreSQL connection pool from start-up (migrations and recovery need it before the service group
/// starts) until the service group shuts down; listed first, it closes last.
public final class PostgresClientService: Service {
    public let client: PostgresClient
    private let running: Task<Void, Never>

    public init(client: PostgresClient) {
        self.client = client
        self.running = Task { await client.run() }
    }

    public func run() async throws {
        try? await gracefulShutdown()
        close()
        await running.value
    }

    /// Closes the pool (also when start-up fails before the service group runs).
    public func close() {
        running.cancel()
    }
}
