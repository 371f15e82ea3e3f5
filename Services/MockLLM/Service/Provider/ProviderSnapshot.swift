import Contracts
import MockLLMCore

/// Running totals of the simulated provider.
public struct ProviderTotals: Sendable, Equatable {
    /// How a request ended.
    public enum Outcome: String, Sendable, CaseIterable {
        case completed, rateLimited = "rate_limited", unauthorized, overloaded
        case injectedError = "injected_error", hung, reset, disconnected
    }

    public var outcomes: [String: Int] = [:]
    public var promptTokens = 0
    public var completionTokens = 0

    mutating func record(_ outcome: Outcome, promptTokens: Int, completionTokens: Int) {
        outcomes[outcome.rawValue, default: 0] += 1
        self.promptTokens += promptTokens
        self.completionTokens += completionTokens
    }
}

/// One key's state, with the key redacted.
public struct AccountSnapshot: Sendable {
    public var key: String
    public var inFlight: Int
    public var status: RateLimitStatus
}

/// What `/metrics` shows of the provider.
public struct ProviderSnapshot: Sendable {
    public var inFlight: Int
    public var queueDepth: Int
    public var totals: ProviderTotals
    public var accounts: [AccountSnapshot]

    /// The JSON `state` of `GET /metrics`.
    public var json: JSONValue {
        var outcomes: [String: JSONValue] = [:]
        for (name, count) in totals.outcomes { outcomes[name] = .number(Double(count)) }
        let accountValues: [JSONValue] = accounts.map { account in
            var fields: [String: JSONValue] = [
                "key": .string(account.key), "in_flight": .number(Double(account.inFlight)),
            ]
            if let remaining = account.status.remainingRequests {
                fields["remaining_requests"] = .number(Double(remaining))
            }
            if let remaining = account.status.remainingTokens {
                fields["remaining_tokens"] = .number(Double(remaining))
            }
            return .object(fields)
        }
        return .object([
            "in_flight": .number(Double(inFlight)),
            "queue_depth": .number(Double(queueDepth)),
            "requests_by_outcome": .object(outcomes),
            "prompt_tokens_total": .number(Double(totals.promptTokens)),
            "completion_tokens_total": .number(Double(totals.completionTokens)),
            "accounts": .array(accountValues),
        ])
    }
}
