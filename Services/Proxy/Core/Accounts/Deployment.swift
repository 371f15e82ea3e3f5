/// One upstream account serving one model name: where to send, with which key, and its limits.
/// Its description never shows the key.
public struct Deployment: Sendable, Equatable, CustomStringConvertible {
    /// A name for stats and metrics (`<model_name>/<n>` unless configured).
    public var name: String
    /// The name clients ask for; `*` serves any name.
    public var modelName: String
    /// The upstream's model id; `*` forwards the client's name unchanged.
    public var upstreamModel: String
    /// Base URL up to and including the version, e.g. `https://api.openai.com/v1`.
    public var apiBase: String
    /// Upstream API key, never logged.
    public var apiKey: String?
    public var weight: Double
    public var rpm: Int?
    public var tpm: Int?
    public var maxConcurrency: Int
    public var latencyTargetMs: Double?
    /// Headers added to every upstream request of this account (LiteLLM's `extra_headers`), after the client's
    /// allowlisted ones; never logged (they may carry credentials).
    public var extraHeaders: [(name: String, value: String)]
    /// What the account charges per 1,000 tokens, for money budgets; nil when not configured.
    public var price: ModelPrice?

    public static func == (lhs: Deployment, rhs: Deployment) -> Bool {
        lhs.name == rhs.name && lhs.modelName == rhs.modelName && lhs.upstreamModel == rhs.upstreamModel
            && lhs.apiBase == rhs.apiBase && lhs.apiKey == rhs.apiKey && lhs.weight == rhs.weight && lhs.rpm == rhs.rpm
            && lhs.tpm == rhs.tpm && lhs.maxConcurrency == rhs.maxConcurrency
            && lhs.latencyTargetMs == rhs.latencyTargetMs && lhs.price == rhs.price
            && lhs.extraHeaders.map(\.name) == rhs.extraHeaders.map(\.name)
            && lhs.extraHeaders.map(\.value) == rhs.extraHeaders.map(\.value)
    }

    public init(
        name: String,
        modelName: String,
        upstreamModel: String,
        apiBase: String,
        apiKey: String? = nil,
        weight: Double = 1,
        rpm: Int? = nil,
        tpm: Int? = nil,
        maxConcurrency: Int = 64,
        latencyTargetMs: Double? = nil,
        extraHeaders: [(name: String, value: String)] = [],
        price: ModelPrice? = nil
    ) {
        self.name = name
        self.modelName = modelName
        self.upstreamModel = upstreamModel
        self.apiBase = apiBase
        self.apiKey = apiKey
        self.weight = weight
        self.rpm = rpm
        self.tpm = tpm
        self.maxConcurrency = maxConcurrency
        self.latencyTargetMs = latencyTargetMs
        self.extraHeaders = extraHeaders
        self.price = price
    }

    /// The model id to send upstream for a client's `requested` name.
    public func upstreamModel(for requested: String) -> String {
        upstreamModel == "*" ? requested : upstreamModel
    }

    public var description: String {
        "Deployment(\(name): \(modelName) -> \(upstreamModel) at \(apiBase), key: \(apiKey == nil ? "none" : "set"))"
    }
}
