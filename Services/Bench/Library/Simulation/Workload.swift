/// One request of a benchmark workload: what the client sends and knows, and the truth only the upstream knows.
public struct WorkloadRequest: Sendable, Equatable, Codable {
    public var index: Int
    public var arrivalMs: Double
    public var promptTokens: Int
    /// Output tokens the upstream will produce (the reference reply, capped by max_tokens).
    public var outputTokens: Int
    /// The class the client declares (its use case); see `DeadlineRule`.
    public var clientClass: ClientClass
    public var maxTokens: Int
    /// Absolute deadline from `DeadlineRule` (client knowledge only).
    public var deadlineMs: Double
    /// Whether the client told the scheduler its class. An unlabelled request still has a `clientClass` (its
    /// population, for the report) that the scheduler is never shown.
    public var labelled: Bool = true
    /// The real predictor's strict-replay prediction for this conversation, when the pool came from
    /// `maitre-predictor evaluate --dump` (the `replayed` information rung).
    public var replayedP50: Int? = nil
    public var replayedP90: Int? = nil
    public var replayedPShort: Double? = nil

    enum CodingKeys: String, CodingKey {
        case index
        case replayedP50 = "replayed_p50"
        case replayedP90 = "replayed_p90"
        case replayedPShort = "replayed_p_short"
        case arrivalMs = "arrival_ms"
        case promptTokens = "prompt_tokens"
        case outputTokens = "output_tokens"
        case clientClass = "client_class"
        case maxTokens = "max_tokens"
        case deadlineMs = "deadline_ms"
        case labelled
    }
}

/// What a client declares about a request.
public enum ClientClass: String, Sendable, Codable, CaseIterable {
    /// Chat-style use: a short answer is expected, max_tokens is small, a person waits.
    case interactive
    /// Long-form or batch use: max_tokens is large, the deadline is loose.
    case heavy
}

/// A (prompt tokens, reference output tokens) pair from ShareGPT.
public struct LengthSample: Sendable, Equatable, Codable {
    public var promptTokens: Int
    public var outputTokens: Int
    /// What the real predictor said about this conversation before seeing it (strict replay), when known.
    public var replayedP50: Int?
    public var replayedP90: Int?
    public var replayedPShort: Double?

    public init(
        promptTokens: Int, outputTokens: Int, replayedP50: Int? = nil, replayedP90: Int? = nil,
        replayedPShort: Double? = nil
    ) {
        self.promptTokens = promptTokens
        self.outputTokens = outputTokens
        self.replayedP50 = replayedP50
        self.replayedP90 = replayedP90
        self.replayedPShort = replayedPShort
    }

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens"
        case outputTokens = "output_tokens"
        case replayedP50 = "replayed_p50"
        case replayedP90 = "replayed_p90"
        case replayedPShort = "replayed_p_short"
    }
}

/// The documented class and deadline rule. It uses only what a client knows before sending — its use case (class)
/// and the max_tokens that use case sets — plus the provider's published nominal speed; never the true length.
///
/// - class: the use case of the client that sent the request. ShareGPT carries no use case, so the workload stands in
///   for the client's knowledge: a conversation whose reference reply is at most `shortMaxOutputTokens` tokens came
///   from the chat client (interactive), a longer one from the long-form client (heavy); `labelNoise` of requests carry
///   the other client's label (a client is not always right about what it asked).
/// - max_tokens: interactive `interactiveMaxTokens`, heavy `heavyMaxTokens` (an interactive-labelled long request is
///   cut at its max_tokens, as a real provider would).
/// - deadline = arrival + `slack` × nominal duration of max_tokens at the provider's uncongested speed.
public struct DeadlineRule: Sendable, Equatable, Codable {
    public var shortMaxOutputTokens = 256
    public var interactiveMaxTokens = 256
    public var heavyMaxTokens = 2048
    public var slack = 3.0
    public var labelNoise = 0.05

    public init() {}

    enum CodingKeys: String, CodingKey {
        case shortMaxOutputTokens = "short_max_output_tokens"
        case interactiveMaxTokens = "interactive_max_tokens"
        case heavyMaxTokens = "heavy_max_tokens"
        case slack
        case labelNoise = "label_noise"
    }

    public func maxTokens(_ clientClass: ClientClass) -> Int {
        clientClass == .interactive ? interactiveMaxTokens : heavyMaxTokens
    }

    /// Deadline budget (ms from arrival) of a request the client sends with this class and prompt.
    public func budgetMs(clientClass: ClientClass, promptTokens: Int, model: KneeLatencyModel) -> Double {
        slack * model.nominalDurationMs(promptTokens: promptTokens, outputTokens: maxTokens(clientClass))
    }

    /// The class of the client population a sample comes from (by its reference reply), before label noise.
    public func population(_ sample: LengthSample) -> ClientClass {
        sample.outputTokens <= shortMaxOutputTokens ? .interactive : .heavy
    }

    /// The client's label for a sample (population, flipped with probability `labelNoise`).
    public func label(_ sample: LengthSample, generator: inout SeededGenerator) -> ClientClass {
        let drawn = population(sample)
        guard generator.unit() < labelNoise else { return drawn }
        return drawn == .interactive ? .heavy : .interactive
    }

