import Contracts
import Foundation
import SchedulerCore

/// What the scheduler is told about a request's size (the simulator's information ladder).
public enum InformationLevel: String, Sendable, Codable, CaseIterable {
    /// Nothing: no class, no max_tokens; every request predicted at the history's median length.
    case none
    /// The client's class label and max_tokens; size predicted as the class's median in the history.
    case classLabel = "class_label"
    /// Class label, max_tokens and a predicted magnitude from `PredictionErrorModel`.
    case predicted
    /// Class label, max_tokens and the real predictor's prediction for the conversation, made in strict replay
    /// (`maitre-predictor evaluate --dump`, then `simulate --replay`): the predictor's actual errors, not a model
    /// of them. Only offered when the workload pool carries such predictions.
    case replayed
    /// Class label, max_tokens and the true output length.
    case oracle
}

/// Multiplicative log-normal prediction error: predicted = true × exp(σ·Z), σ = ln(1 + error). "40% error" means a
/// typical (one σ) factor of 1.4 either way; p90 is predicted as p50 × exp(1.2816 σ), what a calibrated
/// quantile predictor with that spread would say.
public struct PredictionErrorModel: Sendable, Equatable, Codable {
    public var error: Double

    public init(error: Double) { self.error = error }

    public var sigma: Double { log(1 + max(error, 0)) }

    /// A prediction of a reply of `trueTokens`, with the calibrated probability that the reply is at most
    /// `shortMaxTokens` given that prediction (the truth is the prediction × exp(−σZ)).
    public func predict(trueTokens: Int, shortMaxTokens: Int, generator: inout SeededGenerator) -> (
        p50: Int, p90: Int, pShort: Double
    ) {
        let z = generator.normal()
        let p50 = max(1, Int((Double(trueTokens) * exp(sigma * z)).rounded()))
        let p90 = max(p50, Int((Double(p50) * exp(1.2816 * sigma)).rounded()))
        let margin = log(Double(shortMaxTokens) + 0.5) - log(Double(p50))
        let pShort = sigma > 0 ? 0.5 * erfc(-margin / sigma / 2.0.squareRoot()) : (margin > 0 ? 1 : 0)
        return (p50, p90, pShort)
    }
}

/// Turns workload requests into the engine's jobs at a given information level.
public struct JobFactory: Sendable {
    public var level: InformationLevel
    public var errorModel: PredictionErrorModel
    /// Medians of the seed history: overall and per client class (what "no information" and "class label" know).
    public var medianOutputTokens: Int
    public var classMedianOutputTokens: [ClientClass: Int]
    /// Largest reply that counts as short (the `p_short` threshold).
    public var shortMaxTokens = 256

    public init(
        level: InformationLevel, errorModel: PredictionErrorModel, medianOutputTokens: Int,
        classMedianOutputTokens: [ClientClass: Int]
    ) {
        self.level = level
        self.errorModel = errorModel
        self.medianOutputTokens = medianOutputTokens
        self.classMedianOutputTokens = classMedianOutputTokens
    }

    /// Medians of a history of samples labelled by `rule` (labels without noise: the history records outcomes).
    public init(level: InformationLevel, errorModel: PredictionErrorModel, history: [LengthSample], rule: DeadlineRule)
    {
        func median(_ values: [Int]) -> Int {
            guard !values.isEmpty else { return 1 }
            let sorted = values.sorted()
            return sorted[sorted.count / 2]
        }
        let short = history.filter { $0.outputTokens <= rule.shortMaxOutputTokens }.map(\.outputTokens)
        let long = history.filter { $0.outputTokens > rule.shortMaxOutputTokens }.map(\.outputTokens)
        self.init(
            level: level, errorModel: errorModel, medianOutputTokens: median(history.map(\.outputTokens)),
            classMedianOutputTokens: [.interactive: median(short), .heavy: median(long)])
        shortMaxTokens = rule.shortMaxOutputTokens
    }

    public func job(_ request: WorkloadRequest, generator: inout SeededGenerator) -> Job {
        // An unlabelled client tells no class at any rung; the class-label rung then knows only the overall median.
        let known = level != .none && request.labelled
        let requestClass: RequestClass? = known ? (request.clientClass == .interactive ? .interactive : .heavy) : nil
        let prediction: (p50: Int, p90: Int, pShort: Double?)
        switch level {
        case .none: prediction = (medianOutputTokens, medianOutputTokens, nil)
        case .classLabel:
            let median = known ? classMedianOutputTokens[request.clientClass] ?? medianOutputTokens : medianOutputTokens
            prediction = (median, median, nil)
        case .predicted:
            let drawn = errorModel.predict(
                trueTokens: request.outputTokens, shortMaxTokens: shortMaxTokens, generator: &generator)
            prediction = (drawn.p50, drawn.p90, drawn.pShort)
        case .replayed:
            let p50 = request.replayedP50 ?? medianOutputTokens
            prediction = (p50, max(p50, request.replayedP90 ?? p50), request.replayedPShort)
        case .oracle:
            prediction = (request.outputTokens, request.outputTokens, request.outputTokens <= shortMaxTokens ? 1 : 0)
        }
        return Job(
            id: String(request.index), tenantId: "default", requestedClass: requestClass,
            submittedAtMs: request.arrivalMs, deadlineAtMs: request.deadlineMs,
            predictedOutputTokensP50: prediction.p50, predictedOutputTokensP90: prediction.p90,
            predictedShortProbability: prediction.pShort, promptTokens: request.promptTokens,
            maxTokens: level == .none ? Int.max : request.maxTokens)
    }
}
