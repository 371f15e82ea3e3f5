/// Comparison of secrets (API keys, admin and stats tokens) whose running time depends only on the length of
/// the expected secret, never on where the presented value first differs.
public enum ConstantTime {
    /// Whether `presented` equals `expected`, touching every byte of `expected` whatever `presented` holds.
    public static func equals(_ expected: [UInt8], _ presented: [UInt8]) -> Bool {
        var difference: UInt8 = expected.count == presented.count ? 0 : 1
        for index in expected.indices {
            let other = index < presented.count ? presented[index] : 0
            difference |= expected[index] ^ other
        }
        return difference == 0
    }

    /// `equals` over the strings' UTF-8 bytes.
    public static func equals(_ expected: String, _ presented: String) -> Bool {
        equals(Array(expected.utf8), Array(presented.utf8))
    }
}
