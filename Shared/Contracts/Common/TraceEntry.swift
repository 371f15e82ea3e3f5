import Foundation

/// One line of a trace file (JSON lines): the true output length of the answer to one prompt.
/// The benchmark writes these; the mock LLM's `--trace` replays them.
public struct TraceEntry: Codable, Sendable, Equatable {
    /// `PromptFingerprint.hex` of the prompt.
    public var fingerprint: String
    public var outputTokens: Int

    public init(fingerprint: String, outputTokens: Int) {
        self.fingerprint = fingerprint
        self.outputTokens = outputTokens
    }

    public init(fingerprint: PromptFingerprint, outputTokens: Int) {
        self.init(fingerprint: fingerprint.hex, outputTokens: outputTokens)
    }

    enum CodingKeys: String, CodingKey {
        case fingerprint
        case outputTokens = "output_tokens"
    }

    /// Parses a JSON-lines trace; blank lines are skipped, a bad line throws naming its number.
    public static func parseLines(_ text: String) throws -> [TraceEntry] {
        let decoder = JSONDecoder()
        var entries: [TraceEntry] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            do {
                entries.append(try decoder.decode(TraceEntry.self, from: Data(trimmed.utf8)))
            } catch {
                throw TraceFileError(line: index + 1, message: "\(error)")
            }
        }
        return entries
    }

    /// One JSON line (without the newline).
    public func jsonLine() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

/// A trace file line that does not parse.
public struct TraceFileError: Error, Sendable, CustomStringConvertible {
    public var line: Int
    public var message: String
    public var description: String { "trace line \(line): \(message)" }
}
