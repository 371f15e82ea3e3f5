/// Injected failures: rates for each kind, drawn per request from a seeded generator, and the
/// per-request `X-Mock-Fault` header that forces one for tests.
public struct FaultPlan: Sendable, Equatable {
    public var internalErrorRate: Double
    public var unavailableRate: Double
    /// Requests that never answer (until `hangSeconds` pass): the client's timeout fires.
    public var hangRate: Double
    /// Requests whose connection is cut in the middle of the answer.
    public var resetRate: Double
    /// Requests whose first byte comes `slowFirstByteSeconds` late (independent of the others).
    public var slowFirstByteRate: Double
    public var slowFirstByteSeconds: Double
    public var hangSeconds: Double

    public init(
        internalErrorRate: Double = 0, unavailableRate: Double = 0, hangRate: Double = 0, resetRate: Double = 0,
        slowFirstByteRate: Double = 0, slowFirstByteSeconds: Double = 2, hangSeconds: Double = 600
    ) {
        self.internalErrorRate = internalErrorRate
        self.unavailableRate = unavailableRate
        self.hangRate = hangRate
        self.resetRate = resetRate
        self.slowFirstByteRate = slowFirstByteRate
        self.slowFirstByteSeconds = slowFirstByteSeconds
        self.hangSeconds = hangSeconds
    }

    /// No faults at all.
    public static let none = FaultPlan()

    public var isNone: Bool {
        internalErrorRate == 0 && unavailableRate == 0 && hangRate == 0 && resetRate == 0 && slowFirstByteRate == 0
    }

    /// Draws the fault (or none) of one request whose answer is `outputTokens` long. The error kinds
    /// exclude each other (one uniform draw over their stacked rates); a slow first byte can come on top.
    public func draw(outputTokens: Int, using random: inout SeededRandom) -> InjectedFault {
        var fault = InjectedFault()
        let u = random.unit()
        var edge = internalErrorRate
        if u < edge {
            fault.status = 500
        } else if u < (edge + unavailableRate) {
            fault.status = 503
        } else {
            edge += unavailableRate + hangRate
            if u < edge {
                fault.hang = true
            } else if u < edge + resetRate {
                fault.resetAfterTokens = outputTokens > 1 ? Int(random.next() % UInt64(outputTokens)) : 0
            }
        }
        if slowFirstByteRate > 0, random.unit() < slowFirstByteRate {
            fault.slowFirstByteSeconds = slowFirstByteSeconds
        }
        return fault
    }
}

/// The fault one request suffers; the default is none.
public struct InjectedFault: Sendable, Equatable {
    /// Answer with this HTTP status (500, 503, or any other error status forced by header).
    public var status: Int?
    /// Never answer (until the plan's hang time passes).
    public var hang = false
    /// Cut the connection after this many output tokens.
    public var resetAfterTokens: Int?
    /// Extra delay before the first byte.
    public var slowFirstByteSeconds: Double = 0
    /// Go silent after this many output tokens, for the plan's hang time, then go on (forced by header only).
    public var stallAfterTokens: Int?

    public init(
        status: Int? = nil, hang: Bool = false, resetAfterTokens: Int? = nil, slowFirstByteSeconds: Double = 0,
        stallAfterTokens: Int? = nil
    ) {
        self.status = status
        self.hang = hang
        self.resetAfterTokens = resetAfterTokens
        self.slowFirstByteSeconds = slowFirstByteSeconds
        self.stallAfterTokens = stallAfterTokens
    }

    public var isNone: Bool {
        status == nil && !hang && resetAfterTokens == nil && slowFirstByteSeconds == 0 && stallAfterTokens == nil
    }

    /// Parses the `X-Mock-Fault` header: items separated by `;` or `,`, each one of `status=503`,
    /// `reset-after=5` (tokens), `stall-after=1` (tokens), `hang`, `slow-first-byte-ms=200`, or `none`.
    public static func parseHeader(_ text: String) throws(FaultHeaderError) -> InjectedFault {
        var fault = InjectedFault()
        for raw in text.split(whereSeparator: { $0 == ";" || $0 == "," }) {
            let item = raw.filter { !$0.isWhitespace }
            if item.isEmpty || item == "none" { continue }
            if item == "hang" {
                fault.hang = true
                continue
            }
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let value = Int(parts[1]), value >= 0 else {
                throw FaultHeaderError(item: String(raw))
            }
            switch parts[0] {
            case "status":
                guard (400...599).contains(value) else { throw FaultHeaderError(item: String(raw)) }
                fault.status = value
            case "reset-after": fault.resetAfterTokens = value
            case "stall-after": fault.stallAfterTokens = value
            case "slow-first-byte-ms": fault.slowFirstByteSeconds = Double(value) / 1000
            default: throw FaultHeaderError(item: String(raw))
            }
        }
        return fault
    }
}

/// An `X-Mock-Fault` item that does not parse.
public struct FaultHeaderError: Error, Sendable, Equatable {
    public var item: String
}
