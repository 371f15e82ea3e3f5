import Foundation

/// Scheduling class of a request: short interactive work, or heavy work that may wait its turn.
public enum RequestClass: String, Codable, Sendable, CaseIterable {
    case interactive
    case heavy
}

/// Where a submitted request is in its life.
public enum RequestState: String, Codable, Sendable, CaseIterable {
    case queued
    case deferred
    case dispatched
    case completed
    case rejected
    case failed
    case expired
    /// Withdrawn before it finished: the front door's client closed the connection, or the scheduler shut down.
    case cancelled

    /// Whether the request will change no more.
    public var isTerminal: Bool {
        switch self {
        case .completed, .rejected, .failed, .expired, .cancelled: return true
        case .queued, .deferred, .dispatched: return false
        }
    }
}

/// `POST /submit` request.
public struct SubmitRequest: Codable, Sendable, Equatable {
    public var prompt: String?
    public var messages: [ChatMessage]?
    public var maxTokens: Int
    public var model: String
    public var taskType: String?
    public var tenantId: String?
    /// A class the client imposes; otherwise the predicted size bucket decides.
    public var requestClass: RequestClass?
    /// Relative importance inside the class, 0 (lowest) to 9 (highest); 5 when absent.
    public var priority: Int?
    /// Time budget from submission, in milliseconds.
    public var deadlineMs: Double?

    /// The longest time budget a request may ask for: 7 days.
    public static let maxDeadlineMs = 604_800_000.0
    /// The priorities a request may ask for, lowest first.
    public static let priorities = 0...9

    public init(
        prompt: String? = nil,
        messages: [ChatMessage]? = nil,
        maxTokens: Int,
        model: String,
        taskType: String? = nil,
        tenantId: String? = nil,
        requestClass: RequestClass? = nil,
        priority: Int? = nil,
        deadlineMs: Double? = nil
    ) {
        self.prompt = prompt
        self.messages = messages
        self.maxTokens = maxTokens
        self.model = model
        self.taskType = taskType
        self.tenantId = tenantId
        self.requestClass = requestClass
        self.priority = priority
        self.deadlineMs = deadlineMs
    }

    enum CodingKeys: String, CodingKey {
        case prompt, messages, model, priority
        case maxTokens = "max_tokens"
        case taskType = "task_type"
        case tenantId = "tenant_id"
        case requestClass = "request_class"
        case deadlineMs = "deadline_ms"
    }
}

/// A machine-readable reason with a sentence for people, attached to every defer, reject, expiry and failure.
public struct DecisionReason: Codable, Sendable, Equatable {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}

/// `POST /submit` response (202).
public struct SubmitResponse: Codable, Sendable, Equatable {
    public var requestId: String
    public var state: RequestState
    public var requestClass: RequestClass
    public var deadlineUnixMs: Double
    public var prediction: PredictResponse
    public var reason: DecisionReason?

    public init(
        requestId: String,
        state: RequestState,
        requestClass: RequestClass,
        deadlineUnixMs: Double,
        prediction: PredictResponse,
        reason: DecisionReason?
    ) {
        self.requestId = requestId
        self.state = state
        self.requestClass = requestClass
        self.deadlineUnixMs = deadlineUnixMs
        self.prediction = prediction
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey {
        case state, prediction, reason
        case requestId = "request_id"
        case requestClass = "request_class"
        case deadlineUnixMs = "deadline_unix_ms"
    }
}

/// Timestamps of a request's life, in Unix milliseconds, and the derived durations.
public struct RequestTimings: Codable, Sendable, Equatable {
    public var submittedUnixMs: Double
    public var dispatchedUnixMs: Double?
    public var firstTokenUnixMs: Double?
    public var finishedUnixMs: Double?

    public init(
        submittedUnixMs: Double, dispatchedUnixMs: Double? = nil, firstTokenUnixMs: Double? = nil,
        finishedUnixMs: Double? = nil
    ) {
        self.submittedUnixMs = submittedUnixMs
        self.dispatchedUnixMs = dispatchedUnixMs
        self.firstTokenUnixMs = firstTokenUnixMs
        self.finishedUnixMs = finishedUnixMs
    }

