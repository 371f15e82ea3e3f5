import Foundation

/// A PostgreSQL address as given in `DATABASE_URL`: `postgres://user[:password]@host[:port]/database[?sslmode=…]`.
/// Parsed and checked once, at start-up, so a typo is a clear error and not a connection failure later.
public struct DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    /// How the connection uses TLS (libpq's `sslmode` names).
    public enum TLSMode: String, Sendable, CaseIterable {
        /// Plain TCP.
        case disable
        /// TLS when the server offers it, else plain TCP.
        case prefer
        /// TLS or no connection.
        case require
    }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    /// The URL with its password masked, for logs and errors.
    public var description: String {
        let credentials = password == nil ? user : "\(user):***"
        return "postgres://\(credentials)@\(host):\(port)/\(database)?sslmode=\(tls.rawValue)"
    }

    /// Parses `text`; the error says what is wrong with it in one sentence.
    public init(_ text: String) throws(DatabaseURLError) {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            throw DatabaseURLError("is not a URL; expected postgres://user@host:5432/database")
        }
        guard scheme == "postgres" || scheme == "postgresql" else {
            throw DatabaseURLError("must start with postgres:// (found \(scheme)://)")
        }
        guard let host = components.host, !host.isEmpty else {
            throw DatabaseURLError("names no host; expected postgres://user@host:5432/database")
        }
        guard let user = components.user, !user.isEmpty else {
            throw DatabaseURLError("names no user; expected postgres://user@host:5432/database")
        }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw DatabaseURLError("names no database; expected postgres://user@host:5432/database")
        }
        let port = components.port ?? 5432
        guard (1...65_535).contains(port) else { throw DatabaseURLError("has port \(port), outside 1-65535") }
        var tls = TLSMode.prefer
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(TLSMode.init(rawValue:)) else {
                    let choices = TLSMode.allCases.map(\.rawValue).joined(separator: ", ")
                    throw DatabaseURLError("has sslmode=\(item.value ?? ""); use one of \(choices)")
                }
                tls = mode
            default:
                throw DatabaseURLError("has an unknown parameter '\(item.name)' (only sslmode is read)")
            }
        }
        self.host = host
        self.port = port
        self.user = user.removingPercentEncoding ?? user
        self.password = components.password.map { $0.removingPercentEncoding ?? $0 }
        self.database = database.removingPercentEncoding ?? database
        self.tls = tls
    }
}

/// Why a `DATABASE_URL` was refused.
public struct DatabaseURLError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "DATABASE_URL \(message)" }
}

extension ResolvedSettings {
    /// The PostgreSQL address under `key`, nil when it is empty; a malformed one is an error naming the setting.
    public func databaseURL(_ key: String) throws -> DatabaseURL? {
        guard let text = try optionalString(key) else { return nil }
        do {
            return try DatabaseURL(text)
        } catch {
            throw SettingError(key: key, message: error.message)
        }
    }
}
