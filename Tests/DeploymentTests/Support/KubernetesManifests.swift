import Foundation
import ProcessLauncher

/// The manifests under deploy/k8s, as kustomization.yaml lists them, with the checks a cluster would only
/// report at apply time or, worse, at run time (selectors that match nothing, probes on the wrong port).
struct KubernetesManifests {
    var documents: [[String: Any]]
    var contract: EnvironmentContract?

    static let folder = "deploy/k8s"

    static func load() throws -> KubernetesManifests {
        var documents: [[String: Any]] = []
        for resource in try resources() {
            for document in try RepositoryFiles.yamlDocuments("\(folder)/\(resource)") {
                documents.append(document as? [String: Any] ?? ["invalid": "\(resource) holds a non-mapping document"])
            }
        }
        return KubernetesManifests(documents: documents, contract: try? EnvironmentContract.load())
    }

    /// The manifests `kubectl kustomize <folder>` renders (an overlay such as deploy/k8s-postgres).
    static func rendered(_ folder: String, kubectl: String) throws -> KubernetesManifests {
        let result = try RepositoryFiles.run(kubectl, ["kustomize", folder])
        guard result.status == 0 else {
            return KubernetesManifests(documents: [["invalid": "kubectl kustomize \(folder): \(result.errors)"]])
        }
        let documents = try RepositoryFiles.parseYAMLDocuments(result.output).map {
            $0 as? [String: Any] ?? ["invalid": "\(folder) renders a non-mapping document"]
        }
        return KubernetesManifests(documents: documents, contract: try? EnvironmentContract.load())
    }

    static func resources() throws -> [String] {
        let kustomization = try RepositoryFiles.yaml("\(folder)/kustomization.yaml") as? [String: Any] ?? [:]
        return (kustomization.list("resources") ?? []).map { "\($0)" }
    }

    func kind(_ kind: String) -> [[String: Any]] { documents.filter { $0.string("kind") == kind } }
    var deployments: [[String: Any]] { kind("Deployment") }

    func named(_ kind: String, _ name: String) -> [String: Any]? {
        documents.first { $0.string("kind") == kind && $0.value(at: "metadata.name") as? String == name }
    }

    static func containers(_ deployment: [String: Any]) -> [[String: Any]] {
        (deployment.value(at: "spec.template.spec.containers") as? [[String: Any]]) ?? []
    }

    /// Literal `env` values of a deployment's first container.
    func environment(deployment name: String) -> [String: String] {
        guard let deployment = named("Deployment", name), let container = Self.containers(deployment).first else {
            return [:]
        }
        return Self.literalEnvironment(container)
    }

    /// A container's `env` entries that carry a literal `value` (secret references map to "").
    static func literalEnvironment(_ container: [String: Any]) -> [String: String] {
        var result: [String: String] = [:]
        for entry in (container["env"] as? [[String: Any]]) ?? [] {
            if let key = entry.string("name") { result[key] = entry.string("value") ?? "" }
        }
        return result
    }

    func problems() -> [String] {
        var problems: [String] = []
        for (index, document) in documents.enumerated() {
            for field in ["apiVersion", "kind"] where document.string(field)?.isEmpty ?? true {
                problems.append("document \(index): no \(field)")
            }
            if (document.value(at: "metadata.name") as? String)?.isEmpty ?? true {
                problems.append("document \(index) (\(document.string("kind") ?? "?")): no metadata.name")
            }
        }
        for deployment in deployments { problems += deploymentProblems(deployment) }
        for service in kind("Service") { problems += serviceProblems(service) }
        for autoscaler in kind("HorizontalPodAutoscaler") { problems += autoscalerProblems(autoscaler) }
        for required in ["predictor", "scheduler", "proxy", "mock-llm"] {
            if named("Deployment", required) == nil { problems.append("no Deployment \(required)") }
            if named("Service", required) == nil { problems.append("no Service \(required)") }
        }
        if !kind("HorizontalPodAutoscaler").contains(where: {
            $0.value(at: "spec.scaleTargetRef.name") as? String == "proxy"
        }) {
            problems.append("no HorizontalPodAutoscaler for the proxy")
        }
        for single in ["predictor", "scheduler"] {
            // With a shared store (DATABASE_URL) the service is not a single writer and may run replicas.
            guard let deployment = named("Deployment", single), !usesSharedStore(deployment) else { continue }
            if deployment.value(at: "spec.replicas") as? Int != 1 {
                problems.append("\(single): single writer, needs replicas: 1")
            }
            if deployment.value(at: "spec.strategy.type") as? String != "Recreate" {
                problems.append("\(single): single writer, needs strategy Recreate")
            }
            let claims = ((deployment.value(at: "spec.template.spec.volumes") as? [[String: Any]]) ?? []).compactMap {
                $0.value(at: "persistentVolumeClaim.claimName") as? String
            }
            if claims.isEmpty { problems.append("\(single): no PersistentVolumeClaim volume for its data") }
        }
        return problems
    }

