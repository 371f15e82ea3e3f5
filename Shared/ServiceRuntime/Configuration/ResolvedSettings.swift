import Foundation
import Yams

/// A setting that could not be read, named so the user can fix it.
public struct SettingError: Error, CustomStringConvertible, Equatable {
    public var key: String
    public var message: String

    public init(key: String, message: String) {
        self.key = key
        self.message = message
    }

    public var description: String { "setting '\(key)': \(message)" }
}

/// Settings merged from defaults < config file < environment < command-line flags, with typed accessors
/// that name the offending setting when a value does not parse.
public struct ResolvedSettings: Sendable {
    public let specs: [SettingSpec]
    private var values: [String: String]
    /// Where each value came from (`default`, `file`, `env`, `flag`), for the start-up log.
    public private(set) var origins: [String: String]

    /// Resolves `specs` from the process's arguments (without the executable name) and environment.
    public init(specs: [SettingSpec], arguments: [String], environment: [String: String]) throws {
        self.specs = specs
        self.values = [:]
        self.origins = [:]
        for spec in specs {
            values[spec.key] = spec.defaultValue
            origins[spec.key] = "default"
        }
        let flags = try Self.parseFlags(arguments, specs: specs)
        let configPath = flags["config"] ?? environment["CONFIG_FILE"] ?? ""
        if !configPath.isEmpty {
            for (key, value) in try Self.readConfigFile(configPath, specs: specs) {
                values[key] = value
                origins[key] = "file"
            }
        }
        for spec in specs {
            if let value = environment[spec.environment] {
                values[spec.key] = value
                origins[spec.key] = "env"
            }
        }
        for (key, value) in flags {
            values[key] = value
            origins[key] = "flag"
        }
    }

    /// Settings from defaults and explicit overrides only, for tests and embedding.
    public static func defaults(_ specs: [SettingSpec], overriding overrides: [String: String] = [:]) throws
        -> ResolvedSettings
    {
        let arguments = overrides.sorted { $0.key < $1.key }.flatMap { ["--\($0.key)", $0.value] }
        return try ResolvedSettings(specs: specs, arguments: arguments, environment: [:])
    }

    static func parseFlags(_ arguments: [String], specs: [SettingSpec]) throws -> [String: String] {
        let known = Set(specs.map(\.key))
        var result: [String: String] = [:]
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            guard argument.hasPrefix("--") else {
                throw SettingError(key: argument, message: "unexpected argument; settings are given as --key value")
            }
            var key = String(argument.dropFirst(2))
            var value: String?
            if let equals = key.firstIndex(of: "=") {
                value = String(key[key.index(after: equals)...])
                key = String(key[..<equals])
            }
            guard known.contains(key) else {
                throw SettingError(key: key, message: "unknown setting; --help lists them all")
            }
            if value == nil {
                index += 1
                guard index < arguments.count else {
                    throw SettingError(key: key, message: "missing value after --\(key)")
                }
                value = arguments[index]
            }
            result[key] = value
            index += 1
        }
        return result
    }

    static func readConfigFile(_ path: String, specs: [SettingSpec]) throws -> [String: String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw SettingError(key: "config", message: "cannot read file \(path)")
        }
        let loaded: Any?
        do {
            loaded = try Yams.load(yaml: text)
        } catch {
            throw SettingError(key: "config", message: "\(path) is not valid YAML: \(error)")
        }
        guard let mapping = loaded as? [String: Any] else {
            if loaded == nil { return [:] }
            throw SettingError(key: "config", message: "\(path) must hold a mapping of setting keys to values")
        }
        let known = Set(specs.map(\.key))
        var result: [String: String] = [:]
        for (rawKey, rawValue) in mapping {
            let key = rawKey.replacingOccurrences(of: "_", with: "-")
            guard known.contains(key) else {
                throw SettingError(key: rawKey, message: "unknown setting in \(path)")
            }
            switch rawValue {
            case let list as [Any]: result[key] = list.map { "\($0)" }.joined(separator: ",")
            default: result[key] = "\(rawValue)"
            }
        }
        return result
    }

    private func raw(_ key: String) throws -> String {
        guard let value = values[key] else { throw SettingError(key: key, message: "no such setting is declared") }
        return value.trimmingCharacters(in: .whitespaces)
    }

    public func string(_ key: String) throws -> String { try raw(key) }

    /// The value, or nil when it is empty.
    public func optionalString(_ key: String) throws -> String? {
        let value = try raw(key)
        return value.isEmpty ? nil : value
    }

    public func int(_ key: String, in range: ClosedRange<Int>? = nil) throws -> Int {
        let text = try raw(key)
        guard let value = Int(text) else { throw SettingError(key: key, message: "'\(text)' is not a whole number") }
        if let range, !range.contains(value) {
            throw SettingError(key: key, message: "\(value) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    public func double(_ key: String, in range: ClosedRange<Double>? = nil) throws -> Double {
        let text = try raw(key)
        guard let value = Double(text), value.isFinite else {
            throw SettingError(key: key, message: "'\(text)' is not a number")
        }
        if let range, !range.contains(value) {
            throw SettingError(key: key, message: "\(value) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    public func bool(_ key: String) throws -> Bool {
        switch try raw(key).lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off", "": return false
        case let other: throw SettingError(key: key, message: "'\(other)' is not true or false")
        }
    }

    /// A comma-separated list, empty items dropped.
    public func list(_ key: String) throws -> [String] {
        try raw(key).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    public func choice(_ key: String, of choices: [String]) throws -> String {
        let value = try raw(key)
        guard choices.contains(value) else {
            throw SettingError(key: key, message: "'\(value)' is not one of \(choices.joined(separator: ", "))")
        }
        return value
    }

    /// The help text `--help` prints: every setting with its flag, environment variable and default.
    public static func helpText(service: String, specs: [SettingSpec]) -> String {
        var lines = ["Settings of \(service) (precedence: defaults < --config file < environment < flags):", ""]
        let width = specs.map { $0.flag.count + $0.environment.count + 3 }.max() ?? 0
        for spec in specs {
            let left = "\(spec.flag) (\(spec.environment))"
            let padded = left.padding(toLength: max(width, left.count), withPad: " ", startingAt: 0)
            let shown = spec.defaultValue.isEmpty ? "" : " [default: \(spec.defaultValue)]"
            lines.append("  \(padded)  \(spec.help)\(shown)")
        }
        return lines.joined(separator: "\n")
    }
}
