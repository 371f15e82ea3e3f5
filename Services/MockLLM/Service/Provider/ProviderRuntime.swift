import Contracts
import MockLLMCore
import ServiceRuntime
import Synchronization
import TextEngine

/// The simulated provider's shared state: the concurrency cap and its FIFO line, the per-key rate
/// windows, the fault generator and the counters `/metrics` shows. One lock, never held across `await`.
public final class ProviderRuntime: Sendable {
    public let latency: LatencyProfile
    public let faults: FaultPlan
    public let outputLengths: ReplyLengthModel
    public let tokenCounter: any TokenCounter
    public let accountsOpen: Bool
    let instruments: ProviderInstruments
    private let start = ContinuousClock.now
    private let state: Mutex<State>

    struct State: ~Copyable {
        var admission: AdmissionQueue
        var waiters: [UInt64: CheckedContinuation<SlotOutcome, Never>] = [:]
        var ledger: AccountLedger
        var faultRandom: SeededRandom
        var nextTicket: UInt64 = 0
        var totals = ProviderTotals()
    }

    enum SlotOutcome: Sendable {
        case granted, rejected, withdrawn
    }

    public init(
        latency: LatencyProfile,
        faults: FaultPlan,
        outputLengths: ReplyLengthModel,
        tokenCounter: any TokenCounter,
        accounts: [AccountLimits],
        windowSeconds: Double,
        maxConcurrency: Int,
        maxQueue: Int,
        seed: UInt64,
        instruments: ProviderInstruments
    ) {
        self.instruments = instruments
        self.latency = latency
        self.faults = faults
        self.outputLengths = outputLengths
        self.tokenCounter = tokenCounter
        self.accountsOpen = accounts.isEmpty
        self.state = Mutex(
            State(
                admission: AdmissionQueue(maxConcurrency: maxConcurrency, maxQueue: maxQueue),
                ledger: AccountLedger(accounts: accounts, windowSeconds: windowSeconds, now: 0),
                faultRandom: SeededRandom(seed: seed, stream: 0xFA17)
            ))
    }

    /// Seconds since the runtime started: the clock of the rate windows.
    public func now() -> Double {
        let elapsed = ContinuousClock.now - start
        let (seconds, attoseconds) = elapsed.components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }

    /// Requests being served now (the `n` of tpot(n)).
    public var inFlight: Int { state.withLock { $0.admission.inFlight } }

    /// Checks the caller's key and takes the request's share of its rate windows.
    /// Throws 401 for an unknown key, 429 past a limit.
    public func admitAccount(key: String?, tokens: Int) throws(APIError) -> AccountTicket? {
        if accountsOpen { return nil }
        guard let key, !key.isEmpty else {
            count(.unauthorized)
            throw APIError.unauthorized("You didn't provide an API key. Send it as 'Authorization: Bearer KEY'.")
        }
        let now = now()
        let decision = state.withLock { $0.ledger.admit(key: key, tokens: tokens, now: now) }
        switch decision {
        case .admitted(let status):
            return AccountTicket(key: key, chargedTokens: tokens, status: status)
        case .unknownKey:
            count(.unauthorized)
            throw APIError.unauthorized("Incorrect API key provided: \(Self.redact(key)).")
        case .limited(let kind, let retryAfter, let status):
            count(.rateLimited)
            var error = APIError.rateLimited(
                Self.message(kind, status: status, retryAfter: retryAfter), retryAfterSeconds: retryAfter)
            for (name, value) in status.headers { error.extraHeaders[name] = value }
            throw error
        }
    }

    /// Ends an account's request; `refund` gives its token reservation back (it failed before generating).
    public func releaseAccount(_ ticket: AccountTicket?, refund: Bool) {
        guard let ticket else { return }
        let now = now()
        state.withLock { $0.ledger.release(key: ticket.key, refundTokens: refund ? ticket.chargedTokens : 0, now: now) }
    }

