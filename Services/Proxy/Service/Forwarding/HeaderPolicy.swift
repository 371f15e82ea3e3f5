import HTTPTypes
import Hummingbird
import NIOHTTP1

/// Which headers cross the proxy. Upstream requests carry an allowlist: what an OpenAI client may legitimately
/// send (content type, accept, user agent, OpenAI's organisation, project and beta headers), never maitre's own
/// scheduling headers (tenant, class, deadline, predicted size), the client's request id (ours stays in our logs
/// and answers; some servers reject one that is not a UUID) or the client's credentials, which the account's
/// replace. A deployment's `extra_headers` are added per account. Compression is not requested so the proxy can
/// read usage as the answer passes. Hop-by-hop headers never cross in either direction.
enum HeaderPolicy {
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
        "proxy-authorization", "proxy-authenticate", "host", "content-length",
    ]
    /// Client headers that go upstream unchanged (lower case).
    static let forwarded: Set<String> = [
        "content-type", "accept", "user-agent", "openai-organization", "openai-project", "openai-beta",
    ]

    /// The client's headers as they go upstream: the allowlist only, without the account's auth and extra
    /// headers (added per attempt).
    static func upstreamHeaders(from fields: HTTPFields) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.reserveCapacity(forwarded.count + 2)
        for field in fields where forwarded.contains(field.name.canonicalName) {
            headers.add(name: field.name.rawName, value: field.value)
        }
        if !headers.contains(name: "content-type") { headers.add(name: "Content-Type", value: "application/json") }
        return headers
    }

    static let accountField = HTTPField.Name("x-maitre-account")!
    static let attemptsField = HTTPField.Name("x-maitre-attempts")!

    /// The upstream's answer headers as they go to the client.
    static func clientHeaders(from headers: HTTPHeaders, account: String, attempts: Int) -> HTTPFields {
        var fields = HTTPFields()
        fields.reserveCapacity(headers.count + 2)
        for (name, value) in headers {
            let lowered = name.lowercased()
            if hopByHop.contains(lowered) || lowered == "x-request-id" { continue }
            if let field = HTTPField.Name(name) { fields.append(HTTPField(name: field, value: value)) }
        }
        fields[accountField] = account
        fields[attemptsField] = String(attempts)
        return fields
    }
}
