import Contracts
import Foundation
import SchedulerCore
import ServiceRuntime

/// Turns a validated request into the engine's job and the stored row: the one path both `/submit` and the
/// front door take.
struct Intake: Sendable {
    let runtime: SchedulerRuntime
    let predictor: PredictorClient?
    /// Every request predicted alike (`PREDICTIONS=constant`).
    var constantPredictions = false
    /// Header carrying a true output length for benchmark oracles; its prediction is marked `oracle`.
    static let oracleHeader = "X-Oracle-Output-Tokens"

    struct Admission: Sendable {
        var requestId: String
        var decision: Decision
        var prediction: PredictResponse
    }

    /// What a client asked for, after validation.
    struct Ask: Sendable {
        var body: ChatCompletionRequest
        var tenantId: String
        var requestClass: RequestClass?
        var priority: Int
        var deadlineMs: Double?
        var taskType: String?
        var oracleTokens: Int?
        var frontDoor: Bool
    }

    /// Predicts, waits until the request is on disk, then lets the engine decide (a refusal is on disk before it is
    /// answered too).
    func admit(_ ask: Ask, requestId: String = RequestID.make()) async throws -> Admission {
        let predictRequest = PredictRequest(
            messages: ask.body.messages,
            maxTokens: ask.body.outputTokenLimit,
            model: ask.body.model,
            taskType: ask.taskType,
            tenantId: ask.tenantId
        )
        let prediction: PredictResponse
        if let oracle = ask.oracleTokens {
            prediction = LocalPrior.oracle(tokens: oracle, request: predictRequest)
        } else if constantPredictions {
            prediction = LocalPrior.constant(request: predictRequest)
        } else if let predictor {
            prediction = await predictor.predict(predictRequest)
        } else {
            prediction = LocalPrior.predict(predictRequest)
        }
        let submittedMs = runtime.now
        let job = Job(
            id: requestId,
            tenantId: ask.tenantId,
            requestedClass: ask.requestClass,
            priority: ask.priority,
            submittedAtMs: submittedMs,
            deadlineAtMs: ask.deadlineMs.map { submittedMs + $0 },
            predictedOutputTokensP50: prediction.expectedOutputTokensP50,
            predictedOutputTokensP90: prediction.expectedOutputTokensP90,
            predictedShortProbability: prediction.pShort,
            promptTokens: prediction.promptTokens,
            maxTokens: ask.body.outputTokenLimit ?? Int.max
        )
        let row = RequestRow(
            id: requestId,
            tenantId: ask.tenantId,
            requestClass: (ask.requestClass ?? .interactive).rawValue,
            model: ask.body.model,
            state: RequestState.queued.rawValue,
            priority: ask.priority,
            frontDoor: ask.frontDoor,
            submittedMs: submittedMs,
            // Without a client deadline the engine assigns one when it decides; until then the submit time marks
            // the row as undecided (see `SchedulerRuntime.job(row:…)`).
            deadlineMs: job.deadlineAtMs ?? submittedMs,
            attempts: 0,
            prediction: SchedulerRuntime.json(prediction),
            body: SchedulerRuntime.json(ask.body),
            requestedClass: ask.requestClass?.rawValue,
            decided: false
        )
        // On disk before the engine sees it: a submission that cannot be stored is refused and changes nothing
        // (it is never queued, never sent), and one that is queued survives a crash.
        do {
            try await runtime.waitDurable(runtime.storeIncoming(row))
        } catch {
            let problem =
                runtime.storeIsShared
                ? "the shared PostgreSQL database (\(error); unreachable or refusing writes)"
                : "its store in the data directory (\(error); disk full or no longer writable)"
            throw APIError.serviceUnavailable(
                "The request was not accepted: the scheduler could not write it to \(problem). Nothing was queued.",
                code: "storage_unavailable", retryAfterSeconds: 5)
        }
        let (decision, ticket) = await runtime.submit(
            job: job, row: row, body: ask.body, fallbackLevel: prediction.fallbackLevel)
        if decision.state == .rejected {
            // The refusal is stored before it is answered, so a crash cannot bring back a request the client was
            // told to retry (which would then run twice).
            try? await runtime.waitDurable(ticket)
            let reason = decision.reason ?? DecisionReason(code: "rejected", message: "The request was refused.")
            throw APIError.rateLimited(
                "\(reason.message) [\(reason.code)]", retryAfterSeconds: (decision.retryAfterMs ?? 1000) / 1000,
                code: reason.code)
        }
        return Admission(requestId: requestId, decision: decision, prediction: prediction)
    }

    // MARK: - Validation

    static func validate(_ submit: SubmitRequest) throws -> Ask {
        let hasPrompt = !(submit.prompt ?? "").isEmpty
        let hasMessages = !(submit.messages ?? []).isEmpty
        guard hasPrompt || hasMessages else {
            throw APIError.invalidRequest(
                "Either 'prompt' or 'messages' is required.", param: "prompt", code: "missing_required_parameter")
        }
        guard submit.maxTokens > 0 else {
            throw APIError.invalidRequest("'max_tokens' must be a positive integer.", param: "max_tokens")
        }
        guard !submit.model.isEmpty else { throw APIError.invalidRequest("'model' must not be empty.", param: "model") }
        try validate(deadlineMs: submit.deadlineMs, param: "deadline_ms")
        try validate(priority: submit.priority, param: "priority")
        let messages = hasMessages ? submit.messages! : [ChatMessage(role: "user", content: submit.prompt!)]
        let body = ChatCompletionRequest(model: submit.model, messages: messages, maxTokens: submit.maxTokens)
        return Ask(
            body: body,
            tenantId: submit.tenantId.flatMap { $0.isEmpty ? nil : $0 } ?? "default",
            requestClass: submit.requestClass,
            priority: submit.priority ?? 5,
            deadlineMs: submit.deadlineMs,
            taskType: submit.taskType,
            oracleTokens: nil,
            frontDoor: false
        )
    }

    static func validate(deadlineMs: Double?, param: String) throws {
        if let deadline = deadlineMs, !(deadline > 0 && deadline.isFinite) {
            throw APIError.invalidRequest(
                "'\(param)' is a time budget from now in milliseconds and must be positive (a deadline in the past cannot be met).",
                param: param)
        }
        if let deadline = deadlineMs, deadline > SubmitRequest.maxDeadlineMs {
            throw APIError.invalidRequest(
                "'\(param)' must be at most \(Int(SubmitRequest.maxDeadlineMs)) milliseconds (7 days).", param: param)
        }
    }

    static func validate(priority: Int?, param: String) throws {
        if let priority, !SubmitRequest.priorities.contains(priority) {
            let range = SubmitRequest.priorities
            throw APIError.invalidRequest(
                "'\(param)' must be between \(range.lowerBound) and \(range.upperBound).", param: param)
        }
    }
}
