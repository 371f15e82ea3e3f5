/// What the engine has with the upstream: predicted tokens and requests in flight per class (by
/// `RequestClass.index`), and their integral over time, from which the knee estimator reads the average load a
/// completion ran under.
struct InflightLedger: Sendable {
    private(set) var tokens = [0, 0]
    private(set) var requests = [0, 0]
    /// Requests whose first token has come (the provider is serving them, not holding them in its line).
    private(set) var serving = 0
    /// ∫ requests in flight dt (requests × ms) since the start, and when it was last brought up to date.
    private(set) var area = 0.0
    private(set) var areaAt: Double?

    var totalTokens: Int { tokens[0] + tokens[1] }
    var totalRequests: Int { requests[0] + requests[1] }

    /// Brings the area up to `now`.
    mutating func advance(now: Double) {
        if let last = areaAt, now > last { area += Double(totalRequests) * (now - last) }
        areaAt = max(now, areaAt ?? now)
    }

    /// Counts a dispatched request in.
    mutating func add(_ record: JobRecord) {
        tokens[record.requestClass.index] += record.reservedTokens
        requests[record.requestClass.index] += 1
    }

    /// Counts a request whose first token came as served.
    mutating func startServing() {
        serving += 1
    }

    /// Counts a request that came back (or was withdrawn) out.
    mutating func remove(_ record: JobRecord) {
        tokens[record.requestClass.index] -= record.reservedTokens
        requests[record.requestClass.index] -= 1
        if record.firstTokenSeen { serving -= 1 }
    }
}
