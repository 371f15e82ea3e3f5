import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import ProxyCore
import ServiceRuntime

/// The proxy's router routes: `GET /v1/models` (behind client auth) and `/_stats`. The forwarded endpoints never
/// reach the router: `ForwardingHandler` serves them below it.
struct ProxyController {
    let dispatcher: AccountDispatcher
    let clientKeys: [String]
    let statsToken: String?
    let instance: String

    /// The operations `register` adds, for the OpenAPI document.
    static let operations =
        OpenAPIOperation.openAI(
            idPrefix: "proxy", embeddings: true, bearerAuth: true, modelsOwner: "the proxy's deployments serve")
        + [
            .json(
                .get, "/_stats", id: "stats", summary: "Per-account windows, counters and cooldowns (no keys).",
                answer: ProxyStats.self, errors: [401], bearerAuth: true)
        ]

    func register(on router: Router<ServiceRequestContext>) {
        let api = router.group("v1").add(middleware: ClientAuthMiddleware(keys: clientKeys))
        // The forwarded endpoints are listed in the route table (405 with `Allow` for other methods, the OpenAPI
        // check), but served below the router: a request reaches these handlers only when the application runs
        // without its channel handlers (Hummingbird's router test mode).
        for endpoint in UpstreamEndpoint.allCases {
            api.post(RouterPath(stringLiteral: String(endpoint.path.dropFirst()))) { _, _ -> Response in
                throw APIError.internalError(
                    "\(endpoint.route) is served by the connection's forwarding handler, which is not installed.")
            }
        }
        api.get("models") { _, _ in
            try Response.json(modelList())
        }
        api.get("models/:model") { _, context in
            let name = context.parameters.get("model") ?? ""
            guard let info = modelList().data.first(where: { $0.id == name }) else {
                throw DispatchError.unknownModel(name, known: dispatcher.modelNames)
            }
            return try Response.json(info)
        }
        router.get("_stats") { request, _ in
            try authorizeStats(request)
            return try Response.json(stats())
        }
    }

    func modelList() -> ModelList {
        ModelList(data: dispatcher.modelNames.map { ModelInfo(id: $0, created: 0, ownedBy: "maitre-proxy") })
    }

    func authorizeStats(_ request: Request) throws {
        guard let statsToken else { return }
        let presented = ClientAuthMiddleware.presentedKey(request.headers) ?? []
        guard ConstantTime.equals(Array(statsToken.utf8), presented) else {
            throw APIError.unauthorized("GET /_stats needs `Authorization: Bearer $STATS_TOKEN`.")
        }
    }

    /// Per-account state, without keys.
    func stats() -> ProxyStats {
        let (pool, depth) = dispatcher.snapshot()
        let now = MonotonicClock().now()
        let accounts = pool.accounts.map { account -> AccountStats in
            let usage = account.rate.usage(now: now)
            let deployment = account.deployment
            return AccountStats(
                name: deployment.name,
                modelName: deployment.modelName,
                upstreamModel: deployment.upstreamModel,
                apiBase: deployment.apiBase,
                weight: deployment.weight,
                window: account.window.size,
                maxConcurrency: deployment.maxConcurrency,
                inFlight: account.inFlight,
                ewmaLatencyMs: account.window.baselineMs(.complete) ?? account.window.baselineMs(.firstByte),
                requests: account.requests,
                successes: account.successes,
                errors: account.errors,
                rateLimited: account.rateLimited,
                cooldownRemainingMs: max(0, account.cooldownUntil - now) * 1000,
                requestsThisMinute: usage.requests,
                tokensThisMinute: usage.tokens,
                rpm: deployment.rpm,
                tpm: deployment.tpm
            )
        }
        return ProxyStats(instance: instance, queueDepth: depth, accounts: accounts)
    }
}
