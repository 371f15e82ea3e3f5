import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceRuntime

/// The operator page (`GET /` and `/ui`, its script and style compiled into the binary) and the bounded JSON it
/// polls: `GET /ui/state` (queues, decisions, predictions, latency) and `GET /ui/accounts` (the proxies' accounts).
/// Read-only: nothing here changes the scheduler, and no prompt or upstream key is served.
struct OperatorPageController {
    let runtime: SchedulerRuntime
    let accounts: ProxyAccountsReader

    /// Decisions `/ui/state` returns unless `decisions` says otherwise, and at most.
    static let defaultDecisions = 200
    static let maxDecisions = 1_000
    /// Tenants listed by waiting requests, most first.
    static let tenantLimit = 20

    /// The operations `register` adds, for the OpenAPI document.
    static let operations: [OpenAPIOperation] = [
        .page("/", id: "operatorPage", summary: "The operator page (also at /ui).", mediaType: "text/html"),
        .page("/ui", id: "operatorPageUI", summary: "The operator page.", mediaType: "text/html"),
        .page(
            "/ui/page.js", id: "operatorPageScript", summary: "The operator page's script.",
            mediaType: "text/javascript"),
        .page(
            "/ui/page.css", id: "operatorPageStyle", summary: "The operator page's style sheet.", mediaType: "text/css"),
        .json(
            .get, "/ui/state", id: "operatorState",
            summary: "What the operator page shows: queues, capacity, decisions, predictions, latency.",
            answer: OperatorState.self, errors: [400],
            parameters: [
                .query("tenant", .string, "Only this tenant's decisions."),
                .query(
                    "decisions", OpenAPISchema.integer.refined(.minimum(1), .maximum(Double(maxDecisions))),
                    "Most decisions to return, newest first (default \(defaultDecisions))."),
            ]),
        .json(
            .get, "/ui/accounts", id: "operatorAccounts",
            summary: "The upstream accounts of every proxy, from their /_stats.", answer: OperatorAccounts.self),
    ]

    func register(on router: Router<ServiceRequestContext>) {
        let html = Self.asset(PackageResources.page_html, type: "text/html; charset=utf-8")
        router.get("/") { _, _ in html }
        router.get("/ui") { _, _ in html }
        let script = Self.asset(PackageResources.page_js, type: "text/javascript; charset=utf-8")
        router.get("/ui/page.js") { _, _ in script }
        let style = Self.asset(PackageResources.page_css, type: "text/css; charset=utf-8")
        router.get("/ui/page.css") { _, _ in style }
        router.get("/ui/state") { request, _ in
            let limit = try SchedulerController.integer(request, "decisions") ?? Self.defaultDecisions
            guard (1...Self.maxDecisions).contains(limit) else {
                throw APIError.invalidRequest(
                    "'decisions' must be between 1 and \(Self.maxDecisions).", param: "decisions")
            }
            let tenant = request.uri.queryParameters.get("tenant").flatMap { $0.isEmpty ? nil : $0 }
            let state = await runtime.operatorState(tenant: tenant, decisionLimit: limit, tenantLimit: Self.tenantLimit)
            return try Response.json(state, headers: Self.noStore)
        }
        router.get("/ui/accounts") { _, _ in
            try Response.json(await accounts.accounts(), headers: Self.noStore)
        }
    }

    static var noStore: HTTPFields {
        var fields = HTTPFields()
        fields[.cacheControl] = "no-store"
        return fields
    }

    /// A static response; the page may load only its own script and style and talk only to this service.
    private static func asset(_ bytes: [UInt8], type: String) -> Response {
        var fields = HTTPFields()
        fields[.contentType] = type
        fields[.cacheControl] = "no-cache"
        fields[.contentSecurityPolicy] = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
        if let name = HTTPField.Name("X-Content-Type-Options") { fields[name] = "nosniff" }
        return Response(status: .ok, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
