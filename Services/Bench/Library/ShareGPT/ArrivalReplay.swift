import AsyncHTTPClient
import Contracts
import Foundation
import NIOCore
import NIOHTTP1
import PredictorCore

/// One measured request as the client saw it (times in model milliseconds from the start of the replay).
struct ReplayedRequest: Sendable, Codable {
    var index: Int
    var clientClass: ClientClass
    var promptTokens: Int
    var referenceOutputTokens: Int
    var maxTokens: Int
    var arrivalMs: Double
    var deadlineMs: Double
    var sentMs: Double?
    var finishedMs: Double?
    var status: Int?
    var outputTokens: Int?
    var error: String?

    var completed: Bool { status == 200 }
    var latencyMs: Double? { completed ? finishedMs.map { $0 - arrivalMs } : nil }
    var metDeadline: Bool { completed && (finishedMs ?? .infinity) <= deadlineMs }

    enum CodingKeys: String, CodingKey {
        case index, status, error
        case clientClass = "client_class"
        case promptTokens = "prompt_tokens"
        case referenceOutputTokens = "reference_output_tokens"
        case maxTokens = "max_tokens"
        case arrivalMs = "arrival_ms"
        case deadlineMs = "deadline_ms"
        case sentMs = "sent_ms"
        case finishedMs = "finished_ms"
        case outputTokens = "output_tokens"
    }
}

/// How a mode sends a request.
enum ReplayTarget: Sendable {
    /// `POST /v1/chat/completions` on the proxy, on arrival (naive).
    case proxy(baseURL: String)
    /// `POST /submit` on the scheduler with class and deadline, then `GET /status/{id}` until it ends; `oracle` adds the
    /// true output length (`X-Oracle-Output-Tokens`), which the scheduler uses instead of the predictor's answer.
    case scheduler(baseURL: String, oracle: Bool)
}

/// Replays the arrival sequence against one front door, in wall time scaled by `timeScale`, with a progress line.
struct ArrivalReplay: Sendable {
    var client: HTTPClient
    var model: String
    var timeScale: Double
    var requestTimeoutSeconds: Double
    /// Wall milliseconds between two `/status` polls.
    var pollMilliseconds = 250

    func run(_ workload: ShareGPTWorkload, target: ReplayTarget, label: String) async -> [ReplayedRequest] {
        let progress = ReplayProgress(total: workload.requests.count, label: label)
        let start = ContinuousClock.now
        let startUnixMs = Date().timeIntervalSince1970 * 1000
        let results = await withTaskGroup(of: ReplayedRequest.self, returning: [ReplayedRequest].self) { group in
            for (request, sample) in zip(workload.requests, workload.measured) {
                group.addTask {
                    try? await Task.sleep(
                        until: start + .microseconds(Int64(request.arrivalMs * 1000 * timeScale)), clock: .continuous)
                    await progress.sent()
                    let result = await send(
                        request, sample: sample, target: target, start: start, startUnixMs: startUnixMs)
                    await progress.finished(ok: result.completed)
                    return result
                }
            }
            group.addTask {
                while await !progress.isDone {
                    await progress.print(elapsed: (ContinuousClock.now - start).seconds)
                    try? await Task.sleep(for: .seconds(1))
                }
                return ReplayedRequest(
                    index: -1, clientClass: .interactive, promptTokens: 0, referenceOutputTokens: 0, maxTokens: 0,
                    arrivalMs: 0,
                    deadlineMs: 0)
            }
            var results: [ReplayedRequest] = []
            for await result in group where result.index >= 0 { results.append(result) }
            return results.sorted { $0.index < $1.index }
        }
        await progress.print(elapsed: (ContinuousClock.now - start).seconds, final: true)
        return results
    }

