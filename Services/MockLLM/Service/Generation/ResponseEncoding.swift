import Contracts
import Foundation
import MockLLMCore
import NIOCore

/// Writes a job's answer in OpenAI's shapes: one JSON body, or SSE chunks.
struct ResponseEncoding {
    let job: GenerationJob
    private let encoder = JSONEncoder()

    init(job: GenerationJob) {
        self.job = job
    }

    /// The whole non-streaming body: `chat.completion` or `text_completion`.
    func completeBody() -> ByteBuffer {
        switch job.endpoint {
        case .chat: return AnswerJSON.chatCompletion(job)
        case .completion: return AnswerJSON.textCompletion(job)
        }
    }

    /// The first SSE event: the assistant role (chat) — legacy completions have none.
    func openingEvent() throws -> ByteBuffer? {
        guard job.endpoint == .chat else { return nil }
        return try event(chatChunk(delta: .init(role: "assistant", content: ""), finishReason: nil))
    }

    /// The SSE event carrying output tokens `start ..< start + count`.
    func contentEvent(from start: Int, count: Int) throws -> ByteBuffer {
        let text = FillerText.text(tokens: count, from: start)
        switch job.endpoint {
        case .chat: return try event(chatChunk(delta: .init(content: text), finishReason: nil))
        case .completion: return try event(completionChunk(text: text, finishReason: nil))
        }
    }

    /// The closing events: the finish reason, the usage chunk when asked for, and `[DONE]`.
    func closingEvents() throws -> ByteBuffer {
        var buffer: ByteBuffer
        switch job.endpoint {
        case .chat: buffer = try event(chatChunk(delta: .init(), finishReason: job.plan.finishReason))
        case .completion: buffer = try event(completionChunk(text: "", finishReason: job.plan.finishReason))
        }
        if job.includeUsage {
            switch job.endpoint {
            case .chat:
                var chunk = ChatCompletionChunk(
                    id: job.id, created: job.created, model: job.model, choices: [], usage: job.usage)
                chunk.usage = job.usage
                var usageEvent = try event(chunk)
                buffer.writeBuffer(&usageEvent)
            case .completion:
                var usageEvent = try event(
                    CompletionResponse(
                        id: job.id, created: job.created, model: job.model, choices: [], usage: job.usage))
                buffer.writeBuffer(&usageEvent)
            }
        }
        buffer.writeString("data: [DONE]\n\n")
        return buffer
    }

    /// The first half of the non-streaming body and the whole body's length, for a connection cut in the middle
    /// of an answer.
    func truncatedBody() -> (partial: ByteBuffer, completeLength: Int) {
        var body = completeBody()
        let length = body.readableBytes
        return (body.readSlice(length: length / 2) ?? ByteBuffer(), length)
    }

    private func chatChunk(delta: ChatCompletionChunk.Delta, finishReason: String?) -> ChatCompletionChunk {
        ChatCompletionChunk(
            id: job.id, created: job.created, model: job.model,
            choices: [.init(index: 0, delta: delta, finishReason: finishReason)])
    }

    private func completionChunk(text: String, finishReason: String?) -> CompletionResponse {
        CompletionResponse(
            id: job.id, created: job.created, model: job.model,
            choices: [.init(index: 0, text: text, finishReason: finishReason)], usage: nil)
    }

    private func event(_ value: some Encodable) throws -> ByteBuffer {
        let data = try encoder.encode(value)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(data.count + 8)
        buffer.writeString("data: ")
        buffer.writeBytes(data)
        buffer.writeString("\n\n")
        return buffer
    }
}
