import Foundation
import ProxyCore
import ServiceRuntime
import Yams

/// Reads the deployments: the `PROXY_CONFIG` file when given, else one simulated upstream serving
/// `gpt-3.5-turbo`, `gpt-4o-mini` and, through the `*` wildcard, any other model name.
public enum DeploymentLoader {
    /// Model names the default configuration lists on `/v1/models`.
    public static let defaultModelNames = ["gpt-3.5-turbo", "gpt-4o-mini"]

    public static func load(
        _ configuration: ProxyConfiguration, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> [Deployment] {
        guard let path = configuration.deploymentFile else {
            return defaults(
                upstream: configuration.defaultUpstream, maxConcurrency: configuration.defaultMaxConcurrency)
        }
        return try parse(
            yaml: try read(path), source: path, environment: environment,
            defaultMaxConcurrency: configuration.defaultMaxConcurrency)
    }

    /// The tenant budgets of the `PROXY_CONFIG` file (`budgets:`), checked against `deployments`; none without a file.
    public static func budgets(_ configuration: ProxyConfiguration, deployments: [Deployment]) throws
        -> [TenantBudget]
    {
        guard let path = configuration.deploymentFile else { return [] }
        return try parseBudgets(yaml: try read(path), source: path, deployments: deployments)
    }

    /// Parses `budgets:` of deployment YAML; errors name the file and the offending entry.
    public static func parseBudgets(yaml text: String, source: String = "PROXY_CONFIG", deployments: [Deployment])
        throws -> [TenantBudget]
    {
        do {
            return try BudgetDocument.parse(try Yams.load(yaml: text), deployments: deployments)
        } catch let error as DeploymentConfigError {
            throw SettingError(key: "proxy-config", message: "\(source): \(error)")
        } catch {
            throw SettingError(key: "proxy-config", message: "\(source) is not valid YAML: \(error)")
        }
    }

    private static func read(_ path: String) throws -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw SettingError(key: "proxy-config", message: "cannot read file \(path)")
        }
        return text
    }

    /// Parses deployment YAML; errors name the file and the offending entry.
    public static func parse(
        yaml text: String, source: String = "PROXY_CONFIG", environment: [String: String],
        defaultMaxConcurrency: Int = 64
    ) throws -> [Deployment] {
        let document: Any?
        do {
            document = try Yams.load(yaml: text)
        } catch {
            throw SettingError(key: "proxy-config", message: "\(source) is not valid YAML: \(error)")
        }
        do {
            return try DeploymentDocument.parse(
                document, environment: environment, defaultMaxConcurrency: defaultMaxConcurrency)
        } catch let error as DeploymentConfigError {
            throw SettingError(key: "proxy-config", message: "\(source): \(error)")
        }
    }

    /// The configuration used without a file.
    public static func defaults(upstream: String, maxConcurrency: Int) -> [Deployment] {
        let base = upstream.hasSuffix("/") ? String(upstream.dropLast()) : upstream
        return (defaultModelNames + ["*"]).map { name in
            Deployment(
                name: name == "*" ? "default/any" : "default/\(name)",
                modelName: name,
                upstreamModel: name,
                apiBase: base,
                maxConcurrency: maxConcurrency
            )
        }
    }
}
