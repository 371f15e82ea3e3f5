import Contracts

/// Output-token thresholds of the size buckets: short ≤ `shortMax` < medium ≤ `mediumMax` < long.
public struct SizeBuckets: Sendable, Equatable {
    public var shortMax: Int
    public var mediumMax: Int

    public init(shortMax: Int = 128, mediumMax: Int = 512) {
        precondition(shortMax > 0 && mediumMax > shortMax, "bucket thresholds must increase")
        self.shortMax = shortMax
        self.mediumMax = mediumMax
    }

    public func bucket(of tokens: Double) -> SizeBucket {
        tokens <= Double(shortMax) ? .short : tokens <= Double(mediumMax) ? .medium : .long
    }

    /// 0 short, 1 medium, 2 long.
    public func index(of tokens: Double) -> Int {
        switch bucket(of: tokens) {
        case .short: 0
        case .medium: 1
        case .long: 2
        }
    }

    /// The largest output that still counts as `bucket` (nil for long).
    public func upperBound(of bucket: SizeBucket) -> Int? {
        switch bucket {
        case .short: shortMax
        case .medium: mediumMax
        case .long: nil
        }
    }
}

/// Prices per 1,000 tokens of one model.
public struct ModelPrice: Sendable, Equatable {
    public var inputPer1k: Double
    public var outputPer1k: Double

    public init(inputPer1k: Double, outputPer1k: Double) {
        self.inputPer1k = inputPer1k
        self.outputPer1k = outputPer1k
    }
}

/// Per-model prices with a default for models not listed; costs are in the prices' currency (USD).
public struct PriceTable: Sendable, Equatable {
    public var prices: [String: ModelPrice]
    public var fallback: ModelPrice

    public init(
        prices: [String: ModelPrice] = PriceTable.builtIn,
        fallback: ModelPrice = ModelPrice(inputPer1k: 0.0005, outputPer1k: 0.0015)
    ) {
        self.prices = prices
        self.fallback = fallback
    }

    /// List prices of common models (per 1k tokens), used when the config file gives none.
    public static let builtIn: [String: ModelPrice] = [
        "gpt-4o": ModelPrice(inputPer1k: 0.0025, outputPer1k: 0.01),
        "gpt-4o-mini": ModelPrice(inputPer1k: 0.00015, outputPer1k: 0.0006),
        "gpt-4.1": ModelPrice(inputPer1k: 0.002, outputPer1k: 0.008),
        "gpt-4.1-mini": ModelPrice(inputPer1k: 0.0004, outputPer1k: 0.0016),
        "gpt-3.5-turbo": ModelPrice(inputPer1k: 0.0005, outputPer1k: 0.0015),
        "claude-3-5-sonnet": ModelPrice(inputPer1k: 0.003, outputPer1k: 0.015),
        "claude-3-5-haiku": ModelPrice(inputPer1k: 0.0008, outputPer1k: 0.004),
    ]

    public func price(of model: String) -> ModelPrice {
        prices[model] ?? fallback
    }

    public func cost(model: String, promptTokens: Int, outputTokens: Double) -> Double {
        let price = price(of: model)
        return Double(promptTokens) / 1000 * price.inputPer1k + outputTokens / 1000 * price.outputPer1k
    }
}
