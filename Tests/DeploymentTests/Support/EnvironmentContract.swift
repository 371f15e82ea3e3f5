import Foundation

/// Which environment variables a deployment file may set on a maitre service: its declared settings, the data
/// paths the set-up script exports (read by TextEngine, not a setting), keys a proxy config reads through
/// `os.environ/NAME`, and the pending names of `deploy/check/pending-settings.txt`.
struct EnvironmentContract {
    var catalogs: [String: ServiceCatalog]
    /// Names every service may receive.
    var shared: Set<String>
    /// Names read by the proxy's deployment files (`api_key: os.environ/NAME`).
    var proxyConfigNames: Set<String>
    /// service -> names promised but not declared yet.
    var pending: [String: Set<String>]

    static func load() throws -> EnvironmentContract {
        let setup = try RepositoryFiles.text("scripts/lib/setup.sh")
        var shared = Set(allMatches(#"export ([A-Z][A-Z0-9_]+)="#, in: setup).map { $0[0] })
        shared.remove("MAITRE_ROOT")
        shared.insert("SWIFT_BACKTRACE")
        var proxyNames = Set<String>()
        for file in RepositoryFiles.files(under: "deploy/config", suffix: ".yaml") {
            proxyNames.formUnion(
                allMatches(#"os\.environ/([A-Z][A-Z0-9_]*)"#, in: try RepositoryFiles.text(file)).map { $0[0] })
        }
        var pending: [String: Set<String>] = [:]
        for line in try RepositoryFiles.text("deploy/check/pending-settings.txt").split(separator: "\n") {
            let parts = line.split(separator: " ").map(String.init)
            guard parts.count == 2, !line.hasPrefix("#") else { continue }
            pending[parts[0], default: []].insert(parts[1])
        }
        return EnvironmentContract(
            catalogs: try ServiceCatalog.all(), shared: shared, proxyConfigNames: proxyNames, pending: pending)
    }

    enum Verdict: Equatable {
        case declared
        case pending
        case unknown
    }

    func verdict(service: String, name: String) -> Verdict {
        if catalogs[service]?.environmentNames.contains(name) == true || shared.contains(name) { return .declared }
        if service == "proxy" && proxyConfigNames.contains(name) { return .declared }
        if pending[service]?.contains(name) == true { return .pending }
        return .unknown
    }

    /// Problems with the names `location` sets on `service` (pending names are not problems).
    func problems(service: String, names: [String], where location: String) -> [String] {
        names.sorted().filter { verdict(service: service, name: $0) == .unknown }.map { name in
            "\(location): \(service) has no setting \(name) (read from \(catalogs[service]?.origin ?? "nothing"))"
        }
    }

    /// `service NAME` for each pending name among `names`.
    func pendingNames(service: String, names: [String]) -> [String] {
        names.sorted().filter { verdict(service: service, name: $0) == .pending }.map { "\(service) \($0)" }
    }

    func port(_ service: String) -> Int? { catalogs[service]?.port }
}
