import Foundation
import ProcessLauncher
import Testing

/// deploy/k8s: every manifest parses, has the fields a cluster requires, and refers to things that exist.
@Suite struct KubernetesManifestTests {
    @Test func manifestsHaveRequiredFieldsProbesResourcesAndMatchingSelectors() throws {
        let manifests = try KubernetesManifests.load()
        #expect(manifests.contract != nil, "the services' settings could not be read")
        #expect(manifests.documents.count >= 14)
        #expect(manifests.problems() == [])
    }

    @Test func kustomizationListsEveryManifestFile() throws {
        let listed = Set(try KubernetesManifests.resources())
        let present = Set(
            RepositoryFiles.files(under: KubernetesManifests.folder, suffix: ".yaml").map {
                ($0 as NSString).lastPathComponent
            }
        )
        .subtracting(["kustomization.yaml"])
        #expect(listed == present)
    }

    @Test(.enabled(if: RepositoryFiles.which("kubectl") != nil, "kubectl is not on the PATH"))
    func kustomizeRendersTheManifests() throws {
        let result = try RepositoryFiles.run(
            try #require(RepositoryFiles.which("kubectl")), ["kustomize", KubernetesManifests.folder])
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.output.contains("namespace: maitre"))
        #expect(
            result.output.components(separatedBy: "\nkind: ").count - 1
                == (try KubernetesManifests.load().documents.count))
    }

    @Test(.enabled(if: RepositoryFiles.which("kubectl") != nil, "kubectl is not on the PATH"))
    func thePostgresOverlayReplicatesEveryServiceOnTheSharedStore() throws {
        let manifests = try KubernetesManifests.rendered(
            "deploy/k8s-postgres", kubectl: try #require(RepositoryFiles.which("kubectl")))
        #expect(manifests.problems() == [])
        for (name, replicas) in [("scheduler", 2), ("predictor", 2), ("proxy", 3)] {
            let deployment = try #require(manifests.named("Deployment", name))
            #expect(deployment.value(at: "spec.replicas") as? Int == replicas, "\(name)")
            #expect(manifests.usesSharedStore(deployment), "\(name) has no DATABASE_URL")
            let claims = ((deployment.value(at: "spec.template.spec.volumes") as? [[String: Any]]) ?? []).compactMap {
                $0.value(at: "persistentVolumeClaim.claimName") as? String
            }
            #expect(claims.isEmpty, "\(name) still mounts \(claims)")
        }
        #expect(manifests.named("StatefulSet", "postgres") != nil)
        #expect(manifests.named("PersistentVolumeClaim", "scheduler-data") == nil)
        let secret = try #require(manifests.named("Secret", "maitre-database"))
        let url = try #require((secret["stringData"] as? [String: Any])?.string("DATABASE_URL"))
        #expect(url.hasPrefix("postgres://") && url.contains("@postgres:5432/"))
    }

    @Test func proxyConfigMapAndMockAccountsEqualTheComposeConfiguration() throws {
        let manifests = try KubernetesManifests.load()
        let configMap = try #require(manifests.named("ConfigMap", "maitre-proxy-config"))
        let embedded = try #require((configMap["data"] as? [String: Any])?.string("proxy.yaml"))
        #expect(embedded == (try RepositoryFiles.text("deploy/config/proxy.mock.yaml")))
        let proxyConfig = manifests.environment(deployment: "proxy")["PROXY_CONFIG"] ?? ""
        let proxy = try #require(manifests.named("Deployment", "proxy"))
        let mounts = KubernetesManifests.containers(proxy).first?["volumeMounts"] as? [[String: Any]]
        let mountPath = try #require(mounts?.first?.string("mountPath"))
        #expect(proxyConfig == "\(mountPath)/proxy.yaml")
        let dotenv = try RepositoryFiles.dotenv(".env.example")
        #expect(manifests.environment(deployment: "mock-llm")["MOCK_ACCOUNTS"] == dotenv["MOCK_ACCOUNTS"])
    }

    @Test func checksCatchBrokenManifests() throws {
        var manifests = try KubernetesManifests.load()
        func edit(_ kind: String, _ name: String, _ change: (inout [String: Any]) -> Void) {
            guard
                let index = manifests.documents.firstIndex(where: {
                    $0.string("kind") == kind && $0.value(at: "metadata.name") as? String == name
                })
            else { return }
            change(&manifests.documents[index])
        }
        func setting(_ document: inout [String: Any], _ path: [String], _ value: Any?) {
            guard let first = path.first else { return }
            if path.count == 1 {
                document[first] = value
                return
            }
            if var list = document[first] as? [Any], var item = list.first as? [String: Any] {
                setting(&item, Array(path.dropFirst()), value)
                list[0] = item
                document[first] = list
                return
            }
            var child = document[first] as? [String: Any] ?? [:]
            setting(&child, Array(path.dropFirst()), value)
            document[first] = child
        }
        edit("Deployment", "proxy") {
            setting(&$0, ["spec", "selector", "matchLabels"], ["app.kubernetes.io/name": "proxy-typo"])
        }
        edit("Deployment", "predictor") {
            setting(&$0, ["spec", "template", "spec", "containers", "readinessProbe"], nil)
        }
        edit("Deployment", "scheduler") { setting(&$0, ["spec", "replicas"], 2) }
        edit("Deployment", "mock-llm") {
            setting(&$0, ["spec", "template", "spec", "containers", "resources", "limits"], nil)
        }
        edit("HorizontalPodAutoscaler", "proxy") { setting(&$0, ["spec", "scaleTargetRef", "name"], "proxy-v2") }
        edit("Service", "scheduler") { setting(&$0, ["spec", "ports", "targetPort"], 9999) }
        let problems = manifests.problems().joined(separator: "\n")
        #expect(problems.contains("selector app.kubernetes.io/name=proxy-typo does not match"))
        #expect(problems.contains("no readinessProbe httpGet"))
        #expect(problems.contains("scheduler: single writer, needs replicas: 1"))
        #expect(problems.contains("no resources.limits.cpu"))
        #expect(problems.contains("target proxy-v2 is not defined"))
        #expect(problems.contains("targetPort 9999"))
    }
}