    /// Whether every container of a deployment gets `DATABASE_URL` (a literal URL or a Secret key).
    func usesSharedStore(_ deployment: [String: Any]) -> Bool {
        let containers = Self.containers(deployment)
        return !containers.isEmpty
            && containers.allSatisfy { container in
                ((container["env"] as? [[String: Any]]) ?? []).contains { entry in
                    entry.string("name") == "DATABASE_URL"
                        && (entry.string("value")?.hasPrefix("postgres") == true
                            || entry.value(at: "valueFrom.secretKeyRef.key") != nil)
                }
            }
    }

    func deploymentProblems(_ deployment: [String: Any]) -> [String] {
        let name = deployment.value(at: "metadata.name") as? String ?? "?"
        var problems: [String] = []
        let selector = (deployment.value(at: "spec.selector.matchLabels") as? [String: Any]) ?? [:]
        let labels = (deployment.value(at: "spec.template.metadata.labels") as? [String: Any]) ?? [:]
        if selector.isEmpty { problems.append("Deployment \(name): empty selector") }
        for (key, value) in selector where labels.string(key) != "\(value)" {
            problems.append("Deployment \(name): selector \(key)=\(value) does not match the pod template's labels")
        }
        let annotations = (deployment.value(at: "spec.template.metadata.annotations") as? [String: Any]) ?? [:]
        if annotations.string("prometheus.io/scrape") != "true" {
            problems.append("Deployment \(name): no prometheus.io/scrape annotation")
        }
        let containers = Self.containers(deployment)
        if containers.isEmpty { problems.append("Deployment \(name): no containers") }
        for container in containers {
            let location = "Deployment \(name) container \(container.string("name") ?? "?")"
            let ports = (container["ports"] as? [[String: Any]]) ?? []
            let portNumbers = ports.compactMap { $0["containerPort"] as? Int }
            let command = ((container["command"] as? [Any]) ?? []).map { "\($0)" }
            let service = ServiceCatalog.services.first { command.first == $0.executable }
            if let service, let expected = contract?.port(service.name) {
                let declared = Self.literalEnvironment(container)
                let listening = Int(declared["PORT"] ?? "") ?? expected
                if declared["PORT"] != nil && listening != expected {
                    problems.append("\(location): PORT \(listening), the service's default is \(expected)")
                }
                if !portNumbers.contains(listening) {
                    problems.append("\(location): containerPort \(portNumbers) does not include \(listening)")
                }
                if declared["HOST"] != "0.0.0.0" { problems.append("\(location): HOST must be 0.0.0.0") }
                let names = ((container["env"] as? [[String: Any]]) ?? []).compactMap { $0.string("name") }
                problems += contract?.problems(service: service.name, names: names, where: "deploy/k8s \(name)") ?? []
            } else if service == nil {
                problems.append("\(location): command \(command) is not a maitre executable")
            }
            if annotations.string("prometheus.io/port").flatMap(Int.init).map({ !portNumbers.contains($0) }) ?? true {
                problems.append("\(location): prometheus.io/port is not one of its container ports")
            }
            for probe in ["readinessProbe", "livenessProbe"] {
                guard let get = container.mapping(probe)?.mapping("httpGet") else {
                    problems.append("\(location): no \(probe) httpGet")
                    continue
                }
                if get.string("path") != "/health" { problems.append("\(location): \(probe) path should be /health") }
                if !Self.portResolves(get["port"], ports: ports) {
                    problems.append("\(location): \(probe) port \(get["port"] ?? "nil") is not a container port")
                }
            }
            for kind in ["requests", "limits"] {
                let values = container.mapping("resources")?.mapping(kind) ?? [:]
                for resource in ["cpu", "memory"] where values[resource] == nil {
                    problems.append("\(location): no resources.\(kind).\(resource)")
                }
            }
            problems += referenceProblems(container, where: location)
        }
        for volume in (deployment.value(at: "spec.template.spec.volumes") as? [[String: Any]]) ?? [] {
            if let claim = volume.value(at: "persistentVolumeClaim.claimName") as? String,
                named("PersistentVolumeClaim", claim) == nil
            {
                problems.append("Deployment \(name): PersistentVolumeClaim \(claim) is not defined")
            }
            if let map = volume.value(at: "configMap.name") as? String, named("ConfigMap", map) == nil {
                problems.append("Deployment \(name): ConfigMap \(map) is not defined")
            }
        }
        return problems
    }

