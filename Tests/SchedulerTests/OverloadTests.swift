import Contracts
import Testing

@testable import SchedulerCore

@Suite struct OverloadTests {
    @Test(arguments: [
        (1000.0, CongestionModeName.free, LadderAction.admit),
        (1000.0, .moderate, .admit),
        (1000.0, .congested, .admit),
        (8000.0, .free, .admit),
        (8000.0, .moderate, .admit),
        (8000.0, .congested, .defer),
        (50_000.0, .free, .admit),
        (50_000.0, .moderate, .defer),
        (50_000.0, .congested, .reject),
    ])
    func ladderDecidesPerMode(cost: Double, mode: CongestionModeName, expected: LadderAction) {
        let ladder = CostLadder(rungs: SchedulerPolicy.defaultLadder)
        let (action, reason) = ladder.decide(cost: cost, mode: mode)
        #expect(action == expected)
        #expect((reason == nil) == (expected == .admit))
        if expected == .reject { #expect(reason?.code == "ladder_reject") }
        if expected == .defer { #expect(reason?.code == "ladder_defer") }
    }

    @Test func modeChangesWithHysteresisInLevelAndTime() {
        var policy = SchedulerPolicy()
        policy.modeMinDwellMs = 1000
        var controller = CongestionController(policy: policy)
        #expect(controller.update(slowdownRatio: 1.5, now: 0) == nil)
        #expect(controller.update(slowdownRatio: 1.7, now: 100) == .moderate)
        // Below the exit level but too soon after the change: stays.
        #expect(controller.update(slowdownRatio: 1.2, now: 600) == nil)
        // Below the entry level but above the exit level: stays moderate.
        #expect(controller.update(slowdownRatio: 1.4, now: 5000) == nil)
        #expect(controller.update(slowdownRatio: 2.6, now: 6000) == .congested)
        #expect(controller.update(slowdownRatio: 2.2, now: 8000) == nil)
        #expect(controller.update(slowdownRatio: 1.9, now: 9000) == .moderate)
        #expect(controller.update(slowdownRatio: 1.25, now: 10_100) == .free)
        #expect(controller.mode == .free)
    }

    @Test func rateLimitsPushTheModeUpAndShrinkTheBudget() {
        var controller = CongestionController(policy: SchedulerPolicy())
        for _ in 0..<5 { controller.recordCompletion(rateLimited: true, slowdownRatio: 1, budgetUtilization: 1) }
        #expect(controller.rateLimitedShare > 0.3)
        #expect(controller.capacityScale < 0.5)
        #expect(controller.update(slowdownRatio: 1, now: 0) == .congested)
        #expect(controller.budgetScale < 0.35)
    }

    @Test func probingGrowsTheBudgetOnlyWhileTheProviderStaysFastAndTheBudgetIsUsed() {
        var controller = CongestionController(policy: SchedulerPolicy())
        for _ in 0..<10 { controller.recordCompletion(rateLimited: false, slowdownRatio: 1.0, budgetUtilization: 0.5) }
        #expect(controller.capacityScale == 1)
        for _ in 0..<10 { controller.recordCompletion(rateLimited: false, slowdownRatio: 1.0, budgetUtilization: 0.95) }
        #expect(controller.capacityScale > 1.15)
        let grown = controller.capacityScale
        for _ in 0..<10 { controller.recordCompletion(rateLimited: false, slowdownRatio: 1.7, budgetUtilization: 0.95) }
        #expect(controller.capacityScale < grown)
    }

    @Test func serviceTimeModelLearnsPerTokenTimeAndBaseline() {
        var model = ServiceTimeModel(policy: SchedulerPolicy())
        for _ in 0..<50 { model.observe(outputTokens: 101, latencyMs: 100 + 100 * 10, ttftMs: 100) }
        #expect(abs(model.msPerOutputToken - 10) < 0.01)
        #expect(abs(model.ttftMs - 100) < 0.01)
        for _ in 0..<30 { model.observe(outputTokens: 101, latencyMs: 100 + 100 * 30, ttftMs: 100) }
        #expect(model.msPerOutputToken > 28)
        #expect(model.baselineMsPerOutputToken < 16)
        #expect(model.slowdownRatio > 1.8)
    }
}
