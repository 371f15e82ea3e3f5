import AsyncHTTPClient
import HTTPTypes
import Hummingbird
import NIOHTTP1

/// Which headers cross the proxy: hop-by-hop headers never do, the client's credentials are replaced by
/// the account's, and compression is not requested so the proxy can read usage as the answer passes.
enum HeaderPolicy {
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
        "proxy-authorization", "proxy-authenticate", "host", "content-length",
    ]
    static let clientOnly: Set<String> = ["authorization", "api-key", "x-api-key", "accept-encoding", "cookie", "expect"]

    /// The client's headers as they go upstream, without the account's auth (added per attempt).
    static func upstreamHeaders(from fields: HTTPFields) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.reserveCapacity(fields.count + 2)
        for field in fields {
            let name = field.name.canonicalName
            if hopByHop.contains(name) || clientOnly.contains(name) { continue }
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
