/// Counts tokens the way the upstream bills them, for rate-window reservations and outcome reports.
public protocol TokenCounting: Sendable {
    func count(_ text: String) -> Int
}

/// About four bytes of English per token: used only when the cl100k rank file cannot be found.
public struct ApproximateTokenCounter: TokenCounting {
    public init() {}

    public func count(_ text: String) -> Int {
        text.isEmpty ? 0 : max(1, (text.utf8.count + 3) / 4)
    }
}
