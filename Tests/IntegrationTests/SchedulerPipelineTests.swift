import Contracts
import Foundation
import ProcessLauncher
import Testing

/// Scheduler → proxy → simulated upstream on loopback, with the real predictor (hashed embedder, so it starts in a
/// moment) or, where a test says so, none (sizes from the scheduler's local prior). The proxy reports outcomes to
/// the predictor when there is one.
@Suite(.serialized) struct SchedulerPipelineTests {
    struct Pipeline {
        var mock: LaunchedService
        var proxy: LaunchedService
        var scheduler: LaunchedService
        var predictor: LaunchedService?

        func stop() {
            _ = scheduler.stop()
            _ = proxy.stop()
            _ = predictor?.stop()
            _ = mock.stop()
        }
    }

    /// The upstream runs 50× faster than real time, so hundreds of requests finish in seconds.
    private func startPipeline(withPredictor: Bool = false, schedulerEnvironment: [String: String] = [:]) async throws
        -> Pipeline
    {
        let mock = try await LaunchedService.start("maitre-mock-llm", environment: ["MOCK_TIME_SCALE": "0.02"])
        let predictor =
            withPredictor
            ? try await LaunchedService.start("maitre-predictor", environment: ["EMBEDDER": "hashed"]) : nil
        let predictorURL = try predictor?.baseURL ?? "http://127.0.0.1:\(FreePort.allocate())"
        let proxy = try await LaunchedService.start(
            "maitre-proxy",
            environment: [
                "PROXY_DEFAULT_UPSTREAM": "\(mock.baseURL)/v1",
                "PREDICTOR_BASE_URL": predictor == nil ? "" : predictorURL,
            ])
        var environment = [
            "PROXY_URLS": proxy.baseURL,
            "PREDICTOR_BASE_URL": predictorURL,
            // Generous: the suite runs on two loaded cores and this test is about the pipeline, not speed.
            "PREDICTOR_TIMEOUT_MS": withPredictor ? "2000" : "250",
        ]
        environment.merge(schedulerEnvironment) { $1 }
        let scheduler = try await LaunchedService.start("maitre-scheduler", environment: environment)
        return Pipeline(mock: mock, proxy: proxy, scheduler: scheduler, predictor: predictor)
    }

    @Test func fiveHundredMixedRequestsAllEndCompletedOrRefusedWithAReason() async throws {
        let pipeline = try await startPipeline(withPredictor: true)
        defer { pipeline.stop() }
        let base = pipeline.scheduler.baseURL
        var ids: [String] = []
        var refusedAtTheDoor = 0
        var fallbackLevels: [FallbackLevel: Int] = [:]
        // Twenty-five clients at a time, so the scheduler's predictor client coalesces questions into batches.
        for group in stride(from: 0, to: 500, by: 25) {
            let answers = try await withThrowingTaskGroup(of: TestResponse.self) { tasks in
                for index in group..<group + 25 {
                    let heavy = index % 4 == 0
                    let submit = SubmitRequest(
                        prompt: "Request \(index): "
                            + String(repeating: heavy ? "explain in depth " : "hi ", count: heavy ? 40 : 2),
                        maxTokens: heavy ? 1500 : 120,
                        model: "gpt-4o-mini",
                        tenantId: "tenant-\(index % 5)",
                        requestClass: index % 10 == 0 ? .heavy : nil,
                        priority: index % 7,
                        // A few impossible deadlines: they must end with a reason, not vanish.
                        deadlineMs: index % 50 == 0 ? 1 : nil)
                    tasks.addTask { try await TestHTTP.post("\(base)/submit", body: submit) }
                }
                var answers: [TestResponse] = []
                for try await answer in tasks { answers.append(answer) }
                return answers
            }
            for response in answers {
                if response.status == 429 {
                    refusedAtTheDoor += 1
                    #expect(response.header("Retry-After") != nil)
                    continue
                }
                #expect(response.status == 202, "\(response.text)")
                let accepted = try response.decode(SubmitResponse.self)
                ids.append(accepted.requestId)
                fallbackLevels[accepted.prediction.fallbackLevel, default: 0] += 1
            }
        }
        // The sizes came from the predictor (no history yet: its priors), not from the scheduler's local fallback.
        #expect((fallbackLevels[.localPrior] ?? 0) <= 25, "fallback levels: \(fallbackLevels)")
        let final = try await SchedulerPolling.waitForTerminal(ids, base: base, seconds: 240)
        #expect(final.count == ids.count, "\(ids.count - final.count) requests never finished")
        let completed = final.values.filter { $0.state == .completed }
        // Every request ends with an answer or a reason (checked below); most are answered.
        #expect(completed.count > 350)
        for status in final.values where status.state != .completed {
            #expect(status.reason != nil, "\(status.requestId) ended \(status.state) without a reason")
        }
        for status in completed {
            #expect(status.result?.statusCode == 200)
            #expect((status.result?.usage?.completionTokens ?? 0) > 0)
            #expect(status.timings.dispatchedUnixMs != nil)
        }
        let metrics = try await TestHTTP.get("\(base)/metrics").decode(MetricsSnapshot.self)
        let state = try #require(metrics.state)
        #expect(state["completed_total"] != nil)
        _ = refusedAtTheDoor
    }

