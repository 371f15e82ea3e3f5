import Foundation

/// Consistency checks of `docker-compose.yml` against the services' settings, the files it names and
/// `.env.example`. Each check returns readable problems; an empty list means the file is consistent.
struct ComposeChecks {
    var compose: [String: Any]
    var dotenv: [String: String]
    var contract: EnvironmentContract

    static let maitreServices = ["predictor", "scheduler", "proxy", "mock-llm"]

    /// The compose document with `${NAME}`, `${NAME:-default}` and `${NAME-default}` replaced as compose does
    /// with `.env` values, and the names it referenced.
    static func interpolated(_ value: Any, dotenv: [String: String], referenced: inout Set<String>) -> Any {
        switch value {
        case let mapping as [String: Any]:
            return mapping.mapValues { interpolated($0, dotenv: dotenv, referenced: &referenced) }
        case let list as [Any]:
            return list.map { interpolated($0, dotenv: dotenv, referenced: &referenced) }
        case let text as String:
            var result = text
            for match in allMatches(#"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}"#, in: text) {
                referenced.insert(match[0])
                let whole = match[1].isEmpty ? "${\(match[0])}" : "${\(match[0])\(match[1])\(match[2])}"
                let set = dotenv[match[0]]
                let replacement: String
                switch match[1] {
                case ":-": replacement = (set?.isEmpty == false) ? set! : match[2]
                case "-": replacement = set ?? match[2]
                default: replacement = set ?? ""
                }
                result = result.replacingOccurrences(of: whole, with: replacement)
            }
            return result
        default:
            return value
        }
    }

    var services: [String: Any] { compose.mapping("services") ?? [:] }

    func service(_ name: String) -> [String: Any] { services.mapping(name) ?? [:] }

