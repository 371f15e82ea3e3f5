import Foundation

/// A problem in the deployment file, naming where it is.
public struct DeploymentConfigError: Error, Equatable, CustomStringConvertible {
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}

/// Reads the proxy's deployment file, already parsed from YAML into plain values. Two shapes are accepted:
///
/// - native: `models: {<model name>: [{api_base, api_key, model, weight, rpm, tpm, max_concurrency,
///   latency_target_ms, name}]}`;
/// - LiteLLM's `model_list: [{model_name, litellm_params: {model, api_base, api_key, rpm, tpm, weight,
///   max_parallel_requests}}]`, so an existing LiteLLM config works unchanged.
///
/// `api_key: os.environ/NAME` reads the key from the environment.
public enum DeploymentDocument {
    /// Provider prefixes LiteLLM puts in front of OpenAI-compatible model ids; the upstream wants the bare id.
    static let openAICompatiblePrefixes = [
        "openai/", "text-completion-openai/", "hosted_vllm/", "custom_openai/", "vllm/",
    ]

    public static func parse(_ document: Any?, environment: [String: String], defaultMaxConcurrency: Int = 64) throws
        -> [Deployment]
    {
        guard let root = document as? [String: Any] else {
            throw DeploymentConfigError(path: "(root)", message: "expected a mapping with `models` or `model_list`")
        }
        var deployments: [Deployment] = []
        if let list = root["model_list"] {
            guard let entries = list as? [Any] else {
                throw DeploymentConfigError(path: "model_list", message: "expected a list")
            }
            for (index, entry) in entries.enumerated() {
                deployments.append(
                    try liteLLMEntry(
                        entry, path: "model_list[\(index)]", environment: environment,
                        defaultMaxConcurrency: defaultMaxConcurrency))
            }
        }
        if let models = root["models"] {
            guard let mapping = models as? [String: Any] else {
                throw DeploymentConfigError(
                    path: "models", message: "expected a mapping of model name to a list of deployments")
            }
            for modelName in mapping.keys.sorted() {
                let value = mapping[modelName]
                let entries = (value as? [Any]) ?? (value.map { [$0] } ?? [])
                for (index, entry) in entries.enumerated() {
                    deployments.append(
                        try nativeEntry(
                            entry, modelName: modelName, path: "models.\(modelName)[\(index)]",
                            environment: environment, defaultMaxConcurrency: defaultMaxConcurrency))
                }
            }
        }
        if root["model_list"] == nil && root["models"] == nil {
            throw DeploymentConfigError(path: "(root)", message: "expected `models` (native) or `model_list` (LiteLLM)")
        }
        guard !deployments.isEmpty else {
            throw DeploymentConfigError(path: "(root)", message: "no deployments configured")
        }
        return numbered(deployments)
    }

    /// Gives unnamed deployments `<model name>/<n>` names and makes every name unique.
    static func numbered(_ deployments: [Deployment]) -> [Deployment] {
        var counts: [String: Int] = [:]
        var seen: Set<String> = []
        return deployments.map { deployment in
            var deployment = deployment
            if deployment.name.isEmpty || seen.contains(deployment.name) {
                let base = deployment.name.isEmpty ? deployment.modelName : deployment.name
                var number = counts[base, default: 0]
                var candidate: String
                repeat {
                    candidate = "\(base)/\(number)"
                    number += 1
                } while seen.contains(candidate)
                counts[base] = number
                deployment.name = candidate
            }
            seen.insert(deployment.name)
            return deployment
        }
    }

    static func nativeEntry(
        _ entry: Any, modelName: String, path: String, environment: [String: String], defaultMaxConcurrency: Int
    ) throws -> Deployment {
        guard let fields = entry as? [String: Any] else {
            throw DeploymentConfigError(path: path, message: "expected a mapping with api_base, api_key, model")
        }
        return try deployment(
            fields, modelName: modelName, path: path, environment: environment,
            defaultMaxConcurrency: defaultMaxConcurrency)
    }

    static func liteLLMEntry(_ entry: Any, path: String, environment: [String: String], defaultMaxConcurrency: Int)
        throws -> Deployment
    {
        guard let fields = entry as? [String: Any] else {
            throw DeploymentConfigError(path: path, message: "expected a mapping with model_name and litellm_params")
        }
        guard let modelName = try string(fields["model_name"], path: "\(path).model_name") else {
            throw DeploymentConfigError(path: "\(path).model_name", message: "missing")
        }
        guard let params = fields["litellm_params"] as? [String: Any] else {
            throw DeploymentConfigError(path: "\(path).litellm_params", message: "missing or not a mapping")
        }
        var merged = params
        if merged["max_concurrency"] == nil, let parallel = params["max_parallel_requests"] {
            merged["max_concurrency"] = parallel
        }
        if let info = fields["model_info"] as? [String: Any], merged["name"] == nil, let id = info["id"] {
            merged["name"] = id
        }
        return try deployment(
            merged, modelName: modelName, path: "\(path).litellm_params", environment: environment,
            defaultMaxConcurrency: defaultMaxConcurrency)
    }

