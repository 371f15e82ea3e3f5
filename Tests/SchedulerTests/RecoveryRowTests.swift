import Contracts
import Foundation
import SchedulerCore
import Testing

@testable import Scheduler

/// How a stored row becomes the engine's job again after a restart.
@Suite struct RecoveryRowTests {
    private func row(
        submittedMs: Double, deadlineMs: Double, requestClass: String, requestedClass: String? = nil,
        decided: Bool = true
    ) -> RequestRow {
        RequestRow(
            id: "req_test", tenantId: "acme", requestClass: requestClass, model: "gpt-4o-mini",
            state: RequestState.queued.rawValue, priority: 5, frontDoor: false, submittedMs: submittedMs,
            deadlineMs: deadlineMs, attempts: 0, prediction: "{}", body: "{}", requestedClass: requestedClass,
            decided: decided)
    }

    private let prediction = PredictResponse(
        sizeBucket: .long, expectedOutputTokensP50: 900, expectedOutputTokensP90: 1500, promptTokens: 10,
        predictedCostP50: 910, riskScore: 0.2, confidenceScore: 0.5, fallbackLevel: .globalPrior, neighborsUsed: 0,
        modelVersion: "test")
    private let body = ChatCompletionRequest(
        model: "gpt-4o-mini", messages: [ChatMessage(role: "user", content: "hi")], maxTokens: 2000)

    /// Stored on arrival, never decided (the process died between the write and the decision): deadline and class
    /// are left to the engine, not taken from the placeholder (a deadline equal to the submit time expired at once).
    @Test func anUndecidedRowIsDecidedAgain() {
        let job = SchedulerRuntime.job(
            row: row(submittedMs: 1_000, deadlineMs: 1_000, requestClass: "interactive", decided: false),
            prediction: prediction, body: body)
        #expect(job.deadlineAtMs == nil)
        #expect(job.requestedClass == nil)
        #expect(job.submittedAtMs == 1_000)
    }

    /// Undecided, but the client named its class and deadline: both survive (the provisional class does not).
    @Test func anUndecidedRowKeepsWhatTheClientAskedFor() {
        let job = SchedulerRuntime.job(
            row: row(
                submittedMs: 1_000, deadlineMs: 31_000, requestClass: "interactive", requestedClass: "heavy",
                decided: false),
            prediction: prediction, body: body)
        #expect(job.requestedClass == .heavy)
        #expect(job.deadlineAtMs == 31_000)
    }

    /// Undecided with a client deadline but no class: the deadline is kept and the engine classifies it again
    /// (version 1 took the provisional class for a decided one).
    @Test func anUndecidedRowWithAClientDeadlineIsClassifiedAgain() {
        let job = SchedulerRuntime.job(
            row: row(submittedMs: 1_000, deadlineMs: 31_000, requestClass: "interactive", decided: false),
            prediction: prediction, body: body)
        #expect(job.requestedClass == nil)
        #expect(job.deadlineAtMs == 31_000)
    }

    /// A decided heavy-labelled row promoted to the interactive queue is restored with the client's class, so the
    /// engine applies its own rules again.
    @Test func aDecidedRowRestoresTheClientsClass() {
        let job = SchedulerRuntime.job(
            row: row(submittedMs: 1_000, deadlineMs: 61_000, requestClass: "interactive", requestedClass: "heavy"),
            prediction: prediction, body: body)
        #expect(job.requestedClass == .heavy)
    }

    @Test func aDecidedRowKeepsItsDeadlineAndClass() {
        let job = SchedulerRuntime.job(
            row: row(submittedMs: 1_000, deadlineMs: 61_000, requestClass: "heavy"), prediction: prediction, body: body)
        #expect(job.deadlineAtMs == 61_000)
        #expect(job.requestedClass == .heavy)
    }
}
