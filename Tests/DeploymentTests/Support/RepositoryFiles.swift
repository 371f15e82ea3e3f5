import Foundation
import ProcessLauncher
import Yams

/// The repository's files as the deployment checks read them: text, YAML (normalised to JSON-compatible
/// values) and helper processes.
enum RepositoryFiles {
    /// The repository root, found from this file's path (Tests/DeploymentTests/Support/RepositoryFiles.swift).
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func url(_ relativePath: String) -> URL { root.appendingPathComponent(relativePath) }

    static func exists(_ relativePath: String) -> Bool {
        FileManager.default.fileExists(atPath: url(relativePath).path)
    }

    static func text(_ relativePath: String) throws -> String {
        try String(contentsOf: url(relativePath), encoding: .utf8)
    }

    /// One YAML document as plain values: `[String: Any]`, `[Any]`, `String`, `Int`, `Double`, `Bool`, `NSNull`.
    static func yaml(_ relativePath: String) throws -> Any { try parseYAML(try text(relativePath)) }

    static func parseYAML(_ text: String) throws -> Any { normalised(try Yams.load(yaml: text)) }

    /// Every document of a multi-document YAML file, empty documents dropped.
    static func yamlDocuments(_ relativePath: String) throws -> [Any] {
        try parseYAMLDocuments(try text(relativePath))
    }

    static func parseYAMLDocuments(_ text: String) throws -> [Any] {
        try Yams.load_all(yaml: text).map(normalised).filter { !($0 is NSNull) }
    }

    static func normalised(_ value: Any?) -> Any {
        switch value {
        case nil, is NSNull: return NSNull()
        case let mapping as [AnyHashable: Any]:
            var result: [String: Any] = [:]
            for (key, item) in mapping { result["\(key.base)"] = normalised(item) }
            return result
        case let list as [Any]: return list.map(normalised)
        case let text as String: return text
        case let flag as Bool: return flag
        case let number as Int: return number
        case let number as Double: return number
        case let other?: return "\(other)"
        }
    }

    /// Files under `folder` (relative) whose names end with `suffix`, as relative paths, sorted.
    static func files(under folder: String, suffix: String) -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: url(folder).path) else { return [] }
        return enumerator.compactMap { $0 as? String }.filter { $0.hasSuffix(suffix) }.map { "\(folder)/\($0)" }
            .sorted()
    }

    /// The first executable called `name` on the PATH.
    static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for folder in path.split(separator: ":") {
            let candidate = "\(folder)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs an executable to completion with `input` on its standard input, from the repository root.
    static func run(_ executable: String, _ arguments: [String], input: Data? = nil) throws -> ChildProcess.Finished {
        try ChildProcess.run(
            executable, arguments: arguments, workingDirectory: root.path, input: input, separateErrors: true)
    }

    /// `KEY=value` lines of a dotenv file (comments and blank lines skipped).
    static func dotenv(_ relativePath: String) throws -> [String: String] {
        var result: [String: String] = [:]
        for line in try text(relativePath).split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#"), let equals = trimmed.firstIndex(of: "=") else { continue }
            result[String(trimmed[..<equals])] = String(trimmed[trimmed.index(after: equals)...])
        }
        return result
    }
}

/// Walks plain YAML/JSON values by key path.
extension Dictionary where Key == String, Value == Any {
    func mapping(_ key: String) -> [String: Any]? { self[key] as? [String: Any] }
    func list(_ key: String) -> [Any]? { self[key] as? [Any] }
    func string(_ key: String) -> String? {
        switch self[key] {
        case let text as String: return text
        case let number as Int: return String(number)
        default: return nil
        }
    }

    /// The value at a dotted path (`spec.template.metadata.labels`).
    func value(at path: String) -> Any? {
        var current: Any? = self
        for part in path.split(separator: ".") {
            current = (current as? [String: Any])?[String(part)]
        }
        return current
    }
}