    private func send(
        _ request: WorkloadRequest, sample: ShareGPTSample, target: ReplayTarget, start: ContinuousClock.Instant,
        startUnixMs: Double
    ) async -> ReplayedRequest {
        var record = ReplayedRequest(
            index: request.index, clientClass: request.clientClass, promptTokens: request.promptTokens,
            referenceOutputTokens: sample.outputTokens, maxTokens: request.maxTokens, arrivalMs: request.arrivalMs,
            deadlineMs: request.deadlineMs)
        func modelNow() -> Double { (ContinuousClock.now - start).seconds * 1000 / timeScale }
        record.sentMs = modelNow()
        do {
            switch target {
            case .proxy(let baseURL):
                let body = ChatCompletionRequest(
                    model: model, messages: ShareGPTWorkload.messages(sample), maxTokens: request.maxTokens)
                let (status, bytes) = try await post(
                    baseURL + "/v1/chat/completions", body: body,
                    headers: [MaitreHeader.requestID: "bench-\(request.index)"])
                record.finishedMs = modelNow()
                record.status = status
                if status == 200 {
                    record.outputTokens = try JSONDecoder().decode(ChatCompletionResponse.self, from: bytes).usage?
                        .completionTokens
                } else {
                    record.error = String(decoding: bytes.prefix(300), as: UTF8.self)
                }
            case .scheduler(let baseURL, let oracle):
                let submit = SubmitRequest(
                    messages: ShareGPTWorkload.messages(sample), maxTokens: request.maxTokens, model: model,
                    requestClass: request.labelled
                        ? (request.clientClass == .interactive ? .interactive : .heavy) : nil,
                    deadlineMs: (request.deadlineMs - request.arrivalMs) * timeScale)
                var headers = [MaitreHeader.requestID: "bench-\(request.index)"]
                if oracle { headers["X-Oracle-Output-Tokens"] = String(min(sample.outputTokens, request.maxTokens)) }
                let (status, bytes) = try await post(baseURL + "/submit", body: submit, headers: headers)
                guard status == 202 else {
                    record.finishedMs = modelNow()
                    record.status = status
                    record.error = String(decoding: bytes.prefix(300), as: UTF8.self)
                    return record
                }
                let accepted = try JSONDecoder().decode(SubmitResponse.self, from: bytes)
                let final = try await waitForEnd(baseURL: baseURL, id: accepted.requestId, initial: accepted.state)
                record.finishedMs = final.timings.finishedUnixMs.map { ($0 - startUnixMs) / timeScale } ?? modelNow()
                if final.state == .completed {
                    record.status = final.result?.statusCode ?? 200
                    record.outputTokens = final.result?.usage?.completionTokens
                } else {
                    record.status = final.result?.statusCode ?? 0
                    record.error =
                        "\(final.state.rawValue): \(final.reason?.message ?? final.result?.error?.message ?? "")"
                }
            }
        } catch {
            record.finishedMs = modelNow()
            record.error = "\(error)"
        }
        return record
    }

    /// Polls `/status/{id}` until the request reaches a terminal state. The scheduler's own timestamps give the times,
    /// so the poll interval does not change the figures.
    private func waitForEnd(baseURL: String, id: String, initial: RequestState) async throws -> StatusResponse {
        while true {
            try await Task.sleep(for: .milliseconds(pollMilliseconds))
            let status = try await client.getJSON(StatusResponse.self, from: baseURL + "/status/" + id)
            if status.state.isTerminal { return status }
        }
    }

    private func post(_ url: String, body: some Encodable, headers: [String: String]) async throws -> (Int, Data) {
        var http = HTTPClientRequest(url: url)
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in headers { http.headers.add(name: name, value: value) }
        http.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))
        let response = try await client.execute(http, timeout: .seconds(Int64(requestTimeoutSeconds)))
        let bytes = Data(try await response.body.collect(upTo: 16 << 20).readableBytesView)
        return (Int(response.status.code), bytes)
    }
}

/// Counts for the progress line.
actor ReplayProgress {
    let total: Int
    let label: String
    private var sentCount = 0
    private var doneCount = 0
    private var failedCount = 0

    init(total: Int, label: String) {
        self.total = total
        self.label = label
    }

    var isDone: Bool { doneCount >= total }
    func sent() { sentCount += 1 }
    func finished(ok: Bool) {
        doneCount += 1
        if !ok { failedCount += 1 }
    }

    func print(elapsed: Double, final: Bool = false) {
        let line = String(
            format: "\r%@: sent %d/%d, done %d/%d, failed %d, %.0f s", label, sentCount, total, doneCount, total,
            failedCount, elapsed)
        FileHandle.standardError.write(Data((line + (final ? "\n" : "")).utf8))
    }
}
