import Foundation
import ProcessLauncher

/// One maitre service as deployed: its compose/Kubernetes name, executable, source folder, and the settings it
/// declares (environment names and the default port), read from the code rather than typed in here.
struct ServiceCatalog {
    var name: String
    var executable: String
    var folder: String
    var environmentNames: Set<String>
    var port: Int?
    /// Where the settings were read from, for messages.
    var origin: String

    static let services: [(name: String, executable: String, folder: String)] = [
        ("predictor", "maitre-predictor", "Predictor"),
        ("scheduler", "maitre-scheduler", "Scheduler"),
        ("proxy", "maitre-proxy", "Proxy"),
        ("mock-llm", "maitre-mock-llm", "MockLLM"),
    ]

    /// Every service's catalog: settings parsed from the Swift sources (`SettingSpec(...)` calls under
    /// `Services/<Folder>/` plus `CommonSettings`), joined with the `--help` output of the built executable when
    /// one is found (`$MAITRE_BIN_DIR`, else `.build/debug`), which also catches specs the parser cannot read.
    static func all() throws -> [String: ServiceCatalog] {
        let common = try commonSpecs()
        var result: [String: ServiceCatalog] = [:]
        for service in services {
            var names = Set<String>()
            var port: Int?
            var origins = ["sources"]
            let sourceFiles = RepositoryFiles.files(under: "Services/\(service.folder)", suffix: ".swift")
            for file in sourceFiles {
                let text = try RepositoryFiles.text(file)
                for spec in settingSpecs(in: text) { names.insert(spec.env) }
                if let declared = firstMatch(#"CommonSettings\.specs\(port:\s*(\d+)\)"#, in: text).flatMap(Int.init) {
                    port = declared
                    names.formUnion(common)
                }
            }
            if let help = helpOutput(service.executable) {
                origins.append("\(service.executable) --help")
                let parsed = parseHelp(help)
                names.formUnion(parsed.names)
                if let helpPort = parsed.port { port = helpPort }
            }
            result[service.name] = ServiceCatalog(
                name: service.name, executable: service.executable, folder: service.folder,
                environmentNames: names, port: port, origin: origins.joined(separator: " + ")
            )
        }
        return result
    }

    /// `(key, env)` of every `SettingSpec("key", env: "ENV", ...)` literal in a Swift source.
    static func settingSpecs(in text: String) -> [(key: String, env: String)] {
        allMatches(#"SettingSpec\(\s*"([a-z0-9-]+)"\s*,\s*env:\s*"([A-Z0-9_]+)""#, in: text).map { ($0[0], $0[1]) }
    }

    static func commonSpecs() throws -> Set<String> {
        let text = try RepositoryFiles.text("Shared/ServiceRuntime/Configuration/SettingSpec.swift")
        return Set(settingSpecs(in: text).map(\.env))
    }

    static func binaryFolder() -> String? {
        if let folder = ProcessInfo.processInfo.environment["MAITRE_BIN_DIR"], !folder.isEmpty { return folder }
        let debug = RepositoryFiles.url(".build/debug").path
        return FileManager.default.fileExists(atPath: debug) ? debug : nil
    }

    static func helpOutput(_ executable: String) -> String? {
        guard let folder = binaryFolder() else { return nil }
        let path = "\(folder)/\(executable)"
        guard FileManager.default.isExecutableFile(atPath: path),
            let result = try? RepositoryFiles.run(path, ["--help"]), result.status == 0
        else { return nil }
        return result.output
    }

    /// Reads `  --key (ENV)  help [default: value]` lines.
    static func parseHelp(_ text: String) -> (names: Set<String>, port: Int?) {
        var names = Set<String>()
        var port: Int?
        for line in text.split(separator: "\n").map(String.init) {
            guard let match = allMatches(#"^\s+--([a-z0-9-]+) \(([A-Z0-9_]+)\)"#, in: line).first else { continue }
            names.insert(match[1])
            if match[1] == "PORT", let value = firstMatch(#"\[default: (\d+)\]"#, in: line) { port = Int(value) }
        }
        return (names, port)
    }
}

/// The capture groups of every match of `pattern` in `text`.
func allMatches(_ pattern: String, in text: String, options: NSRegularExpression.Options = [.anchorsMatchLines])
    -> [[String]]
{
    guard let expression = try? NSRegularExpression(pattern: pattern, options: options) else { return [] }
    let nsText = text as NSString
    return expression.matches(in: text, range: NSRange(location: 0, length: nsText.length)).map { match in
        (1..<match.numberOfRanges).map { index in
            let range = match.range(at: index)
            return range.location == NSNotFound ? "" : nsText.substring(with: range)
        }
    }
}

/// The first capture group of the first match.
func firstMatch(_ pattern: String, in text: String) -> String? { allMatches(pattern, in: text).first?.first }
