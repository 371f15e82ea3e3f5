import Foundation
import MockLLMCore
import ServiceRuntime
import Yams

/// Reads the `accounts` setting: an inline list (`key:rpm=60:tpm=1000:concurrency=4,...`) or a YAML file
/// holding either a mapping `{key: {rpm: 60, tpm: 1000, concurrency: 4}}` or a list of `{key:, rpm:, ...}`.
enum AccountsLoading {
    static func load(_ spec: String?) throws -> [AccountLimits] {
        guard let spec, !spec.isEmpty else { return [] }
        let looksLikeFile =
            spec.hasSuffix(".yaml") || spec.hasSuffix(".yml") || FileManager.default.fileExists(atPath: spec)
        do {
            if looksLikeFile { return try fromYAML(path: spec) }
            return try AccountLimits.parseList(spec)
        } catch let error as AccountSpecError {
            throw SettingError(key: "accounts", message: error.message)
        }
    }

    static func fromYAML(path: String) throws -> [AccountLimits] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw SettingError(key: "accounts", message: "cannot read file \(path)")
        }
        let loaded = try Yams.load(yaml: text)
        var entries: [(String, [String: Any])] = []
        if let mapping = loaded as? [String: Any] {
            let inner = (mapping["accounts"] as? [String: Any]) ?? (mapping["accounts"] == nil ? mapping : nil)
            if let list = mapping["accounts"] as? [[String: Any]] {
                entries = try list.map { try keyed($0, path: path) }
            } else if let inner {
                for (key, value) in inner {
                    entries.append((key, value as? [String: Any] ?? [:]))
                }
            }
        } else if let list = loaded as? [[String: Any]] {
            entries = try list.map { try keyed($0, path: path) }
        } else {
            throw SettingError(
                key: "accounts", message: "\(path) must hold a mapping of keys to limits or a list of accounts")
        }
        var accounts: [AccountLimits] = []
        for (key, fields) in entries.sorted(by: { $0.0 < $1.0 }) {
            var account = AccountLimits(key: key)
            for (name, value) in fields where name != "key" {
                guard let number = value as? Int, number > 0 else {
                    throw SettingError(
                        key: "accounts", message: "\(name) of key \(key) in \(path) must be a positive integer")
                }
                try account.set(name, number)
            }
            accounts.append(account)
        }
        return accounts
    }

    private static func keyed(_ entry: [String: Any], path: String) throws -> (String, [String: Any]) {
        guard let key = entry["key"] as? String, !key.isEmpty else {
            throw SettingError(key: "accounts", message: "every account in \(path) needs a key")
        }
        return (key, entry)
    }
}
