import Contracts
import MockLLMCore
import NIOCore
import ServiceRuntime

/// Writes the non-streaming answers straight into a buffer: the JSON `JSONEncoder` writes for
/// `ChatCompletionResponse` and `CompletionResponse`, escapes included (`ByteBuffer.writeJSONString` from
/// ServiceRuntime; the unit tests compare the two),
/// with the keys in declaration order where `JSONEncoder`'s order changes from run to run.
/// `JSONEncoder`'s generic machinery was the largest single cost of a zero-latency request.
enum AnswerJSON {
    /// `chat.completion` with one assistant message of filler text.
    static func chatCompletion(_ job: GenerationJob) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(256 + job.plan.tokens * 8)
        writeHead(of: job, object: "chat.completion", into: &buffer)
        buffer.writeStaticString(#"{"index":0,"message":{"role":"assistant","content":"#)
        writeFiller(tokens: job.plan.tokens, into: &buffer)
        buffer.writeStaticString(#"},"finish_reason":"#)
        buffer.writeJSONString(job.plan.finishReason)
        writeTail(of: job, into: &buffer)
        return buffer
    }

    /// `text_completion` with one choice of filler text.
    static func textCompletion(_ job: GenerationJob) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(256 + job.plan.tokens * 8)
        writeHead(of: job, object: "text_completion", into: &buffer)
        buffer.writeStaticString(#"{"index":0,"text":"#)
        writeFiller(tokens: job.plan.tokens, into: &buffer)
        buffer.writeStaticString(#","finish_reason":"#)
        buffer.writeJSONString(job.plan.finishReason)
        writeTail(of: job, into: &buffer)
        return buffer
    }

    /// Everything up to the first choice's opening brace.
    private static func writeHead(of job: GenerationJob, object: StaticString, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(#"{"id":"#)
        buffer.writeJSONString(job.id)
        buffer.writeStaticString(#","object":""#)
        buffer.writeStaticString(object)
        buffer.writeStaticString(#"","created":"#)
        buffer.writeString(String(job.created))
        buffer.writeStaticString(#","model":"#)
        buffer.writeJSONString(job.model)
        buffer.writeStaticString(#","choices":["#)
    }

    /// The end of the only choice, the usage object and the closing brace.
    private static func writeTail(of job: GenerationJob, into buffer: inout ByteBuffer) {
        let usage = job.usage
        buffer.writeStaticString(#"}],"usage":{"prompt_tokens":"#)
        buffer.writeString(String(usage.promptTokens))
        buffer.writeStaticString(#","completion_tokens":"#)
        buffer.writeString(String(usage.completionTokens))
        buffer.writeStaticString(#","total_tokens":"#)
        buffer.writeString(String(usage.totalTokens))
        buffer.writeStaticString("}}")
    }

    /// `FillerText.text(tokens:)` as a JSON string: whole cycles of the escaped pieces, then the start of one.
    private static func writeFiller(tokens: Int, into buffer: inout ByteBuffer) {
        let count = max(0, tokens)
        let cycles = count / fillerPieceEnds.count
        let rest = count % fillerPieceEnds.count
        buffer.writeInteger(UInt8(ascii: "\""))
        for _ in 0..<cycles { buffer.writeBytes(fillerCycle) }
        if rest > 0 { buffer.writeBytes(fillerCycle[..<fillerPieceEnds[rest - 1]]) }
        buffer.writeInteger(UInt8(ascii: "\""))
    }

    /// The filler's pieces, escaped and joined once.
    private static let fillerCycle: [UInt8] = {
        var buffer = ByteBuffer()
        for piece in FillerText.pieces { buffer.writeJSONStringContents(piece) }
        return Array(buffer.readableBytesView)
    }()

    /// Where each piece ends in `fillerCycle`.
    private static let fillerPieceEnds: [Int] = {
        var ends: [Int] = []
        var buffer = ByteBuffer()
        for piece in FillerText.pieces {
            buffer.writeJSONStringContents(piece)
            ends.append(buffer.readableBytes)
        }
        return ends
    }()
}
