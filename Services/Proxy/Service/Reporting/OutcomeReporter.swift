import AsyncHTTPClient
import Contracts
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import Prometheus
import ServiceLifecycle

/// Sends outcome reports to the predictor's `/ingest/batch` in the background. `submit` never waits: reports
/// go into a bounded buffer. A batch the predictor did not answer goes back in the buffer and is sent again after a
/// pause; a batch it refused, and reports that find the buffer full, are dropped and counted, so a predictor outage
/// never slows client traffic.
public final class OutcomeReporter: Service, Sendable {
    struct Buffer {
        var reports: [OutcomeReport] = []
        var pausedUntil: Double = 0
    }

    private let buffer = NIOLockedValueBox(Buffer())
    let endpoint: String?
    let client: HTTPClient
    let capacity: Int
    let batchSize: Int
    let interval: Duration
    let metrics: ProxyMetrics
    let logger: Logger
    /// Pause after a failed delivery, in seconds, so a dead predictor is not hammered.
    static let failurePause = 5.0

    public init(
        predictorBaseURL: String?, client: HTTPClient, capacity: Int, batchSize: Int, intervalMs: Int,
        metrics: ProxyMetrics, logger: Logger
    ) {
        self.endpoint = predictorBaseURL.map { $0 + "/ingest/batch" }
        self.client = client
        self.capacity = capacity
        self.batchSize = batchSize
        self.interval = .milliseconds(intervalMs)
        self.metrics = metrics
        self.logger = logger
    }

    /// Whether reports are sent at all.
    public var isEnabled: Bool { endpoint != nil && capacity > 0 }

    /// Queues a report; drops it (counted) when the buffer is full.
    public func submit(_ report: OutcomeReport) {
        guard isEnabled else { return }
        let accepted = buffer.withLockedValue { buffer -> Bool in
            guard buffer.reports.count < capacity else { return false }
            buffer.reports.append(report)
            return true
        }
        if !accepted { metrics.reportsDropped.increment() }
    }

    /// Reports waiting to be sent.
    public var pending: Int { buffer.withLockedValue { $0.reports.count } }

    public func run() async throws {
        guard isEnabled else {
            try? await gracefulShutdown()
            return
        }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await Task.sleep(for: interval)
            await flush()
        }
        await flush()
    }

    /// Sends everything buffered, in batches; stops at the first failure and pauses.
    public func flush() async {
        guard let endpoint else { return }
        while true {
            let now = Date().timeIntervalSince1970
            let batch = buffer.withLockedValue { buffer -> [OutcomeReport] in
                guard buffer.pausedUntil <= now else { return [] }
                let count = min(batchSize, buffer.reports.count)
                let batch = Array(buffer.reports.prefix(count))
                buffer.reports.removeFirst(count)
                return batch
            }
            guard !batch.isEmpty else { return }
            switch await send(batch, to: endpoint) {
            case .sent:
                metrics.reportsSent.increment(by: Int64(batch.count))
            case .refused:
                metrics.reportsDropped.increment(by: Int64(batch.count))
                metrics.reportsFailed.increment()
                buffer.withLockedValue { $0.pausedUntil = now + Self.failurePause }
                return
            case .unreachable:
                // A predictor that did not answer (down, or too slow this once) gets the batch again after the pause,
                // ahead of newer reports, as far as the buffer has room; what does not fit is dropped and counted.
                metrics.reportsFailed.increment()
                let dropped = buffer.withLockedValue { buffer -> Int in
                    buffer.pausedUntil = now + Self.failurePause
                    let room = max(0, capacity - buffer.reports.count)
                    let kept = batch.prefix(room)
                    buffer.reports.insert(contentsOf: kept, at: 0)
                    return batch.count - kept.count
                }
                if dropped > 0 { metrics.reportsDropped.increment(by: Int64(dropped)) }
                return
            }
        }
    }

    /// How one delivery ended.
    enum Delivery {
        case sent
        /// The predictor answered with an error status: the batch is not sent again.
        case refused
        /// No answer (refused connection, timeout): the batch is kept for the next attempt.
        case unreachable
    }

    private func send(_ batch: [OutcomeReport], to endpoint: String) async -> Delivery {
        do {
            var request = HTTPClientRequest(url: endpoint)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(OutcomeBatch(records: batch))))
            let response = try await client.execute(request, timeout: .seconds(2))
            _ = try? await response.body.collect(upTo: 1 << 16)
            guard (200..<300).contains(Int(response.status.code)) else {
                logger.warning(
                    "predictor refused outcome reports",
                    metadata: ["status": "\(response.status.code)", "count": "\(batch.count)"])
                return .refused
            }
            return .sent
        } catch {
            logger.debug(
                "predictor unreachable; outcome reports kept for the next attempt",
                metadata: ["error": "\(error)", "count": "\(batch.count)"])
            return .unreachable
        }
    }
}
