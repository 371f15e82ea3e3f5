import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MockLLM
import MockLLMCore
import NIOCore
import ServiceRuntime
import TextEngine

/// Shared set-up of the router tests: an application over the instant profile unless told otherwise.
enum MockLLMTestSupport {
    static let counter = ApproximateTokenCounter()

    static func application(_ overrides: [String: String] = [:]) async throws -> some ApplicationProtocol {
        var settings = ["latency-profile": "instant", "log-level": "error"]
        settings.merge(overrides) { $1 }
        let configuration = try MockLLMConfiguration.defaults(settings)
        var logger = Logger(label: "mock-llm-test")
        logger.logLevel = .critical
        return try await buildApplication(
            configuration: configuration, metrics: ServiceMetrics(), logger: logger, tokenCounter: counter)
    }

    static func json(_ value: some Encodable) throws -> ByteBuffer {
        ByteBuffer(bytes: try JSONEncoder().encode(value))
    }

    static func headers(_ pairs: [String: String]) -> HTTPFields {
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        for (name, value) in pairs { fields[HTTPField.Name(name)!] = value }
        return fields
    }

    static func decode<T: Decodable>(_ type: T.Type, _ buffer: ByteBuffer) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
    }

    /// The JSON payloads of an SSE body, `[DONE]` included as a string.
    static func events(_ buffer: ByteBuffer) -> [String] {
        String(buffer: buffer).components(separatedBy: "\n\n").compactMap { block in
            block.hasPrefix("data: ") ? String(block.dropFirst(6)) : nil
        }
    }

    static let chat = ChatCompletionRequest(
        model: "gpt-4o-mini",
        messages: [
            ChatMessage(role: "system", content: "You are terse."),
            ChatMessage(role: "user", content: "Say something about kitchens."),
        ]
    )
}
