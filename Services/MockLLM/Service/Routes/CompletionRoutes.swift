import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import MockLLMCore
import ServiceRuntime

/// `POST /v1/chat/completions`, `POST /v1/completions` and `GET /v1/models`.
struct CompletionRoutes: Sendable {
    let runtime: ProviderRuntime
    let generator: Generator
    let models: [String]
    let strictModels: Bool
    let tpmCharge: MockLLMConfiguration.TPMCharge
    let faultHeaderEnabled: Bool
    /// Every request received, by fingerprint (`MOCK_REQUEST_LOG`).
    var requestLog: RequestLog? = nil
    let created = Int(Date().timeIntervalSince1970)

    static let faultHeader = HTTPField.Name("X-Mock-Fault")!

    /// The operations `add` registers, for the OpenAPI document.
    static let operations = OpenAPIOperation.openAI(
        idPrefix: "mock", embeddings: false, bearerAuth: false, modelsOwner: "the mock serves")

    func add(to router: Router<ServiceRequestContext>) {
        router.post("/v1/chat/completions") { request, context in try await chat(request, context: context) }
        router.post("/v1/completions") { request, context in try await completion(request, context: context) }
        router.get("/v1/models") { _, _ in
            try Response.json(
                ModelList(data: models.map { ModelInfo(id: $0, created: created, ownedBy: "maitre-mock") }))
        }
        router.get("/v1/models/{model}") { _, context in
            let id = try context.parameters.require("model")
            guard models.contains(id) else { throw Self.unknownModel(id) }
            return try Response.json(ModelInfo(id: id, created: created, ownedBy: "maitre-mock"))
        }
    }

    func chat(_ request: Request, context: ServiceRequestContext) async throws -> Response {
        let body = try await RequestDecoding.chat(request, context: context)
        if body.messages.isEmpty {
            throw APIError.invalidRequest("[] is too short - 'messages'", param: "messages", code: "empty_array")
        }
        try Self.validate(maxTokens: body.maxTokens, param: "max_tokens")
        try Self.validate(maxTokens: body.maxCompletionTokens, param: "max_completion_tokens")
        return try await generate(
            .chat, model: body.model,
            promptTokens: PromptTokens.chat(body.messages, counter: runtime.tokenCounter),
            fingerprint: PromptFingerprint(prompt: nil, messages: body.messages),
            maxTokens: body.outputTokenLimit, stream: body.stream ?? false,
            includeUsage: body.streamOptions?.includeUsage ?? false, request: request
        )
    }

    func completion(_ request: Request, context: ServiceRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(as: CompletionRequest.self, context: context)
        try Self.validate(maxTokens: body.maxTokens, param: "max_tokens")
        return try await generate(
            .completion, model: body.model,
            promptTokens: PromptTokens.completion(body.prompt, counter: runtime.tokenCounter),
            fingerprint: PromptFingerprint(prompt: body.prompt.joined, messages: nil),
            // The legacy endpoint's default max_tokens is 16.
            maxTokens: body.maxTokens ?? 16, stream: body.stream ?? false,
            includeUsage: body.streamOptions?.includeUsage ?? false, request: request
        )
    }

    private func generate(
        _ endpoint: GenerationJob.Endpoint, model: String, promptTokens: Int, fingerprint: PromptFingerprint,
        maxTokens: Int?, stream: Bool, includeUsage: Bool, request: Request
    ) async throws -> Response {
        let plan = runtime.outputLengths.plan(fingerprint: fingerprint, maxTokens: maxTokens)
        requestLog?.record(fingerprint, promptTokens: promptTokens, outputTokens: plan.tokens)
        if strictModels && !models.contains(model) { throw Self.unknownModel(model) }
        var fault = runtime.drawFault(outputTokens: plan.tokens)
        if faultHeaderEnabled, let header = request.headers[Self.faultHeader] {
            do {
                fault = try InjectedFault.parseHeader(header)
            } catch {
                throw APIError.invalidRequest("Invalid X-Mock-Fault item '\(error.item)'.", param: "X-Mock-Fault")
            }
        }
        let charge: Int
        switch tpmCharge {
        case .maxTokens: charge = promptTokens + (maxTokens ?? plan.tokens)
        case .actual: charge = promptTokens + plan.tokens
        }
        // Open mode reads no key: skip parsing the header.
        let key = runtime.accountsOpen ? nil : Self.bearerToken(request)
        let account = try runtime.admitAccount(key: key, tokens: charge)
        let prefix = endpoint == .chat ? "chatcmpl-mock" : "cmpl-mock"
        let job = GenerationJob(
            endpoint: endpoint, id: runtime.nextResponseID(prefix: prefix), created: Int(Date().timeIntervalSince1970),
            model: model, promptTokens: promptTokens, fingerprint: fingerprint, plan: plan, stream: stream,
            includeUsage: stream && includeUsage, fault: fault
        )
        return try await generator.run(job, lease: GenerationLease(runtime: runtime, account: account))
    }

    static func validate(maxTokens: Int?, param: String) throws {
        if let maxTokens, maxTokens <= 0 {
            throw APIError.invalidRequest(
                "Invalid '\(param)': integer below minimum value. Expected a value >= 1, but got \(maxTokens) instead.",
                param: param, code: "integer_below_min_value")
        }
    }

    static func bearerToken(_ request: Request) -> String? {
        guard let value = request.headers[.authorization] else { return nil }
        return plainBearerToken(value) ?? bearerToken(header: value)
    }

    /// The key of an `Authorization` value: `Bearer` in any case, a space, the key trimmed of blanks.
    static func bearerToken(header value: String) -> String? {
        let prefix = "Bearer "
        guard value.count > prefix.count, value.prefix(prefix.count).lowercased() == prefix.lowercased() else {
            return nil
        }
        return String(value.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
    }

    /// The usual header — ASCII `Bearer ` in any case, then a key with no blank at either end — read
    /// without Foundation; nil leaves anything else to `bearerToken(header:)`.
    static func plainBearerToken(_ value: String) -> String? {
        let utf8 = value.utf8
        guard utf8.count > 7, let last = utf8.last else { return nil }
        let prefix: StaticString = "bearer "
        var index = utf8.startIndex
        for offset in 0..<7 {
            let byte = utf8[index]
            // ASCII letters differ from their capitals only in bit 0x20; the space is compared as is.
            guard byte == prefix.utf8Start[offset] || (offset < 6 && byte | 0x20 == prefix.utf8Start[offset]) else {
                return nil
            }
            index = utf8.index(after: index)
        }
        let firstOfKey = utf8[index]
        guard Self.isPlainKeyEdge(firstOfKey), Self.isPlainKeyEdge(last) else { return nil }
        return String(value[index...])
    }

    /// Printable ASCII other than the space: no blank to trim, no combining mark to join the space before it.
    private static func isPlainKeyEdge(_ byte: UInt8) -> Bool {
        byte > 0x20 && byte < 0x7F
    }

    static func unknownModel(_ id: String) -> APIError {
        .notFound(
            "The model `\(id)` does not exist or you do not have access to it.", code: "model_not_found", param: "model"
        )
    }
}