    /// Waits for a slot under the concurrency cap, first come first served. Throws 503 when the line is full.
    public func acquireSlot() async throws {
        let ticket = state.withLock { state -> UInt64 in
            state.nextTicket += 1
            return state.nextTicket
        }
        let outcome = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<SlotOutcome, Never>) in
                let (arrival, inFlight, depth) = state.withLock { state in
                    let arrival = state.admission.arrive(ticket)
                    if arrival == .queued { state.waiters[ticket] = continuation }
                    return (arrival, state.admission.inFlight, state.admission.queueDepth)
                }
                instruments.occupancy(inFlight: inFlight, queueDepth: depth)
                switch arrival {
                case .admitted: continuation.resume(returning: .granted)
                case .rejected: continuation.resume(returning: .rejected)
                case .queued: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<SlotOutcome, Never>? in
                guard state.admission.withdraw(ticket) else { return nil }
                return state.waiters.removeValue(forKey: ticket)
            }
            waiter?.resume(returning: .withdrawn)
        }
        switch outcome {
        case .granted:
            return
        case .rejected:
            count(.overloaded)
            throw APIError.serviceUnavailable(
                "The engine is currently overloaded, please try again later.", code: "engine_overloaded",
                retryAfterSeconds: 1)
        case .withdrawn:
            throw CancellationError()
        }
    }

    /// Frees a slot; the first waiter in line takes it.
    public func releaseSlot() {
        let (next, inFlight, depth) = state.withLock { state in
            let waiter = state.admission.release().flatMap { state.waiters.removeValue(forKey: $0) }
            return (waiter, state.admission.inFlight, state.admission.queueDepth)
        }
        instruments.occupancy(inFlight: inFlight, queueDepth: depth)
        next?.resume(returning: .granted)
    }

    /// The fault of the next request, from the seeded generator.
    public func drawFault(outputTokens: Int) -> InjectedFault {
        if faults.isNone { return InjectedFault() }
        return state.withLock { faults.draw(outputTokens: outputTokens, using: &$0.faultRandom) }
    }

    /// A response id: a prefix and a per-process counter.
    public func nextResponseID(prefix: String) -> String {
        let number = state.withLock { state -> UInt64 in
            state.nextTicket += 1
            return state.nextTicket
        }
        return prefix + String(number, radix: 16)
    }

    /// Adds to the totals.
    public func count(_ outcome: ProviderTotals.Outcome, promptTokens: Int = 0, completionTokens: Int = 0) {
        state.withLock { $0.totals.record(outcome, promptTokens: promptTokens, completionTokens: completionTokens) }
        instruments.record(outcome, promptTokens: promptTokens, completionTokens: completionTokens)
    }

    /// The readable state for `/metrics` as JSON and for the Prometheus gauges.
    public func snapshot() -> ProviderSnapshot {
        let now = now()
        return state.withLock { state in
            ProviderSnapshot(
                inFlight: state.admission.inFlight,
                queueDepth: state.admission.queueDepth,
                totals: state.totals,
                accounts: state.ledger.statuses(now: now).map {
                    AccountSnapshot(key: Self.redact($0.key), inFlight: $0.inFlight, status: $0.status)
                }
            )
        }
    }

    static func redact(_ key: String) -> String {
        key.count <= 8 ? key : String(key.prefix(4)) + "..." + String(key.suffix(4))
    }

    static func message(_ kind: LimitKind, status: RateLimitStatus, retryAfter: Double) -> String {
        let wait = RateLimitStatus.format(retryAfter)
        switch kind {
        case .requests:
            return
                "Rate limit reached for requests per min (RPM): Limit \(status.limitRequests ?? 0), Used \((status.limitRequests ?? 0) - (status.remainingRequests ?? 0)). Please try again in \(wait)."
        case .tokens:
            return
                "Rate limit reached for tokens per min (TPM): Limit \(status.limitTokens ?? 0), Remaining \(status.remainingTokens ?? 0). Please try again in \(wait)."
        case .concurrency:
            return "Too many concurrent requests for this key. Please try again in \(wait)."
        }
    }
}

/// An account's share of a request: what to give back when it ends.
public struct AccountTicket: Sendable {
    public let key: String
    public let chargedTokens: Int
    public let status: RateLimitStatus
}

/// A request's hold on the provider: its account's share and, once admitted, a slot under the cap.
/// Ended exactly once — by the code that finishes the answer, or at the latest when dropped.
public final class GenerationLease: Sendable {
    private let runtime: ProviderRuntime
    public let account: AccountTicket?
    private let holdsSlot = Atomic<Bool>(false)
    private let ended = Atomic<Bool>(false)

    public init(runtime: ProviderRuntime, account: AccountTicket?) {
        self.runtime = runtime
        self.account = account
    }

    /// Waits for a slot under the concurrency cap (FIFO).
    public func acquireSlot() async throws {
        try await runtime.acquireSlot()
        holdsSlot.store(true, ordering: .releasing)
    }

    /// Frees the slot and ends the account's request; `refund` gives its token reservation back.
    public func end(refund: Bool) {
        guard !ended.exchange(true, ordering: .acquiringAndReleasing) else { return }
        if holdsSlot.load(ordering: .acquiring) { runtime.releaseSlot() }
        runtime.releaseAccount(account, refund: refund)
    }

    deinit {
        end(refund: false)
    }
}
