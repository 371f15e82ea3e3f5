/// Reads `budgets:` of the proxy's deployment file, already parsed from YAML into plain values:
///
/// ```yaml
/// budgets:
///   acme: {tokens: 2000000, per: day}
///   beta: {usd: 25, per: month}
///   "*": {tokens: 100000, per: day}   # every other tenant, each its own
/// ```
///
/// A money budget needs every deployment to have a price (`input_cost_per_1k`, `output_cost_per_1k`).
public enum BudgetDocument {
    static let fields: Set<String> = ["tokens", "usd", "per"]

    public static func parse(_ document: Any?, deployments: [Deployment]) throws -> [TenantBudget] {
        guard let root = document as? [String: Any], let section = root["budgets"] else { return [] }
        guard let mapping = section as? [String: Any] else {
            throw DeploymentConfigError(path: "budgets", message: "expected a mapping of tenant to {tokens, usd, per}")
        }
        var budgets: [TenantBudget] = []
        for tenant in mapping.keys.sorted() {
            let path = "budgets.\(tenant)"
            guard !tenant.isEmpty else { throw DeploymentConfigError(path: path, message: "empty tenant name") }
            guard let entry = mapping[tenant] as? [String: Any] else {
                throw DeploymentConfigError(path: path, message: "expected a mapping with tokens and/or usd, and per")
            }
            if let unknown = entry.keys.sorted().first(where: { !fields.contains($0) }) {
                throw DeploymentConfigError(
                    path: "\(path).\(unknown)", message: "unknown field; a budget has tokens, usd and per")
            }
            let tokens = try DeploymentDocument.number(entry["tokens"], path: "\(path).tokens")
            let usd = try DeploymentDocument.number(entry["usd"], path: "\(path).usd")
            guard tokens != nil || usd != nil else {
                throw DeploymentConfigError(path: path, message: "give tokens, usd or both")
            }
            if let tokens, tokens < 1 || tokens > Double(TenantBudget.unbounded) {
                throw DeploymentConfigError(path: "\(path).tokens", message: "must be a positive number of tokens")
            }
            if let usd, usd <= 0 || usd > 1e12 {
                throw DeploymentConfigError(path: "\(path).usd", message: "must be a positive amount of US dollars")
            }
            let periodText = try DeploymentDocument.string(entry["per"], path: "\(path).per")
            guard let periodText, let period = BudgetPeriod(rawValue: periodText) else {
                throw DeploymentConfigError(path: "\(path).per", message: "must be day or month")
            }
            if usd != nil, let unpriced = deployments.first(where: { $0.price == nil }) {
                throw DeploymentConfigError(
                    path: "\(path).usd",
                    message:
                        "a money budget needs a price on every deployment; \(unpriced.name) has no input_cost_per_1k and output_cost_per_1k"
                )
            }
            budgets.append(
                TenantBudget(
                    tenant: tenant, tokens: tokens.map { Int64($0) }, microUSD: usd.map { Int64($0 * 1_000_000) },
                    period: period))
        }
        return budgets
    }
}
