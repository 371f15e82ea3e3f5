extension Collection {
    /// The collection in consecutive pieces of at most `size` elements, in order: how a long write is split into
    /// statements that stay under PostgreSQL's limit of bind parameters per statement.
    public func chunks(ofCount size: Int) -> [SubSequence] {
        precondition(size > 0, "chunks of at least one element")
        var pieces: [SubSequence] = []
        var start = startIndex
        while start != endIndex {
            let end = index(start, offsetBy: size, limitedBy: endIndex) ?? endIndex
            pieces.append(self[start..<end])
            start = end
        }
        return pieces
    }
}
