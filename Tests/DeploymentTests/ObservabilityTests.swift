import Foundation
import ProcessLauncher
import Testing

/// The compose profile `observability`: Prometheus scrapes every service (every proxy replica through DNS),
/// Grafana's provisioning points at it, and the dashboard queries metrics the services emit.
@Suite struct ObservabilityTests {
    static let prometheusFile = "deploy/prometheus/prometheus.yml"
    static let dashboardFile = "deploy/grafana/dashboards/maitre.json"

    static func dashboard() throws -> [String: Any] {
        let data = try Data(contentsOf: RepositoryFiles.url(dashboardFile))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func panels() throws -> [[String: Any]] {
        ((try dashboard())["panels"] as? [[String: Any]] ?? []).filter { $0.string("type") != "row" }
    }

    static func expressions() throws -> [String] {
        try panels().flatMap { (($0["targets"] as? [[String: Any]]) ?? []).compactMap { $0.string("expr") } }
    }

    @Test func prometheusScrapesEveryServiceOnItsPortAndEveryProxyReplica() throws {
        let compose = try ComposeFileTests.loadCompose().document
        let config = try #require(try RepositoryFiles.yaml(Self.prometheusFile) as? [String: Any])
        let jobs = (config["scrape_configs"] as? [[String: Any]]) ?? []
        for service in ComposeChecks.maitreServices {
            let port = try #require(compose.value(at: "services.\(service).environment.PORT") as? String)
            let job = try #require(jobs.first { $0.string("job_name") == service }, "no scrape job for \(service)")
            if service == "proxy" {
                let discovery = try #require(
                    (job["dns_sd_configs"] as? [[String: Any]])?.first, "the proxy job must use dns_sd_configs")
                #expect((discovery["names"] as? [Any])?.map { "\($0)" } == ["proxy"])
                #expect(discovery.string("type") == "A")
                #expect(discovery.string("port") == port)
                #expect(job["static_configs"] == nil, "a static proxy target would miss scaled replicas")
            } else {
                let targets =
                    ((job["static_configs"] as? [[String: Any]])?.first?["targets"] as? [Any])?.map { "\($0)" } ?? []
                #expect(targets == ["\(service):\(port)"])
            }
            #expect((job.value(at: "params.format") as? [Any])?.map { "\($0)" } == ["prometheus"])
        }
    }

    @Test(.enabled(if: RepositoryFiles.which("promtool") != nil, "promtool is not on the PATH"))
    func promtoolAcceptsTheConfigAndEveryDashboardQuery() throws {
        let promtool = try #require(RepositoryFiles.which("promtool"))
        let config = try RepositoryFiles.run(promtool, ["check", "config", "--syntax-only", Self.prometheusFile])
        #expect(config.status == 0, "\(config.output)\(config.errors)")
        var rules = "groups:\n  - name: dashboard\n    rules:\n"
        for (index, expression) in try Self.expressions().enumerated() {
            let quoted = String(
                data: try JSONSerialization.data(withJSONObject: [expression], options: []), encoding: .utf8)!
                .dropFirst().dropLast()
            rules += "      - record: maitre:dashboard_query_\(index)\n        expr: \(quoted)\n"
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(
            "maitre-dashboard-rules-\(UUID().uuidString).yml")
        try rules.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let check = try RepositoryFiles.run(promtool, ["check", "rules", file.path])
        #expect(check.status == 0, "\(check.output)\(check.errors)")
    }

    @Test func grafanaProvisioningPointsAtPrometheusAndTheMountedDashboard() throws {
        let compose = try ComposeFileTests.loadCompose().document
        let source = try #require(
            try RepositoryFiles.yaml("deploy/grafana/provisioning/datasources/prometheus.yaml") as? [String: Any])
        let datasource = try #require((source["datasources"] as? [[String: Any]])?.first)
        #expect(datasource.string("url") == "http://prometheus:9090")
        #expect(compose.value(at: "services.prometheus") != nil)
        let providers = try #require(
            try RepositoryFiles.yaml("deploy/grafana/provisioning/dashboards/maitre.yaml") as? [String: Any])
        let path = try #require(
            (providers["providers"] as? [[String: Any]])?.first?.value(at: "options.path") as? String)
        let mounts = ((compose.value(at: "services.grafana.volumes") as? [Any]) ?? []).map {
            "\($0)".split(separator: ":").map(String.init)
        }
        #expect(mounts.contains { $0.count >= 2 && $0[0] == "./deploy/grafana/dashboards" && $0[1] == path })
        let home = try #require(
            compose.value(at: "services.grafana.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH") as? String)
        #expect(
            RepositoryFiles.exists("deploy/grafana/dashboards/" + (home as NSString).lastPathComponent)
                && home.hasPrefix(path + "/"))
        let uid = datasource.string("uid")
        for panel in try Self.panels() {
            #expect(
                panel.value(at: "datasource.uid") as? String == uid,
                "panel \(panel.string("title") ?? "?") uses another datasource")
        }
    }

    @Test func committedDashboardIsWhatItsGeneratorWrites() throws {
        let python = try #require(RepositoryFiles.which("python3"))
        let result = try RepositoryFiles.run(python, ["deploy/grafana/make_dashboard.py", "--print"])
        #expect(result.status == 0, "\(result.errors)")
        #expect(
            result.output == (try RepositoryFiles.text(Self.dashboardFile)),
            "rerun python3 deploy/grafana/make_dashboard.py")
    }

    @Test func dashboardShowsWhatOperatorsAskFor() throws {
        let titles = try Self.panels().compactMap { $0.string("title")?.lowercased() }
        for topic in [
            "queue depth per class", "congestion mode", "budgets in use", "aimd window per account",
            "latency percentiles", "rejections by reason",
        ] {
            #expect(titles.contains { $0.contains(topic) }, "no panel about \(topic)")
        }
        let latency = try Self.expressions().filter { $0.contains("histogram_quantile") }
        #expect(latency.count >= 3)
    }

    @Test func dashboardQueriesOnlyMetricsTheServicesEmit() throws {
        let catalog = try MetricCatalog.load()
        let used = Set(try Self.expressions().flatMap(MetricCatalog.metricNames))
        #expect(used.count >= 10)
        let unknown = used.filter { !catalog.isEmitted($0) }.sorted()
        #expect(unknown == [], "not emitted by any service")
        #expect(!catalog.isEmitted("proxy_no_such_metric_total"))
        #expect(catalog.isEmitted("http_requests_total") && catalog.isEmitted("http_request_duration_seconds_bucket"))
    }
}

