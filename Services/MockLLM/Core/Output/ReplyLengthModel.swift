import Contracts
import Foundation

/// How many tokens the simulated model answers: the recorded length for a prompt in the trace, else a
/// seeded draw from a log-normal fitted to ShareGPT replies; always capped by the request's max_tokens.
public struct ReplyLengthModel: Sendable {
    /// Log-normal parameters of ln(output tokens). Fitted by `scripts/fixtures/fit_sharegpt_output_lengths.py`.
    public var mu: Double
    public var sigma: Double
    /// Upper bound of a drawn length (a recorded one is used as is).
    public var maxDrawnTokens: Int
    public var seed: UInt64
    /// Prompt fingerprint → recorded output tokens.
    public var trace: [String: Int]

    public static let shareGPTMu = 5.3314
    public static let shareGPTSigma = 1.0957

    public init(
        mu: Double = shareGPTMu, sigma: Double = shareGPTSigma, maxDrawnTokens: Int = 2048, seed: UInt64 = 0,
        trace: [String: Int] = [:]
    ) {
        self.mu = mu
        self.sigma = sigma
        self.maxDrawnTokens = max(1, maxDrawnTokens)
        self.seed = seed
        self.trace = trace
    }

    /// The natural length of the answer to the prompt with `fingerprint`, before max_tokens: the same
    /// for the same (seed, fingerprint), so repeated runs agree.
    public func naturalLength(fingerprint: PromptFingerprint) -> OutputLength {
        if !trace.isEmpty, let recorded = trace[fingerprint.hex] {
            return OutputLength(tokens: max(0, recorded), source: .trace)
        }
        var random = SeededRandom(seed: seed, stream: fingerprint.value)
        let drawn = exp(mu + sigma * random.standardNormal())
        let tokens = min(maxDrawnTokens, max(1, Int(drawn.rounded())))
        return OutputLength(tokens: tokens, source: .drawn)
    }

    /// The answer's length and finish reason under `maxTokens`.
    public func plan(fingerprint: PromptFingerprint, maxTokens: Int?) -> OutputPlan {
        let natural = naturalLength(fingerprint: fingerprint)
        if let maxTokens, natural.tokens > maxTokens {
            return OutputPlan(
                tokens: maxTokens, finishReason: "length", naturalTokens: natural.tokens, source: natural.source)
        }
        return OutputPlan(
            tokens: natural.tokens, finishReason: "stop", naturalTokens: natural.tokens, source: natural.source)
    }
}

/// A natural answer length and where it came from.
public struct OutputLength: Sendable, Equatable {
    public var tokens: Int
    public var source: Source

    public init(tokens: Int, source: Source) {
        self.tokens = tokens
        self.source = source
    }

    /// Trace replay or a random draw.
    public enum Source: String, Sendable, Equatable {
        case trace, drawn
    }
}

/// The answer the mock will produce: `tokens` long, ending with `finishReason`.
public struct OutputPlan: Sendable, Equatable {
    public var tokens: Int
    public var finishReason: String
    public var naturalTokens: Int
    public var source: OutputLength.Source

    public init(tokens: Int, finishReason: String, naturalTokens: Int, source: OutputLength.Source) {
        self.tokens = tokens
        self.finishReason = finishReason
        self.naturalTokens = naturalTokens
        self.source = source
    }
}
