import Testing

@testable import SchedulerCore

@Suite struct FairnessTests {
    /// Serves `rounds` requests the way `ClassQueue` asks the policy, each tenant's requests costing `costs[tenant]`;
    /// returns the predicted tokens served per tenant.
    private func serve(_ policy: inout TenantDRRFairness, costs: [String: Double], rounds: Int) -> [String: Double] {
        var served: [String: Double] = [:]
        for _ in 0..<rounds {
            while let tenant = policy.candidate() {
                let cost = costs[tenant]!
                guard policy.admits(tenant, cost: cost) else { continue }
                policy.charge(tenant, cost: cost)
                served[tenant, default: 0] += cost
                break
            }
        }
        return served
    }

    @Test func tenantsShareByPredictedTokensNotByRequests() {
        var policy = TenantDRRFairness(quantumTokens: 400)
        policy.join("small")
        policy.join("large")
        let served = serve(&policy, costs: ["small": 100, "large": 400], rounds: 500)
        // Four small requests for every large one: equal tokens, within one large request.
        #expect(abs(served["small"]! - served["large"]!) <= 400)
    }

    @Test func aLoneTenantIsServedAtOnceWithoutCredit() {
        var policy = TenantDRRFairness(quantumTokens: 1)
        policy.join("only")
        #expect(policy.candidate() == "only")
        let admitted = policy.admits("only", cost: 10_000)
        #expect(admitted)
    }

    @Test func aTenantThatLeavesLosesItsCredit() {
        var policy = TenantDRRFairness(quantumTokens: 100)
        policy.join("a")
        policy.join("b")
        #expect(policy.candidate() == "a")
        let firstVisit = policy.admits("a", cost: 150)
        #expect(!firstVisit)
        #expect(policy.candidate() == "b")
        policy.leave("a")
        policy.join("a")
        #expect(policy.candidate() == "b")
        let bVisit = policy.admits("b", cost: 150)
        #expect(!bVisit)
        #expect(policy.candidate() == "a")
        // The 100 tokens it had earned went when it left: 80 are not covered yet.
        let visitAfterRejoining = policy.admits("a", cost: 80)
        #expect(!visitAfterRejoining)
    }

    @Test func makesTheConfiguredPolicy() {
        var settings = SchedulerPolicy()
        settings.tenantQuantumTokens = 777
        let policy = makeTenantFairnessPolicy(settings)
        #expect((policy as? TenantDRRFairness)?.quantumTokens == 777)
    }
}
