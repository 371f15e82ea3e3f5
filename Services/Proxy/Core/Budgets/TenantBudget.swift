import Foundation

/// The period a tenant budget covers: a UTC calendar day or month.
public enum BudgetPeriod: String, Sendable, Equatable, CaseIterable {
    case day, month

    /// The period holding `date`: its start and the moment it resets, in Unix milliseconds.
    public func bounds(at date: Date) -> (startMs: Int64, resetMs: Int64) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let component: Calendar.Component = self == .day ? .day : .month
        let interval = calendar.dateInterval(of: component, for: date)!
        return (Int64(interval.start.timeIntervalSince1970 * 1000), Int64(interval.end.timeIntervalSince1970 * 1000))
    }
}

/// Tokens and money counted against a tenant budget; money in millionths of a US dollar, so sums are exact.
public struct BudgetCharge: Sendable, Equatable {
    public var tokens: Int64
    public var microUSD: Int64

    public init(tokens: Int64, microUSD: Int64) {
        self.tokens = tokens
        self.microUSD = microUSD
    }

    public static let zero = BudgetCharge(tokens: 0, microUSD: 0)
}

/// What one model costs per 1,000 tokens, in US dollars.
public struct ModelPrice: Sendable, Equatable {
    public var inputPer1k: Double
    public var outputPer1k: Double

    public init(inputPer1k: Double, outputPer1k: Double) {
        self.inputPer1k = inputPer1k
        self.outputPer1k = outputPer1k
    }

    /// The charge of a call of `input` prompt tokens and `output` output tokens at this price (`nil`: no money).
    public static func charge(input: Int, output: Int, price: ModelPrice?) -> BudgetCharge {
        let tokens = Int64(max(0, input) + max(0, output))
        guard let price else { return BudgetCharge(tokens: tokens, microUSD: 0) }
        let usd = Double(max(0, input)) * price.inputPer1k / 1000 + Double(max(0, output)) * price.outputPer1k / 1000
        return BudgetCharge(tokens: tokens, microUSD: Int64((usd * 1_000_000).rounded(.up)))
    }
}

/// One tenant's budget (`budgets:` in the deployment file): tokens and/or US dollars per day or month. The tenant
/// `*` gives every tenant not listed a budget of its own of that size.
public struct TenantBudget: Sendable, Equatable {
    public var tenant: String
    public var tokens: Int64?
    public var microUSD: Int64?
    public var period: BudgetPeriod

    public init(tenant: String, tokens: Int64?, microUSD: Int64?, period: BudgetPeriod) {
        self.tenant = tenant
        self.tokens = tokens
        self.microUSD = microUSD
        self.period = period
    }

    /// The limits as a charge (a missing limit is unbounded).
    public var limit: BudgetCharge {
        BudgetCharge(tokens: tokens ?? Self.unbounded, microUSD: microUSD ?? Self.unbounded)
    }

    /// Stands for "no limit" in sums: far above any real budget, far below overflow.
    public static let unbounded = Int64(1) << 60

    /// What one of `replicas` proxies may spend alone while the shared budgets are unreachable: its share of what the
    /// budget had left when the store last answered (`seen`: used and reserved then). An unbounded side stays so.
    public static func localShare(limit: BudgetCharge, seen: BudgetCharge, replicas: Int) -> BudgetCharge {
        func share(_ limit: Int64, _ seen: Int64) -> Int64 {
            limit >= unbounded ? limit : max(0, limit - seen) / Int64(max(1, replicas))
        }
        return BudgetCharge(tokens: share(limit.tokens, seen.tokens), microUSD: share(limit.microUSD, seen.microUSD))
    }

    /// Whether `charge` fits beside `used` and `reserved` under `limit`.
    public static func fits(_ charge: BudgetCharge, used: BudgetCharge, reserved: BudgetCharge, limit: BudgetCharge)
        -> Bool
    {
        used.tokens + reserved.tokens + charge.tokens <= limit.tokens
            && used.microUSD + reserved.microUSD + charge.microUSD <= limit.microUSD
    }
}

/// The tenants' budgets in this process's memory (no shared store): per tenant and period, what answered calls used
/// and what calls under way reserved. Pure: time is passed in.
public struct BudgetBook: Sendable {
    struct Entry {
        var used = BudgetCharge.zero
        var reserved = BudgetCharge.zero
    }

    private var entries: [String: Entry] = [:]
    private var periodStart: [String: Int64] = [:]

    public init() {}

    /// Reserves `charge` for `tenant` in the period starting at `startMs` when it fits under `limit`.
    public mutating func reserve(tenant: String, startMs: Int64, charge: BudgetCharge, limit: BudgetCharge) -> Bool {
        let key = "\(tenant)\u{0}\(startMs)"
        if periodStart[tenant] != startMs {
            // A new period: the old one's entry is no longer needed.
            if let old = periodStart[tenant] { entries["\(tenant)\u{0}\(old)"] = nil }
            periodStart[tenant] = startMs
        }
        var entry = entries[key] ?? Entry()
        guard TenantBudget.fits(charge, used: entry.used, reserved: entry.reserved, limit: limit) else { return false }
        entry.reserved.tokens += charge.tokens
        entry.reserved.microUSD += charge.microUSD
        entries[key] = entry
        return true
    }

    /// Replaces a reservation with what the call used (zero when it failed).
    public mutating func settle(tenant: String, startMs: Int64, reserved: BudgetCharge, used: BudgetCharge) {
        let key = "\(tenant)\u{0}\(startMs)"
        guard var entry = entries[key] else { return }
        entry.reserved.tokens = max(0, entry.reserved.tokens - reserved.tokens)
        entry.reserved.microUSD = max(0, entry.reserved.microUSD - reserved.microUSD)
        entry.used.tokens += used.tokens
        entry.used.microUSD += used.microUSD
        entries[key] = entry
    }

    /// What `tenant` used and has reserved in the period starting at `startMs`.
    public func usage(tenant: String, startMs: Int64) -> (used: BudgetCharge, reserved: BudgetCharge) {
        let entry = entries["\(tenant)\u{0}\(startMs)"] ?? Entry()
        return (entry.used, entry.reserved)
    }
}
