import Foundation
import ProxyCore
import Testing

@Suite struct BudgetBookTests {
    static let limit = TenantBudget(tenant: "a", tokens: 100, microUSD: nil, period: .day).limit

    @Test func reservationsStopAtTheLimitAndSettlingGivesTheUnusedPartBack() {
        var book = BudgetBook()
        let call = BudgetCharge(tokens: 40, microUSD: 0)
        func reserve(startMs: Int64 = 0) -> Bool {
            book.reserve(tenant: "a", startMs: startMs, charge: call, limit: Self.limit)
        }
        #expect(reserve())
        #expect(reserve())
        #expect(!reserve())
        book.settle(tenant: "a", startMs: 0, reserved: call, used: BudgetCharge(tokens: 10, microUSD: 0))
        #expect(reserve())
        #expect(book.usage(tenant: "a", startMs: 0).used.tokens == 10)
        // A new period starts empty.
        #expect(reserve(startMs: 86_400_000))
    }

    @Test func moneyIsChargedAtThePricePerThousandTokens() {
        let price = ModelPrice(inputPer1k: 0.5, outputPer1k: 1.5)
        #expect(
            ModelPrice.charge(input: 1000, output: 2000, price: price)
                == BudgetCharge(tokens: 3000, microUSD: 3_500_000))
        #expect(ModelPrice.charge(input: 10, output: 10, price: nil).microUSD == 0)
    }

    @Test func periodsAreUTCDaysAndMonths() {
        let date = Date(timeIntervalSince1970: 1_764_806_400 + 3_600)  // 2025-12-04 01:00 UTC
        #expect(BudgetPeriod.day.bounds(at: date) == (1_764_806_400_000, 1_764_892_800_000))
        #expect(BudgetPeriod.month.bounds(at: date).startMs == 1_764_547_200_000)
    }

    @Test func aMoneyBudgetNeedsPricesOnEveryDeployment() {
        let priced = Deployment(
            name: "p", modelName: "m", upstreamModel: "m", apiBase: "http://x/v1",
            price: ModelPrice(inputPer1k: 1, outputPer1k: 2))
        let unpriced = Deployment(name: "u", modelName: "m", upstreamModel: "m", apiBase: "http://x/v1")
        let document: [String: Any] = ["budgets": ["t": ["usd": 5, "per": "month"] as [String: Any]]]
        #expect(throws: DeploymentConfigError.self) {
            _ = try BudgetDocument.parse(document, deployments: [priced, unpriced])
        }
        let budgets = try? BudgetDocument.parse(document, deployments: [priced])
        #expect(budgets == [TenantBudget(tenant: "t", tokens: nil, microUSD: 5_000_000, period: .month)])
    }

    @Test func pricesAreReadPerThousandOrPerTokenAndMustComeInPairs() throws {
        let fields: [String: Any] = [
            "api_base": "http://x/v1", "input_cost_per_token": 0.25, "output_cost_per_1k": 0.002,
        ]
        let deployment = try DeploymentDocument.parse(["models": ["m": [fields]]], environment: [:])
        #expect(deployment.first?.price == ModelPrice(inputPer1k: 250, outputPer1k: 0.002))
        #expect(throws: DeploymentConfigError.self) {
            _ = try DeploymentDocument.parse(
                ["models": ["m": [["api_base": "http://x/v1", "input_cost_per_1k": 1] as [String: Any]]]],
                environment: [:])
        }
    }

    @Test func aProxyCutOffFromTheSharedBudgetsSpendsItsShareOfWhatWasLeft() {
        let limit = BudgetCharge(tokens: 3_000, microUSD: TenantBudget.unbounded)
        let share = TenantBudget.localShare(
            limit: limit, seen: BudgetCharge(tokens: 1_000, microUSD: 50), replicas: 4)
        #expect(share.tokens == 500)
        #expect(share.microUSD == TenantBudget.unbounded)
        // Already past its budget when last seen: nothing left to share.
        let spent = TenantBudget.localShare(limit: limit, seen: BudgetCharge(tokens: 3_500, microUSD: 0), replicas: 2)
        #expect(spent.tokens == 0)
    }
}
