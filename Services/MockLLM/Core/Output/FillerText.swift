/// Answer text of an exact cl100k length: a cycle of pieces each of which is one cl100k token on its
/// own and stays one token next to its neighbours (checked against tiktoken by the unit tests).
public enum FillerText {
    /// One cl100k token each; the cycle reads as two short sentences.
    public static let pieces: [String] = [
        " The", " kitchen", " is", " busy", " tonight", ",", " so", " every", " order", " waits", " its", " turn", ".",
        " A", " good", " chef", " cooks", " each", " dish", " with", " care", " and", " serves", " it", " hot", ".",
    ]

    /// The piece at output position `index`.
    public static func piece(at index: Int) -> String {
        pieces[index % pieces.count]
    }

    /// `count` tokens of text starting at output position `start`.
    public static func text(tokens count: Int, from start: Int = 0) -> String {
        var result = ""
        result.reserveCapacity(count * 6)
        for index in start..<(start + max(0, count)) {
            result += pieces[index % pieces.count]
        }
        return result
    }
}
