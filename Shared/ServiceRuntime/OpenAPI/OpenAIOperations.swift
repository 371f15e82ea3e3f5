import Contracts
import HTTPTypes

extension OpenAPIOperation {
    /// Errors an OpenAI generation endpoint answers from a maitre service.
    public static let openAIGenerationErrors = [404, 429, 500, 502, 503, 504]

    /// OpenAI's completion and model endpoints, as the proxy forwards them and the mock simulates them; `idPrefix`
    /// starts each operation id, `modelsOwner` ends the models list's summary.
    public static func openAI(
        idPrefix: String, embeddings: Bool, bearerAuth: Bool, modelsOwner: String
    ) -> [OpenAPIOperation] {
        let authErrors = bearerAuth ? [401] : []
        let errors = openAIGenerationErrors + authErrors
        var operations: [OpenAPIOperation] = [
            .json(
                .post, "/v1/chat/completions", id: "\(idPrefix)ChatCompletions", summary: "OpenAI chat completions.",
                body: ChatCompletionRequest.self, answer: ChatCompletionResponse.self, errors: errors,
                bearerAuth: bearerAuth, stream: ChatCompletionChunk.self),
            .json(
                .post, "/v1/completions", id: "\(idPrefix)Completions", summary: "OpenAI legacy completions.",
                body: CompletionRequest.self, answer: CompletionResponse.self, errors: errors, bearerAuth: bearerAuth,
                stream: CompletionResponse.self),
        ]
        if embeddings {
            operations.append(
                .json(
                    .post, "/v1/embeddings", id: "\(idPrefix)Embeddings", summary: "OpenAI embeddings.",
                    body: EmbeddingRequest.self, answer: EmbeddingResponse.self, errors: errors,
                    bearerAuth: bearerAuth))
        }
        operations += [
            .json(
                .get, "/v1/models", id: "\(idPrefix)Models", summary: "Models \(modelsOwner).", answer: ModelList.self,
                errors: authErrors, bearerAuth: bearerAuth),
            .json(
                .get, "/v1/models/{model}", id: "\(idPrefix)Model", summary: "One model.", answer: ModelInfo.self,
                errors: [404] + authErrors, parameters: [.path("model", "Model name.")], bearerAuth: bearerAuth),
        ]
        return operations
    }
}