/// Metric names declared in the Swift sources: string literals of metric labels and descriptor names, matched
/// with the prefixes and suffixes Prometheus adds (namespace, `_total`, unit, `_bucket`/`_sum`/`_count`).
struct MetricCatalog {
    var literals: Set<String>

    /// Metric namespaces and the folder of the code that emits them.
    static let namespaces = [
        "http": "Shared/ServiceRuntime", "proxy": "Services/Proxy", "scheduler": "Services/Scheduler",
        "predictor": "Services/Predictor", "mock_llm": "Services/MockLLM",
    ]
    /// Every string literal of the Swift sources, and per namespace those of its own folder.
    var literalsByNamespace: [String: Set<String>] = [:]

    static func literals(under folder: String) throws -> Set<String> {
        var literals = Set<String>()
        for file in RepositoryFiles.files(under: folder, suffix: ".swift") {
            literals.formUnion(allMatches(#""([a-z][a-z0-9_]*)""#, in: try RepositoryFiles.text(file)).map { $0[0] })
        }
        return literals
    }

    static func load() throws -> MetricCatalog {
        let literals = try Self.literals(under: "Services").union(try Self.literals(under: "Shared"))
        var byNamespace: [String: Set<String>] = [:]
        for (namespace, folder) in namespaces { byNamespace[namespace] = try Self.literals(under: folder) }
        return MetricCatalog(literals: literals, literalsByNamespace: byNamespace)
    }

    /// Metric names in a PromQL expression (names with one of maitre's namespaces, and `up`).
    static func metricNames(_ expression: String) -> [String] {
        let pattern = #"\b((?:"# + namespaces.keys.sorted().joined(separator: "|") + #")_[a-z0-9_]+|up)\b"#
        return allMatches(pattern, in: expression).map { $0[0] }
    }

    func isEmitted(_ name: String) -> Bool {
        if name == "up" { return true }
        var candidates = [name]
        for suffix in ["_bucket", "_sum", "_count", "_total", "_seconds"] {
            if let last = candidates.last, last.hasSuffix(suffix) {
                candidates.append(String(last.dropLast(suffix.count)))
            }
        }
        for candidate in candidates {
            if literals.contains(candidate) { return true }
            // A descriptor with `namespace: "proxy", metricName: "queue_depth"`, in the proxy's own code.
            for (namespace, _) in Self.namespaces where candidate.hasPrefix(namespace + "_") {
                let own = literalsByNamespace[namespace] ?? []
                if own.contains(String(candidate.dropFirst(namespace.count + 1))) && own.contains(namespace) {
                    return true
                }
            }
        }
        return false
    }
}
