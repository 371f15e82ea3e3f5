import Foundation
import Logging
import PostgresSupport
import ServiceRuntime

/// The PostgreSQL side of a scheduler replica: the shared database, the store and this replica's lease.
struct SharedStore: Sendable {
    let database: SharedDatabase
    let store: PostgresRequestStore
    let leases: ReplicaLeases

    var connections: PostgresClientService { database.connections }

    /// Connects, migrates and registers a new replica with a fresh id.
    static func open(_ url: DatabaseURL, leaseMs: Int, logger: Logger) async throws -> SharedStore {
        let replica = "scheduler-\(UUID().uuidString.lowercased())"
        // A replica frozen inside a transaction loses its session after one lease, which frees the rows it had
        // locked for the replica taking its work over.
        let database = try await SharedDatabase.open(
            url, migrations: PostgresRequestStore.migrations, logger: logger,
            idleInTransaction: .milliseconds(leaseMs)
        ) {
            try await ReplicaLeases(
                store: PostgresRequestStore(database: $0, replica: replica), leaseMs: Double(leaseMs)
            )
            .register()
        }
        let store = PostgresRequestStore(database: database, replica: replica)
        return SharedStore(
            database: database, store: store, leases: ReplicaLeases(store: store, leaseMs: Double(leaseMs)))
    }
}