    /// Environment of a service as a name -> value mapping (accepts the list form `NAME=value` too).
    func environment(_ name: String) -> [String: String] {
        let raw = service(name)["environment"]
        if let mapping = raw as? [String: Any] {
            return mapping.mapValues { value in
                if let text = value as? String { return text }
                if value is NSNull { return "" }
                return "\(value)"
            }
        }
        var result: [String: String] = [:]
        for item in (raw as? [Any]) ?? [] {
            let text = "\(item)"
            let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
            result[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        return result
    }

    /// `(host part, container port)` of each `ports:` entry in short syntax.
    func publishedPorts(_ name: String) -> [(host: String, container: String)] {
        ((service(name)["ports"] as? [Any]) ?? []).map { entry in
            let text = "\(entry)"
            guard let colon = text.lastIndex(of: ":") else { return ("", text) }
            return (String(text[..<colon]), String(text[text.index(after: colon)...]))
        }
    }

    func problems() -> [String] {
        var problems: [String] = []
        for name in Self.maitreServices {
            guard services[name] != nil else {
                problems.append("service \(name) is missing")
                continue
            }
            problems += serviceProblems(name)
        }
        problems += scalingProblems()
        problems += dependencyProblems()
        problems += urlProblems()
        problems += fileProblems()
        problems += dataVolumeProblems()
        problems += profileProblems()
        return problems
    }

    func serviceProblems(_ name: String) -> [String] {
        var problems: [String] = []
        let definition = service(name)
        let environment = environment(name)
        guard let executable = ServiceCatalog.services.first(where: { $0.name == name })?.executable else { return [] }
        let command = (definition["command"] as? [Any])?.map { "\($0)" } ?? []
        if command.first != executable {
            problems.append("\(name): command should start with \(executable), is \(command)")
        }
        guard let port = contract.port(name) else { return ["\(name): no default port found in its settings"] }
        if let set = environment["PORT"], set != String(port) {
            problems.append("\(name): PORT is \(set) but the service's default is \(port)")
        }
        if environment["HOST"] != "0.0.0.0" {
            problems.append(
                "\(name): HOST must be 0.0.0.0 in a container (the default 127.0.0.1 is unreachable from other containers)"
            )
        }
        let listening = Int(environment["PORT"] ?? "") ?? port
        let test = ((definition.value(at: "healthcheck.test") as? [Any]) ?? []).map { "\($0)" }.joined(separator: " ")
        if !test.contains("http://127.0.0.1:\(listening)/health") {
            problems.append("\(name): healthcheck should request http://127.0.0.1:\(listening)/health, is '\(test)'")
        }
        if definition["restart"] == nil { problems.append("\(name): no restart policy") }
        for published in publishedPorts(name) where published.container != String(listening) {
            problems.append(
                "\(name): publishes container port \(published.container), the service listens on \(listening)")
        }
        problems += contract.problems(service: name, names: Array(environment.keys), where: "docker-compose.yml")
        return problems
    }

    /// `--scale <service>=N` (the proxy always; the scheduler and predictor with the postgres profile) needs no fixed
    /// container name and no single fixed host port.
    func scalingProblems() -> [String] {
        var problems: [String] = []
        for name in ["proxy", "scheduler", "predictor"] {
            if service(name)["container_name"] != nil {
                problems.append("\(name): container_name prevents --scale \(name)=N")
            }
            for published in publishedPorts(name) {
                let hostPort = published.host.split(separator: ":").last.map(String.init) ?? ""
                if !hostPort.isEmpty && !hostPort.contains("-") {
                    problems.append(
                        "\(name): fixed host port \(hostPort) lets only one replica start; publish a range or none")
                }
            }
        }
        return problems
    }

    /// Every `depends_on` waits for a health check that exists.
    func dependencyProblems() -> [String] {
        var problems: [String] = []
        for (name, value) in services {
            guard let definition = value as? [String: Any], let dependsOn = definition["depends_on"] else { continue }
            guard let mapping = dependsOn as? [String: Any] else {
                problems.append("\(name): depends_on must be the long form with condition: service_healthy")
                continue
            }
            for (target, condition) in mapping {
                if (condition as? [String: Any])?.string("condition") != "service_healthy" {
                    problems.append("\(name): depends_on \(target) without condition: service_healthy")
                }
                if services.mapping(target) == nil {
                    problems.append("\(name): depends_on unknown service \(target)")
                } else if service(target)["healthcheck"] == nil {
                    problems.append("\(name): depends_on \(target), which has no healthcheck")
                }
            }
        }
        return problems
    }

    /// A URL naming another service must use the port that service listens on.
    func urlProblems() -> [String] {
        var problems: [String] = []
        for name in Self.maitreServices {
            for (key, value) in environment(name) {
                for match in allMatches(#"https?://([a-z0-9-]+):(\d+)"#, in: value) {
                    let (host, port) = (match[0], match[1])
                    guard Self.maitreServices.contains(host) else { continue }
                    let listening = environment(host)["PORT"] ?? contract.port(host).map(String.init) ?? "?"
                    if port != listening {
                        problems.append("\(name): \(key) names \(host):\(port), but \(host) listens on \(listening)")
                    }
                }
            }
        }
        return problems
    }

    /// Bind-mount sources, build files, and container paths inside bind mounts must exist.
    func fileProblems() -> [String] {
        var problems: [String] = []
        for (name, value) in services {
            guard let definition = value as? [String: Any] else { continue }
            if let build = definition.mapping("build") {
                let context = build.string("context") ?? "."
                let dockerfile = build.string("dockerfile") ?? "Dockerfile"
                if !RepositoryFiles.exists("\(context)/\(dockerfile)") {
                    problems.append("\(name): build file \(context)/\(dockerfile) is missing")
                }
            }
            var mounts: [(source: String, target: String)] = []
            for volume in (definition["volumes"] as? [Any]) ?? [] {
                let parts = "\(volume)".split(separator: ":").map(String.init)
                guard parts.count >= 2 else { continue }
                if parts[0].hasPrefix(".") || parts[0].hasPrefix("/") {
                    mounts.append((parts[0], parts[1]))
                    if !RepositoryFiles.exists(parts[0]) {
                        problems.append("\(name): bind mount source \(parts[0]) is missing")
                    }
                } else if compose.mapping("volumes")?[parts[0]] == nil {
                    problems.append("\(name): volume \(parts[0]) is not declared under volumes:")
                }
            }
            for (key, value) in environment(name) where value.hasPrefix("/etc/") {
                guard let mount = mounts.first(where: { value.hasPrefix($0.target + "/") }) else { continue }
                let hostPath = mount.source + value.dropFirst(mount.target.count)
                if !RepositoryFiles.exists(hostPath) {
                    problems.append("\(name): \(key)=\(value) is \(hostPath) on the host, which is missing")
                }
            }
        }
        return problems
    }

    /// The SQLite data of the predictor and the scheduler lives in named volumes mounted at DATA_DIR.
    func dataVolumeProblems() -> [String] {
        var problems: [String] = []
        for name in ["predictor", "scheduler"] {
            guard let dataDirectory = environment(name)["DATA_DIR"] else {
                problems.append("\(name): DATA_DIR is not set")
                continue
            }
            let named = ((service(name)["volumes"] as? [Any]) ?? []).map {
                "\($0)".split(separator: ":").map(String.init)
            }
            .filter { $0.count >= 2 && !$0[0].hasPrefix(".") && !$0[0].hasPrefix("/") && $0[1] == dataDirectory }
            if named.isEmpty { problems.append("\(name): no named volume mounted at DATA_DIR \(dataDirectory)") }
        }
        return problems
    }

    /// Prometheus and Grafana only in the `observability` profile, PostgreSQL only in `postgres`; the maitre services
    /// in every profile.
    func profileProblems() -> [String] {
        var problems: [String] = []
        for (name, profile) in [
            ("prometheus", "observability"), ("grafana", "observability"), ("postgres", "postgres"),
        ] {
            let profiles = (service(name)["profiles"] as? [Any])?.map { "\($0)" } ?? []
            if profiles != [profile] {
                problems.append("\(name): should be in profile \(profile) only, is in \(profiles)")
            }
        }
        for name in Self.maitreServices where service(name)["profiles"] != nil {
            problems.append("\(name): must not be behind a profile")
        }
        return problems
    }
}
