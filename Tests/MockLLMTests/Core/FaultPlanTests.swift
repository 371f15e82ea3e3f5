import MockLLMCore
import Testing

@Suite struct FaultPlanTests {
    @Test func faultsAppearAtTheirConfiguredRates() {
        let plan = FaultPlan(
            internalErrorRate: 0.05, unavailableRate: 0.10, hangRate: 0.02, resetRate: 0.08, slowFirstByteRate: 0.2,
            slowFirstByteSeconds: 1.5)
        var random = SeededRandom(seed: 7)
        let draws = 100_000
        var counts = [String: Int]()
        for _ in 0..<draws {
            let fault = plan.draw(outputTokens: 50, using: &random)
            if fault.status == 500 { counts["500", default: 0] += 1 }
            if fault.status == 503 { counts["503", default: 0] += 1 }
            if fault.hang { counts["hang", default: 0] += 1 }
            if let after = fault.resetAfterTokens {
                counts["reset", default: 0] += 1
                #expect((0..<50).contains(after))
            }
            if fault.slowFirstByteSeconds > 0 {
                counts["slow", default: 0] += 1
                #expect(fault.slowFirstByteSeconds == 1.5)
            }
        }
        // Binomial standard error at 100k draws is under 0.0013; allow four of them.
        for (kind, rate) in [("500", 0.05), ("503", 0.10), ("hang", 0.02), ("reset", 0.08), ("slow", 0.2)] {
            let observed = Double(counts[kind, default: 0]) / Double(draws)
            #expect(abs(observed - rate) < 0.005, "\(kind): \(observed) vs \(rate)")
        }
    }

    @Test func noPlanMeansNoFaultsAndDrawsAreReproducible() {
        var random = SeededRandom(seed: 1)
        for _ in 0..<1000 { #expect(FaultPlan.none.draw(outputTokens: 10, using: &random).isNone) }
        let plan = FaultPlan(internalErrorRate: 0.3, resetRate: 0.3)
        var first = SeededRandom(seed: 99)
        var second = SeededRandom(seed: 99)
        for _ in 0..<100 {
            #expect(plan.draw(outputTokens: 20, using: &first) == plan.draw(outputTokens: 20, using: &second))
        }
    }

    @Test func theFaultHeaderForcesAFault() throws {
        #expect(try InjectedFault.parseHeader("status=503") == InjectedFault(status: 503))
        #expect(
            try InjectedFault.parseHeader("reset-after=5; slow-first-byte-ms=200")
                == InjectedFault(resetAfterTokens: 5, slowFirstByteSeconds: 0.2))
        #expect(try InjectedFault.parseHeader("hang") == InjectedFault(hang: true))
        #expect(try InjectedFault.parseHeader("stall-after=1") == InjectedFault(stallAfterTokens: 1))
        #expect(try InjectedFault.parseHeader("none").isNone)
        #expect(throws: FaultHeaderError.self) { try InjectedFault.parseHeader("status=200") }
        #expect(throws: FaultHeaderError.self) { try InjectedFault.parseHeader("explode") }
    }
}
