import Contracts

/// The predictor fallback levels of the last `capacity` submissions, counted, for the operator page.
struct FallbackLevelWindow: Sendable {
    let capacity: Int
    private var levels: [FallbackLevel] = []
    private var next = 0
    private(set) var counts: [String: Int] = [:]

    init(capacity: Int = 500) {
        self.capacity = max(1, capacity)
    }

    mutating func record(_ level: FallbackLevel) {
        if levels.count < capacity {
            levels.append(level)
        } else {
            let dropped = levels[next].rawValue
            counts[dropped, default: 1] -= 1
            if counts[dropped] == 0 { counts[dropped] = nil }
            levels[next] = level
            next = (next + 1) % capacity
        }
        counts[level.rawValue, default: 0] += 1
    }
}