    /// Time spent waiting in the scheduler's queue.
    public var queueMs: Double? { dispatchedUnixMs.map { $0 - submittedUnixMs } }
    /// Submission to final answer.
    public var latencyMs: Double? { finishedUnixMs.map { $0 - submittedUnixMs } }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.submittedUnixMs = try container.decode(Double.self, forKey: .submittedUnixMs)
        self.dispatchedUnixMs = try container.decodeIfPresent(Double.self, forKey: .dispatchedUnixMs)
        self.firstTokenUnixMs = try container.decodeIfPresent(Double.self, forKey: .firstTokenUnixMs)
        self.finishedUnixMs = try container.decodeIfPresent(Double.self, forKey: .finishedUnixMs)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(submittedUnixMs, forKey: .submittedUnixMs)
        try container.encodeIfPresent(dispatchedUnixMs, forKey: .dispatchedUnixMs)
        try container.encodeIfPresent(firstTokenUnixMs, forKey: .firstTokenUnixMs)
        try container.encodeIfPresent(finishedUnixMs, forKey: .finishedUnixMs)
        try container.encodeIfPresent(queueMs, forKey: .queueMs)
        try container.encodeIfPresent(latencyMs, forKey: .latencyMs)
    }

    enum CodingKeys: String, CodingKey {
        case submittedUnixMs = "submitted_unix_ms"
        case dispatchedUnixMs = "dispatched_unix_ms"
        case firstTokenUnixMs = "first_token_unix_ms"
        case finishedUnixMs = "finished_unix_ms"
        case queueMs = "queue_ms"
        case latencyMs = "latency_ms"
    }
}

/// Wire: what the upstream answered a request, as `GET /status/{id}` shows it in `result` (and the scheduler keeps it
/// with the request's row).
public struct RequestResult: Codable, Sendable, Equatable {
    public var statusCode: Int
    public var outputText: String?
    public var finishReason: String?
    public var usage: Usage?
    public var error: ErrorBody?

    public init(statusCode: Int, outputText: String?, finishReason: String?, usage: Usage?, error: ErrorBody? = nil) {
        self.statusCode = statusCode
        self.outputText = outputText
        self.finishReason = finishReason
        self.usage = usage
        self.error = error
    }

    enum CodingKeys: String, CodingKey {
        case usage, error
        case statusCode = "status_code"
        case outputText = "output_text"
        case finishReason = "finish_reason"
    }
}

/// `GET /status/{id}` response.
public struct StatusResponse: Codable, Sendable, Equatable {
    public var requestId: String
    public var state: RequestState
    public var requestClass: RequestClass
    public var tenantId: String
    public var model: String
    public var deadlineUnixMs: Double
    public var prediction: PredictResponse
    public var reason: DecisionReason?
    public var timings: RequestTimings
    public var result: RequestResult?

    public init(
        requestId: String,
        state: RequestState,
        requestClass: RequestClass,
        tenantId: String,
        model: String,
        deadlineUnixMs: Double,
        prediction: PredictResponse,
        reason: DecisionReason?,
        timings: RequestTimings,
        result: RequestResult?
    ) {
        self.requestId = requestId
        self.state = state
        self.requestClass = requestClass
        self.tenantId = tenantId
        self.model = model
        self.deadlineUnixMs = deadlineUnixMs
        self.prediction = prediction
        self.reason = reason
        self.timings = timings
        self.result = result
    }

    enum CodingKeys: String, CodingKey {
        case state, model, prediction, reason, timings, result
        case requestId = "request_id"
        case requestClass = "request_class"
        case tenantId = "tenant_id"
        case deadlineUnixMs = "deadline_unix_ms"
    }
}

extension RequestClass: OpenAPIEnumeration {
    public static let schemaDescription = "Service class."
}

extension RequestState: OpenAPIEnumeration {
    public static let schemaDescription = "Life-cycle state of a request."
}

extension SubmitRequest: OpenAPIComponent {
    public static let schemaDescription = "A request to schedule."
    public static let schemaRefinements: [String: [SchemaRefinement]] = [
        "max_tokens": [.minimum(1)],
        "priority": [.minimum(Double(priorities.lowerBound)), .maximum(Double(priorities.upperBound))],
        "deadline_ms": [.exclusiveMinimum(0), .maximum(maxDeadlineMs)],
    ]
}

extension DecisionReason: OpenAPIComponent {
    public static let schemaDescription = "Why the scheduler decided as it did."
}

extension SubmitResponse: OpenAPIComponent {
    public static let schemaDescription = "The admission decision."
}

extension RequestTimings: OpenAPIComponent {
    public static let schemaDescription = "When a request passed each stage (Unix ms) and the derived waits."
}

extension RequestResult: OpenAPIComponent {
    public static let schemaDescription = "What the upstream answered."
}

extension StatusResponse: OpenAPIComponent {
    public static let schemaDescription = "State, timings and result of one request."
}
