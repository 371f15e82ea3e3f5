import Foundation

/// The limits of one API key; nil means unlimited.
public struct AccountLimits: Sendable, Equatable {
    public var key: String
    public var requestsPerMinute: Int?
    public var tokensPerMinute: Int?
    public var maxConcurrency: Int?

    public init(key: String, requestsPerMinute: Int? = nil, tokensPerMinute: Int? = nil, maxConcurrency: Int? = nil) {
        self.key = key
        self.requestsPerMinute = requestsPerMinute
        self.tokensPerMinute = tokensPerMinute
        self.maxConcurrency = maxConcurrency
    }

    /// Parses `key1:rpm=60:tpm=100000:concurrency=8,key2:rpm=...` (every limit optional).
    public static func parseList(_ text: String) throws(AccountSpecError) -> [AccountLimits] {
        var accounts: [AccountLimits] = []
        for item in text.split(separator: ",") {
            let fields = item.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let key = fields.first, !key.isEmpty, !key.contains("=") else {
                throw AccountSpecError(message: "'\(item)' does not start with an API key")
            }
            var account = AccountLimits(key: key)
            for field in fields.dropFirst() {
                let parts = field.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, let value = Int(parts[1]), value > 0 else {
                    throw AccountSpecError(message: "'\(field)' of key \(key) is not name=positive-integer")
                }
                try account.set(parts[0], value)
            }
            if accounts.contains(where: { $0.key == key }) {
                throw AccountSpecError(message: "key \(key) is listed twice")
            }
            accounts.append(account)
        }
        return accounts
    }

    /// Sets one limit by its spec name (`rpm`, `tpm`, `concurrency`).
    public mutating func set(_ name: String, _ value: Int) throws(AccountSpecError) {
        switch name.lowercased() {
        case "rpm", "requests_per_minute": requestsPerMinute = value
        case "tpm", "tokens_per_minute": tokensPerMinute = value
        case "concurrency", "max_concurrency": maxConcurrency = value
        default: throw AccountSpecError(message: "unknown limit '\(name)' for key \(key); use rpm, tpm or concurrency")
        }
    }
}

/// An account list that does not parse.
public struct AccountSpecError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