    /// Builds the request the client sends for `sample` arriving at `arrivalMs`. An unlabelled client (`labelled`
    /// false) has one use case for everything: it sends no class, the heavy max_tokens and the deadline that
    /// max_tokens gives, so nothing it sends says how long the answer will be.
    public func request(
        index: Int, sample: LengthSample, arrivalMs: Double, model: KneeLatencyModel, generator: inout SeededGenerator,
        labelled: Bool = true
    ) -> WorkloadRequest {
        let clientClass = labelled ? label(sample, generator: &generator) : population(sample)
        let sent: ClientClass = labelled ? clientClass : .heavy
        let maxTokens = maxTokens(sent)
        return WorkloadRequest(
            index: index, arrivalMs: arrivalMs, promptTokens: sample.promptTokens,
            outputTokens: min(sample.outputTokens, maxTokens), clientClass: clientClass, maxTokens: maxTokens,
            deadlineMs: arrivalMs + budgetMs(clientClass: sent, promptTokens: sample.promptTokens, model: model),
            labelled: labelled, replayedP50: sample.replayedP50, replayedP90: sample.replayedP90,
            replayedPShort: sample.replayedPShort)
    }
}

/// A simulator regime: how many requests, what share is long-form, and how hard they load the provider.
public struct Regime: Sendable, Equatable, Codable {
    public var name: String
    /// Share of requests drawn from the long-reply population.
    public var heavyShare: Double
    /// Offered load: arrival rate × mean output tokens ÷ the provider's saturated token throughput.
    public var load: Double
    /// Whether clients label their requests (see `DeadlineRule.request`).
    public var labelled: Bool

    public init(name: String, heavyShare: Double, load: Double, labelled: Bool = true) {
        self.name = name
        self.heavyShare = heavyShare
        self.load = load
        self.labelled = labelled
    }

    enum CodingKeys: String, CodingKey {
        case name
        case heavyShare = "heavy_share"
        case load
        case labelled
    }

    /// The three regimes of the report. Balanced: ShareGPT's own mix at 90% of the provider's saturated throughput
    /// (the provider keeps up on average; Poisson bursts push a direct client past the knee). High congestion: the same
    /// mix at 110% (a sustained overload over the run: the backlog grows until arrivals stop). Heavy-dominated: 60%
    /// long-reply conversations at 105% (long replies spend less of their time in TTFT, so the same offered load
    /// congests less). Unlabelled: high congestion from a client that sends no class, one max_tokens and one deadline
    /// budget for everything — the case where only the predicted magnitude separates short work from long.
    public static let standard: [Regime] = [
        Regime(name: "balanced", heavyShare: -1, load: 0.90),
        Regime(name: "high_congestion", heavyShare: -1, load: 1.10),
        Regime(name: "heavy_dominated", heavyShare: 0.60, load: 1.05),
        Regime(name: "unlabelled", heavyShare: -1, load: 1.10, labelled: false),
    ]
}

/// Draws a workload: samples from the length pool (mix by regime), seeded Poisson arrivals at the regime's rate.
public struct WorkloadGenerator: Sendable {
    public var pool: [LengthSample]
    public var rule: DeadlineRule
    public var model: KneeLatencyModel

    public init(pool: [LengthSample], rule: DeadlineRule, model: KneeLatencyModel) {
        precondition(!pool.isEmpty, "empty length pool")
        self.pool = pool
        self.rule = rule
        self.model = model
    }

    /// Requests per second that give `regime.load` for a mix with this mean output length.
    public func arrivalRate(regime: Regime, meanOutputTokens: Double) -> Double {
        regime.load * model.saturatedTokensPerSecond / max(meanOutputTokens, 1)
    }

    /// `count` requests for `regime` with `seed`; also returns the arrival rate used (requests/s).
    public func make(regime: Regime, count: Int, seed: UInt64) -> (requests: [WorkloadRequest], ratePerSecond: Double) {
        var generator = SeededGenerator(seed: seed)
        let short = pool.filter { $0.outputTokens <= rule.shortMaxOutputTokens }
        let long = pool.filter { $0.outputTokens > rule.shortMaxOutputTokens }
        var samples: [LengthSample] = []
        samples.reserveCapacity(count)
        for _ in 0..<count {
            if regime.heavyShare < 0 || short.isEmpty || long.isEmpty {
                samples.append(pool[Int(generator.next() % UInt64(pool.count))])
            } else {
                let source = generator.unit() < regime.heavyShare ? long : short
                samples.append(source[Int(generator.next() % UInt64(source.count))])
            }
        }
        let mean = Double(samples.reduce(0) { $0 + $1.outputTokens }) / Double(max(count, 1))
        let rate = arrivalRate(regime: regime, meanOutputTokens: mean)
        var clock = 0.0
        var requests: [WorkloadRequest] = []
        for (index, sample) in samples.enumerated() {
            clock += generator.exponential(mean: 1000 / rate)
            requests.append(
                rule.request(
                    index: index, sample: sample, arrivalMs: clock, model: model, generator: &generator,
                    labelled: regime.labelled))
        }
        return (requests, rate)
    }
}
