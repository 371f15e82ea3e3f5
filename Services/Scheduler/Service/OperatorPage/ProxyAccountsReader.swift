import AsyncHTTPClient
import Contracts
import Foundation
import NIOCore
import NIOHTTP1

/// Reads every proxy's upstream accounts from its `/_stats` for `GET /ui/accounts`, at most once a second however
/// many pages poll. The stats token is sent to the proxies only; what is served keeps no address or key.
actor ProxyAccountsReader {
    private let client: HTTPClient
    private let targets: ProxyTargets
    private let statsToken: String?
    private let maxAgeMs: Double
    private let clock: @Sendable () -> Double
    private var cached: OperatorAccounts?
    private var reading: Task<OperatorAccounts, Never>?
    /// Proxies read at most, so the answer stays small with a host name that resolves to many addresses.
    static let proxyLimit = 16

    init(
        client: HTTPClient, targets: ProxyTargets, statsToken: String?, maxAgeMs: Double = 1_000,
        clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 * 1000 }
    ) {
        self.client = client
        self.targets = targets
        self.statsToken = statsToken
        self.maxAgeMs = maxAgeMs
        self.clock = clock
    }

    /// The accounts as of at most `maxAgeMs` ago; concurrent callers share one read.
    func accounts() async -> OperatorAccounts {
        if let cached, clock() - cached.generatedUnixMs < maxAgeMs { return cached }
        if let reading { return await reading.value }
        let urls = Array(targets.current.prefix(Self.proxyLimit))
        let (client, token, clock) = (self.client, self.statsToken, self.clock)
        let task = Task {
            let proxies = await withTaskGroup(of: (Int, ProxyAccounts).self) { group in
                for (index, url) in urls.enumerated() {
                    group.addTask { (index, await Self.read(url, client: client, token: token)) }
                }
                var results: [(Int, ProxyAccounts)] = []
                for await result in group { results.append(result) }
                return results.sorted { $0.0 < $1.0 }.map(\.1)
            }
            return OperatorAccounts(generatedUnixMs: clock(), proxies: proxies)
        }
        reading = task
        let result = await task.value
        cached = result
        reading = nil
        return result
    }

    private static func read(_ url: String, client: HTTPClient, token: String?) async -> ProxyAccounts {
        var request = HTTPClientRequest(url: url + "/_stats")
        if let token, !token.isEmpty { request.headers.add(name: "Authorization", value: "Bearer " + token) }
        do {
            let response = try await client.execute(request, timeout: .seconds(2))
            let body = try await response.body.collect(upTo: 4 << 20)
            guard response.status == .ok else {
                return ProxyAccounts(
                    url: url, instance: nil, queueDepth: nil, accounts: [],
                    error: "GET /_stats answered \(response.status.code)"
                        + (response.status == .unauthorized
                            ? " (set PROXY_STATS_TOKEN to the proxy's STATS_TOKEN)" : ""))
            }
            let stats = try JSONDecoder().decode(ProxyStats.self, from: Data(body.readableBytesView))
            return ProxyAccounts(
                url: url, instance: stats.instance, queueDepth: stats.queueDepth,
                accounts: stats.accounts.map(OperatorAccount.init),
                error: nil)
        } catch {
            return ProxyAccounts(
                url: url, instance: nil, queueDepth: nil, accounts: [], error: "GET /_stats failed: \(error)")
        }
    }
}
