import Contracts
import Testing

@testable import SchedulerCore

@Suite struct AllocationTests {
    private func view(interactiveAge: Double = 0, heavyAge: Double = 0, cost: Int = 100) -> AllocationView {
        AllocationView(
            interactive: ClassLoad(
                requestClass: .interactive, queued: 50, headCost: cost, headAgeBudgets: interactiveAge,
                budgetTokens: 1_000_000),
            heavy: ClassLoad(
                requestClass: .heavy, queued: 50, headCost: cost, headAgeBudgets: heavyAge, budgetTokens: 1_000_000),
            now: 0
        )
    }

    private func shares(_ allocator: inout any AllocationPolicy, rounds: Int, view: AllocationView) -> [RequestClass:
        Int]
    {
        var tokens: [RequestClass: Int] = [:]
        for _ in 0..<rounds {
            guard let chosen = allocator.select(view) else { break }
            tokens[chosen, default: 0] += view[chosen].headCost
            allocator.charge(chosen, tokens: view[chosen].headCost)
        }
        return tokens
    }

    @Test func drrSharesConvergeToQuanta() {
        var policy = SchedulerPolicy()
        policy.interactiveQuantumTokens = 3000
        policy.heavyQuantumTokens = 1000
        var allocator: any AllocationPolicy = AdaptiveDRRAllocator(policy: policy)
        let tokens = shares(&allocator, rounds: 4000, view: view(cost: 70))
        let ratio = Double(tokens[.interactive]!) / Double(tokens[.heavy]!)
        #expect(abs(ratio - 3) < 0.05)
    }

    @Test func drrAgingRaisesTheShareOfAWaitingClass() {
        var policy = SchedulerPolicy()
        policy.interactiveQuantumTokens = 2000
        policy.heavyQuantumTokens = 1000
        var fresh: any AllocationPolicy = AdaptiveDRRAllocator(policy: policy)
        var aged: any AllocationPolicy = AdaptiveDRRAllocator(policy: policy)
        let freshTokens = shares(&fresh, rounds: 3000, view: view(heavyAge: 0))
        let agedTokens = shares(&aged, rounds: 3000, view: view(heavyAge: 1))
        let freshShare = Double(freshTokens[.heavy]!) / 300_000
        let agedShare = Double(agedTokens[.heavy]!) / 300_000
        #expect(freshShare < 0.36)
        #expect(agedShare > 0.55)
    }

    @Test func heavyBorrowsOnlyPartOfIdleInteractiveRoom() {
        var policy = SchedulerPolicy()
        policy.heavyBorrowFraction = 0.5
        let allocator = AdaptiveDRRAllocator(policy: policy)
        func heavyFits(inflight: Int, interactiveQueued: Int) -> Bool {
            let view = AllocationView(
                interactive: ClassLoad(
                    requestClass: .interactive, queued: interactiveQueued, headCost: 10, budgetTokens: 3000),
                heavy: ClassLoad(
                    requestClass: .heavy, queued: 5, headCost: 500, inflightTokens: inflight, inflightRequests: 3,
                    budgetTokens: 7000),
                now: 0
            )
            return allocator.fits(.heavy, view)
        }
        #expect(heavyFits(inflight: 6500, interactiveQueued: 0))
        #expect(heavyFits(inflight: 8000, interactiveQueued: 0))
        #expect(!heavyFits(inflight: 8100, interactiveQueued: 0))
        #expect(!heavyFits(inflight: 6600, interactiveQueued: 2))
    }

    @Test func shortPriorityServesInteractiveWhileAnyWaits() {
        var allocator: any AllocationPolicy = ShortPriorityAllocator()
        let tokens = shares(&allocator, rounds: 100, view: view())
        #expect(tokens[.heavy] == nil)
        #expect(tokens[.interactive] == 10_000)
    }

    @Test func fairQueuingAlternates() {
        var allocator: any AllocationPolicy = FairQueuingAllocator()
        let picks = (0..<6).compactMap { _ in allocator.select(view()) }
        #expect(picks == [.interactive, .heavy, .interactive, .heavy, .interactive, .heavy])
    }

    @Test func quotaTieredKeepsEachClassInsideItsBudget() {
        var allocator: any AllocationPolicy = QuotaTieredAllocator()
        let full = AllocationView(
            interactive: ClassLoad(
                requestClass: .interactive, queued: 4, headCost: 100, inflightTokens: 2950, inflightRequests: 9,
                budgetTokens: 3000),
            heavy: ClassLoad(
                requestClass: .heavy, queued: 4, headCost: 100, inflightTokens: 0, inflightRequests: 0,
                budgetTokens: 7000),
            now: 0
        )
        #expect(allocator.select(full) == .heavy)
        #expect(allocator.select(full) == .heavy)
    }

    @Test func fifoBlocksBehindAnOldestHeadThatDoesNotFit() {
        var allocator: any AllocationPolicy = FIFOAllocator()
        let blocked = AllocationView(
            interactive: ClassLoad(
                requestClass: .interactive, queued: 1, headCost: 10, headSubmittedAtMs: 50, budgetTokens: 3000),
            heavy: ClassLoad(
                requestClass: .heavy, queued: 1, headCost: 9000, headSubmittedAtMs: 10, inflightTokens: 2000,
                inflightRequests: 1, budgetTokens: 7000),
            now: 100
        )
        #expect(allocator.select(blocked) == nil)
    }
}
