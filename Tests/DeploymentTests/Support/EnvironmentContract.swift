import Foundation

/// Which environment variables a deployment file may set on a maitre service: its declared settings, the data
/// paths the set-up script exports (read by TextEngine, not a setting), keys a proxy config reads through
/// `os.environ/NAME`.
struct EnvironmentContract {
    var catalogs: [String: ServiceCatalog]
    /// Names every service may receive.
    var shared: Set<String>
    /// Names read by the proxy's deployment files (`api_key: os.environ/NAME`).
    var proxyConfigNames: Set<String>

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
        return EnvironmentContract(catalogs: try ServiceCatalog.all(), shared: shared, proxyConfigNames: proxyNames)
    }

    enum Verdict: Equatable {
        case declared
        case unknown
    }

    func verdict(service: String, name: String) -> Verdict {
        if catalogs[service]?.environmentNames.contains(name) == true || shared.contains(name) { return .declared }
        if service == "proxy" && proxyConfigNames.contains(name) { return .declared }
        return .unknown
    }

    /// Problems with the names `location` sets on `service`.
    func problems(service: String, names: [String], where location: String) -> [String] {
        names.sorted().filter { verdict(service: service, name: $0) == .unknown }.map { name in
            "\(location): \(service) has no setting \(name) (read from \(catalogs[service]?.origin ?? "nothing"))"
        }
    }

    func port(_ service: String) -> Int? { catalogs[service]?.port }
}
