/// A slice of an account's per-minute limits leased from the shared store: requests and tokens this replica may
/// send until `usableUntil` (monotonic seconds). The store counts the slice in the account's window from the moment it
/// granted it; a slice is spent only inside its short validity, so every request is counted in the window it was
/// sent in.
public struct RateSlice: Sendable, Equatable {
    /// The store's id of the grant, to return what was not spent.
    public var id: Int64
    public var requests: Int
    public var tokens: Int
    public var usableUntil: Double

    public init(id: Int64, requests: Int, tokens: Int, usableUntil: Double) {
        self.id = id
        self.requests = requests
        self.tokens = tokens
        self.usableUntil = usableUntil
    }
}

/// What a replica holds of an account's shared per-minute limits: the slices leased and not yet spent, tokens used
/// beyond their reservations (charged with the next lease), and when the account was last asked for (a replica keeps
/// slices in hand only while it has demand). Pure: time is passed in.
public struct LeasedRateBudget: Sendable, Equatable {
    public private(set) var slices: [RateSlice] = []
    /// Tokens calls used beyond what they reserved and no slice covered: the next lease records them.
    public private(set) var tokenDebt = 0
    /// The last time a call asked this account for room (monotonic seconds).
    public private(set) var lastDemand = -Double.infinity
    /// The largest token need that found too few tokens in hand, until a lease covers it.
    public private(set) var unmetTokens = 0

    public init() {}

    /// Requests and tokens in hand at `now`.
    public func available(now: Double) -> (requests: Int, tokens: Int) {
        var requests = 0
        var tokens = 0
        for slice in slices where slice.usableUntil > now {
            requests += slice.requests
            tokens += slice.tokens
        }
        return (requests, tokens)
    }

    /// Whether a call of `tokens` fits in the slices in hand; `tokenLimit` caps the need (a call larger than the whole
    /// limit goes when a whole minute's tokens are in hand).
    public func fits(tokens needed: Int, limitsRequests: Bool, tokenLimit: Int?, now: Double) -> Bool {
        let inHand = available(now: now)
        if limitsRequests && inHand.requests < 1 { return false }
        guard let tokenLimit else { return true }
        return inHand.tokens >= min(max(0, needed), tokenLimit)
    }

    /// Remembers that a call of `tokens` asked for room, so the refill keeps slices in hand (and big enough for it).
    public mutating func noteDemand(tokens needed: Int, tokenLimit: Int?, now: Double) {
        lastDemand = now
        guard let tokenLimit else { return }
        let short = min(max(0, needed), tokenLimit) - available(now: now).tokens
        if short > 0 { unmetTokens = max(unmetTokens, short) }
    }

    /// Spends one request and `tokens` from the oldest slices in hand; returns the id of the oldest slice it touched
    /// (tokens given back later go there, never to a younger slice, so they stay inside the window they were counted
    /// in), or nil when nothing was in hand.
    public mutating func spend(tokens: Int, limitsRequests: Bool, limitsTokens: Bool, now: Double) -> Int64? {
        var first: Int64?
        var requestDue = limitsRequests
        var tokensDue = limitsTokens ? max(0, tokens) : 0
        for index in slices.indices where slices[index].usableUntil > now {
            if requestDue, slices[index].requests > 0 {
                slices[index].requests -= 1
                requestDue = false
                first = first ?? slices[index].id
            }
            let taken = min(tokensDue, slices[index].tokens)
            if taken > 0 {
                slices[index].tokens -= taken
                tokensDue -= taken
                first = first ?? slices[index].id
            }
            if !requestDue && tokensDue == 0 { break }
        }
        if tokensDue > 0 { tokenDebt += tokensDue }
        unmetTokens = 0
        return first ?? slices.first(where: { $0.usableUntil > now })?.id
    }

    /// Corrects a call's tokens once its usage is known (`delta` = used − reserved) and gives its request back when it
    /// never reached the upstream. Savings return to the slice the call was charged to while it is still usable;
    /// overruns come out of the tokens in hand, the rest is debt for the next lease.
    public mutating func reconcile(slice id: Int64?, tokenDelta delta: Int, returnRequest: Bool, now: Double) {
        if let id, let index = slices.firstIndex(where: { $0.id == id }), slices[index].usableUntil > now {
            if delta < 0 { slices[index].tokens -= delta }
            if returnRequest { slices[index].requests += 1 }
        }
        guard delta > 0 else { return }
        var due = delta
        for index in slices.indices where slices[index].usableUntil > now && due > 0 {
            let taken = min(due, slices[index].tokens)
            slices[index].tokens -= taken
            due -= taken
        }
        tokenDebt += due
    }

    /// Adds a leased slice; the debt it recorded is settled.
    public mutating func add(_ slice: RateSlice, settledDebt: Int) {
        slices.append(slice)
        tokenDebt = max(0, tokenDebt - settledDebt)
        unmetTokens = max(0, unmetTokens - slice.tokens)
    }

    /// Removes the slices past their validity (or all, at `now = .infinity`) and returns those with something left, to
    /// be given back to the store.
    public mutating func expire(now: Double) -> [RateSlice] {
        let expired = slices.filter { $0.usableUntil <= now }
        slices.removeAll { $0.usableUntil <= now }
        return expired.filter { $0.requests > 0 || $0.tokens > 0 }
    }

    /// Empties the budget (the replica stops using the shared store); returns the slices to give back.
    public mutating func drain() -> [RateSlice] {
        defer { slices = [] }
        return slices.filter { $0.requests > 0 || $0.tokens > 0 }
    }
}

/// Where an account's per-minute budget comes from.
public enum RateBudgetSource: Sendable, Equatable {
    /// The configured limits, counted by this process alone (no shared store).
    case local
    /// Slices leased from the shared store, so the limits hold across replicas.
    case shared(LeasedRateBudget)
    /// The shared store is unreachable: this process's share, the limits divided by the replicas last seen.
    case localShare(replicas: Int)
}
