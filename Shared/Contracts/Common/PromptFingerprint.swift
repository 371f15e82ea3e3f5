import Foundation

/// A stable 64-bit FNV-1a hash of a request's prompt text (as `PromptText.of(prompt:messages:)` gives it),
/// written as 16 lowercase hex digits. The benchmark keys trace files by it and the mock LLM looks
/// answers up by it, so both must compute it the same way: this is the one definition.
public struct PromptFingerprint: Sendable, Hashable, Codable, CustomStringConvertible {
    public let value: UInt64

    public init(value: UInt64) {
        self.value = value
    }

    /// The fingerprint of `text`'s UTF-8 bytes.
    public init(text: String) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        self.value = hash
    }

    /// The fingerprint of a request's prompt: the plain prompt, or the chat messages as `PromptText` joins them.
    public init(prompt: String?, messages: [ChatMessage]?) {
        self.init(text: PromptText.of(prompt: prompt, messages: messages) ?? "")
    }

    /// Parses 16 hex digits.
    public init?(hex: String) {
        guard hex.utf8.count == 16, let value = UInt64(hex, radix: 16) else { return nil }
        self.value = value
    }

    /// 16 lowercase hex digits, zero-padded.
    public var hex: String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    public var description: String { hex }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let parsed = PromptFingerprint(hex: text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected 16 hex digits, got '\(text)'")
        }
        self = parsed
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }
}
