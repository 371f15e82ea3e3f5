import Contracts
import Foundation
import ServiceRuntime

/// Checks of `/predict` and `/ingest` bodies beyond JSON decoding; each failure is a 400 naming the field.
enum RequestValidation {
    /// Largest max_tokens taken seriously; beyond it the value is a client bug, not a limit.
    static let maxTokensLimit = 10_000_000

    struct PredictInput {
        var embeddingText: String
        var fullText: String
        var maxTokens: Int?
        var model: String
        var taskType: String?
        var tenantId: String?
    }

    struct IngestInput {
        var embeddingText: String
        var fullText: String
        var report: OutcomeReport
    }

    static func field(_ name: String, _ index: Int?, _ container: String) -> String {
        index.map { "\(container)[\($0)].\(name)" } ?? name
    }

    static func texts(
        prompt: String?, messages: [ChatMessage]?, index: Int?, container: String, configuration: PredictorConfiguration
    ) throws -> (String, String) {
        if prompt == nil, let messages, messages.isEmpty {
            throw APIError.invalidRequest("'messages' must not be empty.", param: field("messages", index, container))
        }
        guard let full = PromptText.of(prompt: prompt, messages: messages),
            let user = PromptText.userText(prompt: prompt, messages: messages)
        else {
            throw APIError.invalidRequest(
                "One of 'prompt' or 'messages' is required.", param: field("prompt", index, container),
                code: "missing_required_parameter")
        }
        guard full.count <= configuration.maxPromptCharacters else {
            throw APIError.invalidRequest(
                "The prompt is longer than \(configuration.maxPromptCharacters) characters.",
                param: field(prompt == nil ? "messages" : "prompt", index, container),
                code: "prompt_too_long")
        }
        return (user, full)
    }

    static func checkMaxTokens(_ value: Int?, index: Int?, container: String) throws {
        guard let value else { return }
        guard value >= 1 && value <= maxTokensLimit else {
            throw APIError.invalidRequest(
                "'max_tokens' must be between 1 and \(maxTokensLimit), got \(value).",
                param: field("max_tokens", index, container))
        }
    }

    static func checkModel(_ model: String, index: Int?, container: String) throws {
        guard !model.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw APIError.invalidRequest("'model' must not be empty.", param: field("model", index, container))
        }
    }

    static func predictInput(_ request: PredictRequest, index: Int?, configuration: PredictorConfiguration) throws
        -> PredictInput
    {
        let (user, full) = try texts(
            prompt: request.prompt, messages: request.messages, index: index, container: "requests",
            configuration: configuration)
        try checkMaxTokens(request.maxTokens, index: index, container: "requests")
        try checkModel(request.model, index: index, container: "requests")
        return PredictInput(
            embeddingText: user, fullText: full, maxTokens: request.maxTokens, model: request.model,
            taskType: request.taskType, tenantId: request.tenantId
        )
    }

    static func ingestInput(_ report: OutcomeReport, index: Int?, configuration: PredictorConfiguration) throws
        -> IngestInput
    {
        let (user, full) = try texts(
            prompt: report.prompt, messages: report.messages, index: index, container: "records",
            configuration: configuration)
        try checkMaxTokens(report.maxTokens, index: index, container: "records")
        try checkModel(report.model, index: index, container: "records")
        guard report.outputTokens >= 0 && report.outputTokens <= maxTokensLimit else {
            throw APIError.invalidRequest(
                "'output_tokens' must be between 0 and \(maxTokensLimit), got \(report.outputTokens).",
                param: field("output_tokens", index, "records"))
        }
        if let promptTokens = report.promptTokens, promptTokens < 0 || promptTokens > maxTokensLimit {
            throw APIError.invalidRequest(
                "'prompt_tokens' must be between 0 and \(maxTokensLimit), got \(promptTokens).",
                param: field("prompt_tokens", index, "records"))
        }
        if let latency = report.latencyMs, !(latency >= 0) || !latency.isFinite {
            throw APIError.invalidRequest(
                "'latency_ms' must be a non-negative number.", param: field("latency_ms", index, "records"))
        }
        return IngestInput(embeddingText: user, fullText: full, report: report)
    }
}
