import Contracts

/// One dispatch round: the room the request caps and budgets leave each class, then, while there is room, the
/// allocation policy picks a class from what each class's next request looks like (`ClassLoad`), the class's tenant
/// fairness and ordering give that request, and it goes.
extension SchedulerEngine {
    /// Releases what the budgets allow at `now`, in allocation, tenant-fairness and ordering order.
    public mutating func nextDispatches(now: Double, limit: Int = .max) -> [Dispatch] {
        live.releaseBackoff(now: now, ranking: ranking)
        updateMode(now: now)
        var dispatches: [Dispatch] = []
        budgetBound = false
        let (requestCap, heavyCap) = requestCaps(now: now)
        // The margin above the knee is interactive work's: heavy work stops at the knee (`heavyCap`), and interactive
        // work may use the margin even while heavy work sent before the cap engaged still holds more than its share
        // (a transient).
        // FIFO, the class-blind baseline, only has the total cap.
        let classAware = policy.allocation != .fifo
        let interactiveMargin = max(1, requestCap - heavyCap)
        while dispatches.count < limit {
            let total = inflight.totalRequests
            let interactiveRoom =
                total < requestCap
                || (classAware && requestCap < policy.maxInflightRequests
                    && inflight.requests[RequestClass.interactive.index] < interactiveMargin)
            var heavyRoom =
                total < requestCap && (!classAware || inflight.requests[RequestClass.heavy.index] < heavyCap)
            guard interactiveRoom || heavyRoom else { break }
            let interactiveHead = interactiveRoom ? live.head(.interactive, now: now, ranking: ranking) : nil
            var heavyHead = heavyRoom ? live.head(.heavy, now: now, ranking: ranking) : nil
            var interactiveLoad = load(.interactive, head: interactiveHead, now: now)
            var heavyLoad = load(.heavy, head: heavyHead, now: now)
            // Under the knee cap a slot is the scarce thing: while interactive work waits for one, heavy work takes
            // none unless its next request is running out of slack (then the allocator weighs both, with aging).
            if classAware, requestCap < policy.maxInflightRequests, interactiveHead != nil,
                heavyLoad.headPressure < policy.heavyUrgentPressure
            {
                heavyRoom = false
                heavyHead = nil
            }
            if !interactiveRoom { interactiveLoad.queued = 0 }
            if !heavyRoom { heavyLoad.queued = 0 }
            let view = AllocationView(interactive: interactiveLoad, heavy: heavyLoad, now: now)
            guard let chosen = allocator.select(view), let picked = chosen == .interactive ? interactiveHead : heavyHead
            else {
                budgetBound = view.interactive.queued + view.heavy.queued > 0
                break
            }
            let cost = Double(live[picked.entry.slot]!.reservedTokens)
            live.serve(picked, of: chosen, cost: cost)
            allocator.charge(chosen, tokens: Int(cost))
            dispatches.append(dispatch(slot: picked.entry.slot, now: now))
        }
        dispatchDeferredWhenIdle(now: now, limit: limit, requestCap: requestCap, into: &dispatches)
        return dispatches
    }

    /// Requests that may be in flight now, in all and for heavy work: the policy's hard cap, or less once the
    /// provider's knee is known (one estimate for both).
    public func requestCaps(now: Double) -> (total: Int, heavy: Int) {
        let caps = knee.caps(baselineMsPerOutputToken: model.baselineMsPerOutputToken, now: now)
        return (
            min(policy.maxInflightRequests, caps?.total ?? .max), min(policy.maxInflightRequests, caps?.heavy ?? .max)
        )
    }

    /// Requests that may be in flight now (`requestCaps(now:).total`).
    public func inflightRequestCap(now: Double) -> Int {
        requestCaps(now: now).total
    }

    /// Deferred work is not dropped: when nothing else waits and there is room, it goes (work conservation).
    private mutating func dispatchDeferredWhenIdle(
        now: Double, limit: Int, requestCap: Int, into dispatches: inout [Dispatch]
    ) {
        guard live.queuedCount(.interactive) == 0, live.queuedCount(.heavy) == 0 else { return }
        for requestClass in RequestClass.allCases {
            while dispatches.count < limit, inflight.totalRequests < requestCap,
                let slot = live.topDeferred(requestClass)
            {
                let cost = live[slot]!.reservedTokens
                guard inflight.totalRequests == 0 || inflight.totalTokens + cost <= totalBudgetTokens else { return }
                live.removeTopDeferred(requestClass)
                dispatches.append(dispatch(slot: slot, now: now))
            }
        }
    }

    private mutating func dispatch(slot: Int, now: Double) -> Dispatch {
        inflight.advance(now: now)
        let record = live.markDispatched(
            slot, now: now, inflightArea: inflight.area, inflightAfter: inflight.totalRequests + 1)
        inflight.add(record)
        counters.dispatched += 1
        log.append(.dispatch, now: now, record: record)
        return Dispatch(
            requestId: record.job.id,
            tenantId: record.job.tenantId,
            requestClass: record.requestClass,
            deadlineAtMs: record.deadlineAtMs,
            predictedOutputTokens: record.job.boundedP50,
            predictedOutputTokensP90: record.job.boundedP90,
            reservedTokens: record.reservedTokens,
            attempt: record.attempts,
            pacedAtSlots: knee.engaged && knee.queueing
        )
    }

    /// A class as the allocation policy sees it: what waits, what is in flight, its budget, and its next request.
    private func load(_ requestClass: RequestClass, head: (tenant: String, entry: RankEntry)?, now: Double) -> ClassLoad
    {
        let index = requestClass.index
        var load = ClassLoad(
            requestClass: requestClass,
            queued: live.queuedCount(requestClass),
            inflightTokens: inflight.tokens[index],
            inflightRequests: inflight.requests[index],
            budgetTokens: budgetTokens(requestClass)
        )
        if let head, let record = live[head.entry.slot] {
            let budget = max(record.deadlineAtMs - record.job.submittedAtMs, 1)
            load.headCost = record.reservedTokens
            load.headSubmittedAtMs = record.job.submittedAtMs
            load.headAgeBudgets = max(0, now - record.job.submittedAtMs) / budget
            let slack = record.deadlineAtMs - now - record.item.predictedDurationMs
            load.headPressure = min(max(1 - slack / budget, 0), 1)
        }
        return load
    }
}
