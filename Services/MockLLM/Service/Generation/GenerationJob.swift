import Contracts
import MockLLMCore

/// One generation request after parsing: which endpoint, the prompt's size and fingerprint, the planned
/// answer and the fault it suffers. Chat and legacy completions differ only in how they are written out.
struct GenerationJob: Sendable {
    enum Endpoint: Sendable {
        case chat, completion
    }

    var endpoint: Endpoint
    var id: String
    var created: Int
    var model: String
    var promptTokens: Int
    var fingerprint: PromptFingerprint
    var plan: OutputPlan
    var stream: Bool
    var includeUsage: Bool
    var fault: InjectedFault

    var usage: Usage { Usage(promptTokens: promptTokens, completionTokens: plan.tokens) }
}
