import Foundation
import NIOCore

/// Where an account's calls go, parsed once from its `api_base`: `http://` or `https://`, a host, a port and a path.
struct UpstreamTarget: Hashable, Sendable {
    let host: String
    let port: Int
    /// Whether the connection speaks TLS (`https://`).
    let tls: Bool
    /// The base's path, without a trailing slash (`/v1`); the endpoint's path is appended.
    let pathPrefix: String
    /// The `Host` header value.
    let authority: String

    init?(apiBase: String) {
        guard let components = URLComponents(string: apiBase), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty, components.user == nil,
            components.query == nil
        else { return nil }
        let tls = scheme == "https"
        let port = components.port ?? (tls ? 443 : 80)
        guard (1...65535).contains(port) else { return nil }
        self.host = host
        self.port = port
        self.tls = tls
        var path = components.percentEncodedPath
        while path.hasSuffix("/") { path.removeLast() }
        self.pathPrefix = path
        let bracketed = host.contains(":") ? "[\(host)]" : host
        self.authority = components.port == nil ? bracketed : "\(bracketed):\(port)"
    }

    /// The name sent in TLS's SNI and checked against the certificate: the host, unless it is an IP address (SNI
    /// carries no addresses; the certificate is then checked against the address connected to).
    var serverName: String? {
        guard tls else { return nil }
        return (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil
    }
}