    static func deployment(
        _ fields: [String: Any], modelName: String, path: String, environment: [String: String],
        defaultMaxConcurrency: Int
    ) throws -> Deployment {
        guard let apiBase = try string(fields["api_base"] ?? fields["base_url"], path: "\(path).api_base") else {
            throw DeploymentConfigError(
                path: "\(path).api_base",
                message: "missing; give the upstream's base URL, e.g. https://api.openai.com/v1")
        }
        guard apiBase.hasPrefix("http://") || apiBase.hasPrefix("https://") else {
            throw DeploymentConfigError(path: "\(path).api_base", message: "must start with http:// or https://")
        }
        var upstreamModel = try string(fields["model"], path: "\(path).model") ?? modelName
        for prefix in openAICompatiblePrefixes where upstreamModel.hasPrefix(prefix) {
            upstreamModel = String(upstreamModel.dropFirst(prefix.count))
            break
        }
        let apiKey = try resolveKey(fields["api_key"], path: "\(path).api_key", environment: environment)
        let weight = try number(fields["weight"], path: "\(path).weight") ?? 1
        guard weight > 0 else { throw DeploymentConfigError(path: "\(path).weight", message: "must be greater than 0") }
        let maxConcurrency =
            try number(fields["max_concurrency"], path: "\(path).max_concurrency").map { Int($0) }
            ?? defaultMaxConcurrency
        guard maxConcurrency >= 1 else {
            throw DeploymentConfigError(path: "\(path).max_concurrency", message: "must be at least 1")
        }
        return Deployment(
            name: try string(fields["name"], path: "\(path).name") ?? "",
            modelName: modelName,
            upstreamModel: upstreamModel,
            apiBase: apiBase.hasSuffix("/") ? String(apiBase.dropLast()) : apiBase,
            apiKey: apiKey,
            weight: weight,
            rpm: try number(fields["rpm"], path: "\(path).rpm").map { Int($0) },
            tpm: try number(fields["tpm"], path: "\(path).tpm").map { Int($0) },
            maxConcurrency: maxConcurrency,
            latencyTargetMs: try number(fields["latency_target_ms"], path: "\(path).latency_target_ms"),
            extraHeaders: try extraHeaders(
                fields["extra_headers"], path: "\(path).extra_headers", environment: environment),
            price: try price(fields, path: path)
        )
    }

    /// `input_cost_per_1k` and `output_cost_per_1k` (US dollars), or LiteLLM's `input_cost_per_token` and
    /// `output_cost_per_token`; both or neither.
    static func price(_ fields: [String: Any], path: String) throws -> ModelPrice? {
        func cost(_ perThousand: String, _ perToken: String) throws -> Double? {
            if let value = try number(fields[perThousand], path: "\(path).\(perThousand)") {
                guard value >= 0 else {
                    throw DeploymentConfigError(path: "\(path).\(perThousand)", message: "must not be negative")
                }
                return value
            }
            guard let value = try number(fields[perToken], path: "\(path).\(perToken)") else { return nil }
            guard value >= 0 else {
                throw DeploymentConfigError(path: "\(path).\(perToken)", message: "must not be negative")
            }
            return value * 1000
        }
        let input = try cost("input_cost_per_1k", "input_cost_per_token")
        let output = try cost("output_cost_per_1k", "output_cost_per_token")
        switch (input, output) {
        case (nil, nil): return nil
        case (let input?, let output?): return ModelPrice(inputPer1k: input, outputPer1k: output)
        default:
            throw DeploymentConfigError(
                path: path, message: "give both input_cost_per_1k and output_cost_per_1k, or neither")
        }
    }

    /// `extra_headers: {Name: value}`; a value may be `os.environ/NAME`, like `api_key`.
    static func extraHeaders(_ value: Any?, path: String, environment: [String: String]) throws -> [(
        name: String, value: String
    )] {
        guard let value else { return [] }
        guard let mapping = value as? [String: Any] else {
            throw DeploymentConfigError(path: path, message: "expected a mapping of header names to values")
        }
        return try mapping.keys.sorted().map { name in
            let fieldPath = "\(path).\(name)"
            guard !name.isEmpty, name.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: ":") }) else {
                throw DeploymentConfigError(path: fieldPath, message: "not a valid header name")
            }
            guard let text = try resolveKey(mapping[name], path: fieldPath, environment: environment),
                text.utf8.allSatisfy({ $0 >= 32 && $0 != 127 })
            else {
                throw DeploymentConfigError(
                    path: fieldPath, message: "expected a header value without control characters")
            }
            return (name, text)
        }
    }

    static func resolveKey(_ value: Any?, path: String, environment: [String: String]) throws -> String? {
        guard let text = try string(value, path: path), !text.isEmpty else { return nil }
        let prefix = "os.environ/"
        guard text.hasPrefix(prefix) else { return text }
        let name = String(text.dropFirst(prefix.count))
        guard let resolved = environment[name], !resolved.isEmpty else {
            throw DeploymentConfigError(path: path, message: "environment variable \(name) is not set")
        }
        return resolved
    }

    static func string(_ value: Any?, path: String) throws -> String? {
        switch value {
        case nil: return nil
        case let text as String: return text.trimmingCharacters(in: .whitespaces)
        case let number as Int: return String(number)
        case let number as Double: return String(number)
        default: throw DeploymentConfigError(path: path, message: "expected a string")
        }
    }

    static func number(_ value: Any?, path: String) throws -> Double? {
        switch value {
        case nil: return nil
        case let number as Int: return Double(number)
        case let number as Double: return number
        case let text as String:
            if let number = Double(text.trimmingCharacters(in: .whitespaces)) { return number }
            throw DeploymentConfigError(path: path, message: "'\(text)' is not a number")
        default: throw DeploymentConfigError(path: path, message: "expected a number")
        }
    }
}
