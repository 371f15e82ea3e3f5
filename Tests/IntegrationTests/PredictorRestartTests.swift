import Contracts
import Foundation
import ProcessLauncher
import Testing

@Suite struct PredictorRestartTests {
    static let environment = ["EMBEDDER": "hashed", "RETRAIN_EVERY": "60", "MIN_TRAINING_ROWS": "50"]

    static func record(_ i: Int) -> OutcomeReport {
        let topics = [
            "Write a detailed essay about", "Translate into French:", "What is the capital of", "List ten ideas for",
        ]
        let lengths = [700, 60, 12, 250]
        return OutcomeReport(
            prompt: "\(topics[i % 4]) subject number \(i)", outputTokens: lengths[i % 4] + i % 13, model: "gpt-4o-mini",
            tenantId: i % 3 == 0 ? "acme" : nil, success: true, finishReason: "stop")
    }

    static func waitForModel(_ base: String, version: String) async throws -> ModelProfilesResponse {
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            let profiles = try await TestHTTP.get("\(base)/models").decode(ModelProfilesResponse.self)
            if profiles.modelVersion == version || ContinuousClock.now > deadline { return profiles }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    static func predictions(_ base: String) async throws -> [PredictResponse] {
        let requests = [
            PredictRequest(
                prompt: "Write a detailed essay about subject number 3", model: "gpt-4o-mini", tenantId: "acme"),
            PredictRequest(prompt: "What is the capital of subject number 99", maxTokens: 50, model: "gpt-4o-mini"),
            PredictRequest(prompt: "Something never seen before", model: "unknown-model"),
        ]
        let response = try await TestHTTP.post("\(base)/predict/batch", body: PredictBatchRequest(requests: requests))
        #expect(response.status == 200)
        return try response.decode(PredictBatchResponse.self).predictions
    }

    @Test func killNineLosesNothingAcknowledgedAndPredictsTheSame() async throws {
        let service = try await LaunchedService.start("maitre-predictor", environment: Self.environment)
        let batch = try await TestHTTP.post(
            "\(service.baseURL)/ingest/batch", body: OutcomeBatch(records: (0..<60).map(Self.record)))
        #expect(batch.status == 201)
        for i in 60..<120 {
            let single = try await TestHTTP.post("\(service.baseURL)/ingest", body: Self.record(i))
            #expect(single.status == 201)
        }
        let before = try await Self.waitForModel(service.baseURL, version: "h120-s120")
        #expect(before.modelVersion == "h120-s120")
        #expect(before.historySize == 120)
        let predicted = try await Self.predictions(service.baseURL)
        #expect(predicted[0].fallbackLevel == .tenantNeighbors)
        #expect(predicted[1].expectedOutputTokensP90 <= 50)
        service.kill9()

        let restarted = try await service.restart()
        defer { restarted.stop() }
        let after = try await Self.waitForModel(restarted.baseURL, version: "h120-s120")
        #expect(after == before)
        let again = try await Self.predictions(restarted.baseURL)
        #expect(again == predicted)
    }
}