    static func portResolves(_ port: Any?, ports: [[String: Any]]) -> Bool {
        switch port {
        case let number as Int: return ports.contains { $0["containerPort"] as? Int == number }
        case let name as String: return ports.contains { $0.string("name") == name }
        default: return false
        }
    }

    /// Secret keys exist, and URLs naming a Service use its port.
    func referenceProblems(_ container: [String: Any], where location: String) -> [String] {
        var problems: [String] = []
        for entry in (container["env"] as? [[String: Any]]) ?? [] {
            if let reference = entry.value(at: "valueFrom.secretKeyRef") as? [String: Any] {
                let secretName = reference.string("name") ?? ""
                let key = reference.string("key") ?? ""
                guard let secret = named("Secret", secretName) else {
                    problems.append("\(location): Secret \(secretName) is not defined")
                    continue
                }
                let keys = Set(((secret["stringData"] as? [String: Any]) ?? [:]).keys).union(
                    ((secret["data"] as? [String: Any]) ?? [:]).keys)
                if !keys.contains(key) { problems.append("\(location): Secret \(secretName) has no key \(key)") }
            }
            for match in allMatches(#"https?://([a-z0-9-]+):(\d+)"#, in: entry.string("value") ?? "") {
                guard let service = named("Service", match[0]) else { continue }
                let ports = ((service.value(at: "spec.ports") as? [[String: Any]]) ?? []).compactMap {
                    $0["port"] as? Int
                }
                if !ports.contains(Int(match[1]) ?? -1) {
                    problems.append(
                        "\(location): \(entry.string("name") ?? "") names \(match[0]):\(match[1]), Service \(match[0]) serves \(ports)"
                    )
                }
            }
        }
        return problems
    }

    func serviceProblems(_ service: [String: Any]) -> [String] {
        let name = service.value(at: "metadata.name") as? String ?? "?"
        let selector = (service.value(at: "spec.selector") as? [String: Any]) ?? [:]
        guard !selector.isEmpty else { return ["Service \(name): no selector"] }
        let matching = (deployments + kind("StatefulSet")).filter { deployment in
            let labels = (deployment.value(at: "spec.template.metadata.labels") as? [String: Any]) ?? [:]
            return selector.allSatisfy { labels.string($0.key) == "\($0.value)" }
        }
        guard !matching.isEmpty else { return ["Service \(name): selector \(selector) matches no Deployment's pods"] }
        var problems: [String] = []
        for port in (service.value(at: "spec.ports") as? [[String: Any]]) ?? [] {
            let target = port["targetPort"] ?? port["port"]
            for deployment in matching
            where !Self.containers(deployment).contains(where: {
                Self.portResolves(target, ports: ($0["ports"] as? [[String: Any]]) ?? [])
            }) {
                problems.append(
                    "Service \(name): targetPort \(target ?? "nil") is not a port of Deployment \(deployment.value(at: "metadata.name") ?? "?")"
                )
            }
        }
        return problems
    }

    func autoscalerProblems(_ autoscaler: [String: Any]) -> [String] {
        let name = autoscaler.value(at: "metadata.name") as? String ?? "?"
        var problems: [String] = []
        let target = autoscaler.value(at: "spec.scaleTargetRef.name") as? String ?? ""
        if named(autoscaler.value(at: "spec.scaleTargetRef.kind") as? String ?? "", target) == nil {
            problems.append("HorizontalPodAutoscaler \(name): target \(target) is not defined")
        }
        if ["predictor", "scheduler"].contains(target) {
            problems.append("HorizontalPodAutoscaler \(name): \(target) is a single writer")
        }
        let minimum = autoscaler.value(at: "spec.minReplicas") as? Int ?? 1
        let maximum = autoscaler.value(at: "spec.maxReplicas") as? Int ?? 0
        if maximum < minimum {
            problems.append("HorizontalPodAutoscaler \(name): maxReplicas \(maximum) < minReplicas \(minimum)")
        }
        if (autoscaler.value(at: "spec.metrics") as? [Any])?.isEmpty ?? true {
            problems.append("HorizontalPodAutoscaler \(name): no metrics")
        }
        return problems
    }
}
