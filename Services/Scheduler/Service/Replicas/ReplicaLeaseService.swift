import Logging
import ServiceLifecycle

/// Keeps this replica's lease alive and takes over the work of replicas whose lease ran out (`DATABASE_URL` only).
/// A replica that finds its own lease gone stops: another has taken its work, and everything it still holds in
/// memory is stale (its writes are refused by the store in any case).
struct ReplicaLeaseService: Service {
    let leases: ReplicaLeases
    let runtime: SchedulerRuntime
    let logger: Logger

    /// Renewals per lease period: a lease survives a few missed renewals (a slow database, a busy machine).
    static let renewalsPerLease = 5.0
    /// How long a clean stop waits for the replica's calls in flight to answer before ending its lease (the ones
    /// still out then end `replica_lost` at the replica that takes over); within the process's 2 s shutdown budget.
    static let inflightGrace = Duration.seconds(1)

    func run() async throws {
        let interval = Duration.milliseconds(Int64(leases.leaseMs / Self.renewalsPerLease))
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                guard try await leases.renew() else { throw ReplicaLeaseLost() }
                while let takeover = try await leases.takeOverOne() {
                    let adopted = try await runtime.adopt(takeover.waiting)
                    logger.notice(
                        "took over a stopped replica's work",
                        metadata: [
                            "replica": "\(takeover.replica)", "waiting": "\(adopted.restored)",
                            "ended_replica_lost": "\(takeover.lost)",
                        ])
                }
            } catch let error as ReplicaLeaseLost {
                throw error
            } catch {
                // The database is unreachable or slow: keep trying; past the lease, the others take the work over
                // and this replica's writes are refused, so nothing is done twice.
                logger.warning("replica lease renewal failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
        // A clean stop: dispatch nothing more, let the calls in flight answer for a moment (the lease still held),
        // then hand the waiting work to the others now rather than when the lease would have run out.
        await runtime.beginHandOff()
        let deadline = ContinuousClock.now + Self.inflightGrace
        while await runtime.inflightRequests > 0 && ContinuousClock.now < deadline && !Task.isCancelled {
            _ = try? await leases.renew()
            try? await Task.sleep(for: .milliseconds(50))
        }
        try? await runtime.flush()
        do {
            try await leases.expire()
        } catch {
            logger.warning("could not end the replica lease at shutdown", metadata: ["error": "\(error)"])
        }
    }
}

/// This replica's lease ran out and another replica took its work over; the process stops.
struct ReplicaLeaseLost: Error, CustomStringConvertible {
    var description: String {
        "this scheduler replica's lease ran out and another replica took its work over; stopping (restart it to rejoin)"
    }
}
