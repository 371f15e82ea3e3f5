import ArgumentParser
import AsyncHTTPClient
import Contracts
import Foundation
import NIOCore
import NIOHTTP1
import PredictorCore

/// `maitre-bench predictor`: in-process retrieval time at 10k and 100k history rows, and `/predict` latency and
/// throughput of a running predictor at several concurrencies, with ShareGPT prompts.
public struct PredictorBenchmark: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "predictor", abstract: "Retrieval time and /predict latency/throughput of the predictor.")

    @Option(help: "Base URL of a running maitre-predictor; without it only retrieval is measured.")
    var url: String?

    @Option(help: "Requests per concurrency level.")
    var requests: Int = 400

    @Option(help: "Concurrency levels, comma-separated.")
    var concurrency: String = "1,8"

    @Option(help: "History sizes for the retrieval measurement, comma-separated.")
    var rows: String = "10000,100000"

    @Option(help: "Embedding dimension of the retrieval measurement.")
    var dimension: Int = 384

    @Option(help: "Neighbours retrieved per query.")
    var k: Int = 50

    @Option(help: "Model name sent with each prediction.")
    var model: String = "gpt-4o-mini"

    public init() {}

    public func run() async throws {
        for count in rows.split(separator: ",").compactMap({ Int($0) }) {
            measureRetrieval(rows: count)
        }
        guard let url else {
            print(
                "no --url given: /predict latency not measured (start maitre-predictor and pass --url http://127.0.0.1:8000)"
            )
            return
        }
        // Each concurrency gets prompts of its own: the predictor keeps the embeddings of recent texts.
        let levels = concurrency.split(separator: ",").compactMap { Int($0) }
        let count = max(requests, 1)
        let prompts = Self.prompts(count: count * max(levels.count, 1))
        let client = HTTPClient.shared
        for (index, level) in levels.enumerated() {
            let own = Array(prompts[(index * count) % prompts.count..<min(prompts.count, (index + 1) * count)])
            try await measurePredict(client: client, base: url, prompts: own, concurrency: max(1, level))
        }
    }

    func measureRetrieval(rows count: Int) {
        var random = SplitMix64(seed: 1)
        func vector() -> [Float] {
            let values = (0..<dimension).map { _ in Float(random.nextUnit() - 0.5) }
            let norm = values.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return values.map { $0 / norm }
        }
        var index = NeighborIndex(dimension: dimension, capacity: count)
        for _ in 0..<count { index.insert(vector()) }
        let queries = (0..<200).map { _ in vector() }
        _ = index.search(queries[0], k: k)
        var times: [Double] = []
        for query in queries {
            let start = ContinuousClock.now
            _ = index.search(query, k: k)
            times.append(Self.milliseconds(ContinuousClock.now - start))
        }
        let batchStart = ContinuousClock.now
        _ = index.search(batch: Array(queries.prefix(32)), k: k)
        let batchPerQuery = Self.milliseconds(ContinuousClock.now - batchStart) / 32
        print(
            String(
                format:
                    "retrieval rows=%d dim=%d k=%d: p50 %.3f ms, p99 %.3f ms per query (sgemv + top-k); batched sgemm %.3f ms per query",
                count, dimension, k, Quantiles.of(times, 0.5), Quantiles.of(times, 0.99), batchPerQuery))
    }

    func measurePredict(client: HTTPClient, base: String, prompts: [String], concurrency: Int) async throws {
        let encoder = JSONEncoder()
        let bodies = try prompts.map { try encoder.encode(PredictRequest(prompt: $0, model: model)) }
        let total = requests
        let start = ContinuousClock.now
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var times: [Double] = []
                    for index in stride(from: worker, to: total, by: concurrency) {
                        var request = HTTPClientRequest(url: base + "/predict")
                        request.method = .POST
                        request.headers.add(name: "content-type", value: "application/json")
                        request.body = .bytes(ByteBuffer(bytes: bodies[index % bodies.count]))
                        let sent = ContinuousClock.now
                        let response = try await client.execute(request, timeout: .seconds(60))
                        _ = try await response.body.collect(upTo: 1 << 20)
                        guard response.status == .ok else {
                            throw ValidationError("/predict answered \(response.status)")
                        }
                        times.append(Self.milliseconds(ContinuousClock.now - sent))
                    }
                    return times
                }
            }
            var all: [Double] = []
            for try await times in group { all += times }
            return all
        }
        let seconds = Self.milliseconds(ContinuousClock.now - start) / 1000
        print(
            String(
                format: "/predict concurrency=%d requests=%d: p50 %.2f ms, p99 %.2f ms, %.1f predictions/s",
                concurrency, latencies.count, Quantiles.of(latencies, 0.5), Quantiles.of(latencies, 0.99),
                Double(latencies.count) / seconds))
    }

    /// ShareGPT first prompts of the evaluation pool (vLLM filters, whitespace token estimate), or synthetic prompts when the file is absent.
    static func prompts(count: Int) -> [String] {
        if let path = ShareGPTCorpus.locate(),
            let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        {
            let exchanges = ShareGPTCorpus.exchanges(from: data)
            let sample = ShareGPTCorpus.sample(
                exchanges, count: count, seed: 3, records: ShareGPTRecords.evaluation
            ) { ($0.utf8.count + 3) / 4 }
            if !sample.isEmpty { return sample.map(\.prompt) }
        }
        return (0..<count).map { "Write a short note about topic number \($0) and explain why it matters." }
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) * 1e-15
    }
}
