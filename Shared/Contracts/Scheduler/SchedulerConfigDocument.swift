import Foundation

/// What one rung of the cost ladder does with a request, per congestion mode.
public enum LadderAction: String, Codable, Sendable, CaseIterable {
    case admit, `defer`, reject
}

/// One rung of the cost ladder: requests whose predicted cost is at most `maxCost` get these actions.
public struct LadderRungDocument: Codable, Sendable, Equatable {
    /// Upper bound of predicted cost (predicted output tokens at p50 plus prompt tokens); nil for the last rung.
    public var maxCost: Double?
    public var free: LadderAction
    public var moderate: LadderAction
    public var congested: LadderAction

    public init(maxCost: Double?, free: LadderAction, moderate: LadderAction, congested: LadderAction) {
        self.maxCost = maxCost
        self.free = free
        self.moderate = moderate
        self.congested = congested
    }

    enum CodingKeys: String, CodingKey {
        case free, moderate, congested
        case maxCost = "max_cost"
    }
}

/// The scheduler's hot-reloadable configuration: `POST /admin/config` takes it, validated, and returns the active one.
/// Every field is optional on input; absent fields keep their current value.
public struct SchedulerConfigDocument: Codable, Sendable, Equatable {
    public var allocationPolicy: String?
    public var orderingPolicy: String?
    public var interactiveInflightTokens: Int?
    public var heavyInflightTokens: Int?
    public var interactiveDeadlineMs: Double?
    public var heavyDeadlineMs: Double?
    public var maxQueueLength: Int?
    public var ladder: [LadderRungDocument]?
    public var extra: [String: JSONValue]?

    public init(
        allocationPolicy: String? = nil,
        orderingPolicy: String? = nil,
        interactiveInflightTokens: Int? = nil,
        heavyInflightTokens: Int? = nil,
        interactiveDeadlineMs: Double? = nil,
        heavyDeadlineMs: Double? = nil,
        maxQueueLength: Int? = nil,
        ladder: [LadderRungDocument]? = nil,
        extra: [String: JSONValue]? = nil
    ) {
        self.allocationPolicy = allocationPolicy
        self.orderingPolicy = orderingPolicy
        self.interactiveInflightTokens = interactiveInflightTokens
        self.heavyInflightTokens = heavyInflightTokens
        self.interactiveDeadlineMs = interactiveDeadlineMs
        self.heavyDeadlineMs = heavyDeadlineMs
        self.maxQueueLength = maxQueueLength
        self.ladder = ladder
        self.extra = extra
    }

    enum CodingKeys: String, CodingKey {
        case ladder, extra
        case allocationPolicy = "allocation_policy"
        case orderingPolicy = "ordering_policy"
        case interactiveInflightTokens = "interactive_inflight_tokens"
        case heavyInflightTokens = "heavy_inflight_tokens"
        case interactiveDeadlineMs = "interactive_deadline_ms"
        case heavyDeadlineMs = "heavy_deadline_ms"
        case maxQueueLength = "max_queue_length"
    }
}

/// `POST /reset` response: what the reset dropped.
public struct ResetResponse: Codable, Sendable, Equatable {
    public var reset: Bool
    public var droppedWaiting: Int

    public init(reset: Bool, droppedWaiting: Int) {
        self.reset = reset
        self.droppedWaiting = droppedWaiting
    }

    enum CodingKeys: String, CodingKey {
        case reset
        case droppedWaiting = "dropped_waiting"
    }
}

extension LadderAction: OpenAPIEnumeration {
    public static let schemaDescription = "What a cost-ladder rung does in a mode."
}

extension LadderRungDocument: OpenAPIComponent {
    public static let schemaDescription = "One rung of the cost ladder."
}

extension SchedulerConfigDocument: OpenAPIComponent {
    public static let schemaDescription = "The live-tunable policy (`GET`/`POST /admin/config`)."
}

extension ResetResponse: OpenAPIComponent {
    public static let schemaDescription = "What `POST /reset` dropped."
}
