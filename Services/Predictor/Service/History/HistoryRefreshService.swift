import Logging
import ServiceLifecycle

/// With a shared history (`DATABASE_URL`): reads what the other predictor replicas ingested into this one's
/// neighbour index every `HISTORY_REFRESH_MS`, so an ingest at any replica informs the predictions of all.
struct HistoryRefreshService: Service {
    let engine: PredictorEngine
    let intervalMs: Int
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await engine.refresh()
            } catch {
                logger.warning("history refresh failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .milliseconds(intervalMs))
        }
    }
}
