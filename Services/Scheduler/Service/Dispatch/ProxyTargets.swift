import Foundation
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The proxy instances to spread dispatches over, in turn. `PROXY_URLS` is either a list of base URLs, or one URL
/// whose host name stands for a scaled service: it is resolved to all its addresses and re-resolved periodically.
/// A proxy that gave no answer at all is skipped while another one is available, for `unreachableCooldown`, doubling
/// with each further failure up to `maxUnreachableCooldown`: a dead instance neither takes a share of the dispatches
/// nor, once it has been dead a while, makes a batch of them wait out a connect timeout every few seconds.
final class ProxyTargets: Sendable {
    private struct State {
        var urls: [String]
        var next = 0
        var skippedUntil: [String: ContinuousClock.Instant] = [:]
        var failures: [String: Int] = [:]
    }

    private let configured: [String]
    private let state: Mutex<State>
    let unreachableCooldown: Duration
    let maxUnreachableCooldown: Duration

    init(urls: [String], unreachableCooldown: Duration = .seconds(2), maxUnreachableCooldown: Duration = .seconds(30)) {
        configured = urls.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        state = Mutex(State(urls: configured))
        self.unreachableCooldown = unreachableCooldown
        self.maxUnreachableCooldown = maxUnreachableCooldown
    }

    /// The base URL for the next dispatch: round robin over the proxies not being skipped (over all of them when
    /// every one is).
    func next(now: ContinuousClock.Instant = .now) -> String {
        state.withLock { state in
            let count = state.urls.count
            var chosen = state.next % count
            for offset in 0..<count {
                let candidate = (state.next + offset) % count
                if (state.skippedUntil[state.urls[candidate]] ?? now) <= now {
                    chosen = candidate
                    break
                }
            }
            state.next = (chosen + 1) % count
            return state.urls[chosen]
        }
    }

    /// Records that `url` could not be reached: it is skipped until its cooldown ends.
    func markUnreachable(_ url: String, now: ContinuousClock.Instant = .now) {
        state.withLock { state in
            let failures = (state.failures[url] ?? 0) + 1
            state.failures[url] = failures
            let cooldown = min(unreachableCooldown * (1 << min(failures - 1, 16)), maxUnreachableCooldown)
            state.skippedUntil[url] = now + cooldown
        }
    }

    /// Records that `url` answered: its cooldown starts from the beginning the next time it fails.
    func markReachable(_ url: String) {
        state.withLock { state in
            guard state.failures[url] != nil else { return }
            state.failures[url] = nil
            state.skippedUntil[url] = nil
        }
    }

    /// Whether some proxy is not being skipped.
    func hasReachable(now: ContinuousClock.Instant = .now) -> Bool {
        state.withLock { state in state.urls.contains { (state.skippedUntil[$0] ?? now) <= now } }
    }

    var current: [String] { state.withLock { $0.urls } }

    /// Whether the configuration names one host to resolve (not an address, not localhost).
    var resolvesHostName: Bool {
        guard configured.count == 1, let host = URLComponents(string: configured[0])?.host else { return false }
        return host != "localhost" && !Self.isAddressLiteral(host)
    }

    /// Resolves the configured host name again and adopts its addresses (keeps the old list when resolution fails).
    func refresh() {
        guard resolvesHostName, var components = URLComponents(string: configured[0]), let host = components.host else {
            return
        }
        let addresses = Self.resolve(host)
        guard !addresses.isEmpty else { return }
        let urls = addresses.map { address -> String in
            components.host = address.contains(":") ? "[\(address)]" : address
            return components.string ?? configured[0]
        }
        state.withLock { $0.urls = urls }
    }

    static func isAddressLiteral(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return inet_pton(AF_INET, bare, &v4) == 1 || inet_pton(AF_INET6, bare, &v6) == 1
    }

    /// All IPv4 and IPv6 addresses of a host, sorted and without duplicates.
    static func resolve(_ host: String) -> [String] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var addresses = Set<String>()
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(
                info.pointee.ai_addr, info.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST)
                == 0
            {
                addresses.insert(String(cString: buffer))
            }
            cursor = info.pointee.ai_next
        }
        return addresses.sorted()
    }
}

/// Re-resolves the proxy host name every `PROXY_RESOLVE_INTERVAL_MS` while the service runs.
struct ProxyResolutionService: Service {
    let targets: ProxyTargets
    let intervalMs: Int

    func run() async throws {
        guard targets.resolvesHostName else {
            // A service that returns early stops the whole group: wait for shutdown instead.
            try? await gracefulShutdown()
            return
        }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            targets.refresh()
            try? await Task.sleep(for: .milliseconds(intervalMs))
        }
    }
}
