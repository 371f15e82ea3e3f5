import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

extension ServiceRequestContext {
    /// Runs `work`, cancelling it when the client closes the connection first (then throws `CancellationError`).
    /// Hummingbird does not cancel a handler whose client left: a handler that may wait long wraps its wait in this.
    public func cancellingWhenClientLeaves<Value: Sendable>(
        _ work: @escaping @Sendable () async throws -> Value
    ) async throws -> Value {
        guard let channel else { return try await work() }
        return try await withThrowingTaskGroup(of: Value?.self) { group in
            group.addTask { try await work() }
            group.addTask {
                while await Self.clientConnected(channel) { try await Task.sleep(for: Self.disconnectPollInterval) }
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else { throw CancellationError() }
            return value
        }
    }

    /// Whether the client has closed the connection (false when there is no connection to watch).
    public func clientLeft() async -> Bool {
        guard let channel else { return false }
        return !(await Self.clientConnected(channel))
    }

    /// How often a waiting handler looks at its connection; a closed socket costs a waiting request no more than this.
    static let disconnectPollInterval = Duration.milliseconds(100)

    /// Whether the client is still there. While a handler runs the server reads nothing more from the connection,
    /// so a client's close is not seen as the channel going inactive; the socket's TCP state shows it (the peer's
    /// FIN or RST moves it out of ESTABLISHED).
    static func clientConnected(_ channel: any Channel) async -> Bool {
        guard channel.isActive else { return false }
        #if os(Linux)
            guard let provider = channel as? any SocketOptionProvider else { return true }
            guard let info = try? await provider.getTCPInfo().get() else { return false }
            return Int(info.tcpi_state) == TCP_ESTABLISHED
        #else
            return true
        #endif
    }
}