    @Test func killNineInTheMiddleLosesNoAcceptedRequest() async throws {
        var pipeline = try await startPipeline(schedulerEnvironment: ["MAX_INFLIGHT_REQUESTS": "8"])
        defer { pipeline.stop() }
        var ids: [String] = []
        for index in 0..<120 {
            let submit = SubmitRequest(
                prompt: "Crash test \(index)", maxTokens: 400, model: "gpt-4o-mini", tenantId: "t\(index % 3)")
            let response = try await TestHTTP.post("\(pipeline.scheduler.baseURL)/submit", body: submit)
            #expect(response.status == 202)
            ids.append(try response.decode(SubmitResponse.self).requestId)
        }
        pipeline.scheduler.kill9()
        pipeline.scheduler = try await pipeline.scheduler.restart()
        let final = try await SchedulerPolling.waitForTerminal(ids, base: pipeline.scheduler.baseURL, seconds: 240)
        #expect(final.count == ids.count, "\(ids.count - final.count) accepted requests never finished after kill -9")
        #expect(final.values.filter { $0.state == .completed }.count == ids.count)
    }

    @Test func theOpenAIPythonClientWorksThroughTheFrontDoorStreamingIncluded() async throws {
        guard Command.exists("python3") else { return }
        let pipeline = try await startPipeline()
        defer { pipeline.stop() }
        let script = Command.repositoryRoot.appendingPathComponent(
            "Tests/IntegrationTests/python/scheduler_openai_client.py"
        ).path
        let run = try Command.run("python3", [script, pipeline.scheduler.baseURL])
        #expect(run.status == 0, "\(run.output)")
        let line = run.output.split(separator: "\n").last.map(String.init) ?? ""
        let result = try JSONDecoder().decode(FrontDoorResult.self, from: Data(line.utf8))
        #expect(!(result.plainText ?? "").isEmpty)
        #expect((result.plainUsage?.completionTokens ?? 0) > 0)
        #expect(!result.streamedText.isEmpty)
        #expect(result.streamChunks > 2)
        #expect((result.streamUsage?.completionTokens ?? 0) > 0)
        #expect(result.badRequest?.status == 400)
        #expect(result.badRequest?.param == "X-Deadline-Ms")
        // The front-door requests were scheduled: they appear in the decisions log.
        let events = try await TestHTTP.get("\(pipeline.scheduler.baseURL)/events?since=0").decode(EventsResponse.self)
        #expect(events.events.filter { $0.kind == .dispatch && $0.tenantId == "python" }.count == 2)
    }

    struct FrontDoorResult: Decodable {
        struct BadRequest: Decodable {
            var status: Int
            var param: String?
        }

        var plainText: String?
        var plainUsage: Usage?
        var streamedText: String
        var streamChunks: Int
        var streamUsage: Usage?
        var badRequest: BadRequest?

        enum CodingKeys: String, CodingKey {
            case plainText = "plain_text"
            case plainUsage = "plain_usage"
            case streamedText = "streamed_text"
            case streamChunks = "stream_chunks"
            case streamUsage = "stream_usage"
            case badRequest = "bad_request"
        }
    }
}
