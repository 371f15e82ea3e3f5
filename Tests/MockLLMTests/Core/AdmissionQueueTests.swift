import MockLLMCore
import Testing

@Suite struct AdmissionQueueTests {
    @Test func admitsUpToTheCapThenQueuesThenRejects() {
        var queue = AdmissionQueue(maxConcurrency: 2, maxQueue: 1)
        #expect(queue.arrive(1) == .admitted)
        #expect(queue.arrive(2) == .admitted)
        #expect(queue.arrive(3) == .queued)
        #expect(queue.arrive(4) == .rejected)
        #expect(queue.inFlight == 2)
        #expect(queue.queueDepth == 1)
    }

    @Test func releaseHandsTheSlotToTheOldestWaiter() {
        var queue = AdmissionQueue(maxConcurrency: 1, maxQueue: 10)
        _ = queue.arrive(1)
        _ = queue.arrive(2)
        _ = queue.arrive(3)
        #expect(queue.release() == 2)
        #expect(queue.inFlight == 1)
        #expect(queue.release() == 3)
        #expect(queue.release() == nil)
        #expect(queue.inFlight == 0)
        #expect(queue.arrive(4) == .admitted)
    }

    @Test func aWithdrawnWaiterIsSkipped() {
        var queue = AdmissionQueue(maxConcurrency: 1, maxQueue: 10)
        _ = queue.arrive(1)
        _ = queue.arrive(2)
        _ = queue.arrive(3)
        let withdrawn = queue.withdraw(2)
        let twice = queue.withdraw(2)
        let admittedOne = queue.withdraw(1)
        #expect(withdrawn && !twice && !admittedOne)
        #expect(queue.queueDepth == 1)
        #expect(queue.release() == 3)
    }

    @Test func newcomersDoNotOvertakeTheLine() {
        var queue = AdmissionQueue(maxConcurrency: 1, maxQueue: 10)
        _ = queue.arrive(1)
        _ = queue.arrive(2)
        #expect(queue.release() == 2)
        #expect(queue.arrive(3) == .queued)
    }
}
