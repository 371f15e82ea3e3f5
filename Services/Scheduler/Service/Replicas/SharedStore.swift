import Foundation
import Logging
import PostgresNIO
import ServiceRuntime

/// The PostgreSQL side of a scheduler replica: the connection pool, the store and this replica's lease.
struct SharedStore: Sendable {
    let connections: PostgresClientService
    let store: PostgresRequestStore
    let leases: ReplicaLeases

    /// Connects, migrates and registers a new replica; a database that does not answer within `timeout` is a
    /// start-up error, not a hang.
    static func open(_ url: DatabaseURL, leaseMs: Int, logger: Logger, timeout: Duration = .seconds(30)) async throws
        -> SharedStore
    {
        let client = PostgresClient(configuration: PostgresRequestStore.configuration(url), backgroundLogger: logger)
        let connections = PostgresClientService(client: client)
        let store = PostgresRequestStore(
            client: client, replica: "scheduler-\(UUID().uuidString.lowercased())", logger: logger)
        let leases = ReplicaLeases(store: store, leaseMs: Double(leaseMs))
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await store.migrate()
                    try await leases.register()
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw PostgresStoreError(
                        DatabaseURLError("\(url) did not answer within \(timeout) (is the server up and reachable?)"))
                }
                try await group.next()
                group.cancelAll()
            }
        } catch {
            connections.close()
            throw error
        }
        return SharedStore(connections: connections, store: store, leases: leases)
    }
}
