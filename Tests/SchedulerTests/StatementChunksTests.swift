import PostgresSupport
import Testing

@Suite struct StatementChunksTests {
    @Test func piecesKeepEveryElementInOrderAndNoneIsLargerThanAsked() {
        let rows = Array(0..<7)
        #expect(rows.chunks(ofCount: 3).map(Array.init) == [[0, 1, 2], [3, 4, 5], [6]])
        #expect(rows.chunks(ofCount: 7).map(Array.init) == [rows])
        #expect(rows.chunks(ofCount: 100).map(Array.init) == [rows])
        #expect([Int]().chunks(ofCount: 3).isEmpty)
        // Index ranges, as the history store splits parallel arrays.
        #expect(rows.indices.chunks(ofCount: 4) == [0..<4, 4..<7])
    }
}
