import ServiceRuntime
import Testing

@Suite struct ConstantTimeTests {
    @Test func equalSecretsMatch() {
        #expect(ConstantTime.equals("s3cret-token", "s3cret-token"))
        #expect(ConstantTime.equals("", ""))
    }

    @Test func anyDifferingByteOrLengthRefuses() {
        #expect(!ConstantTime.equals("s3cret-token", "s3cret-tokeN"))
        #expect(!ConstantTime.equals("s3cret-token", "X3cret-token"))
        #expect(!ConstantTime.equals("s3cret-token", "s3cret-toke"))
        #expect(!ConstantTime.equals("s3cret-token", "s3cret-token!"))
        #expect(!ConstantTime.equals("s3cret-token", ""))
        #expect(!ConstantTime.equals("", "s3cret-token"))
    }

    /// A presented value that is the secret padded with zero bytes must not pass (a length check folded into
    /// the byte difference can wrap around at 256 and miss it).
    @Test func zeroPaddedSecretRefuses() {
        let secret = Array("token".utf8)
        #expect(!ConstantTime.equals(secret, secret + [UInt8](repeating: 0, count: 256)))
        #expect(!ConstantTime.equals(secret + [UInt8](repeating: 0, count: 256), secret))
    }
}
