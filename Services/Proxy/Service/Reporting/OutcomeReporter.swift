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
/// go into a bounded buffer, and when the buffer is full or the predictor fails they are dropped and
/// counted, so a predictor outage never slows client traffic.
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
            if await send(batch, to: endpoint) {
                metrics.reportsSent.increment(by: Int64(batch.count))
            } else {
                metrics.reportsDropped.increment(by: Int64(batch.count))
                metrics.reportsFailed.increment()
                buffer.withLockedValue { $0.pausedUntil = now + Self.failurePause }
                return
            }
        }
    }

    private func send(_ batch: [OutcomeReport], to endpoint: String) async -> Bool {
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
                return false
            }
            return true
        } catch {
            logger.debug(
                "predictor unreachable; outcome reports dropped",
                metadata: ["error": "\(error)", "count": "\(batch.count)"])
            return false
        }
    }
}
