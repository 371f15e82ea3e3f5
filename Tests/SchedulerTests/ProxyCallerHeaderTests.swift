import Testing

@testable import Scheduler

@Suite struct ProxyCallerHeaderTests {
    /// A tenant from the body's `user` may hold control characters; the proxy call must still be sendable.
    @Test func tenantHeaderPercentEncodesControlCharactersAndPercent() {
        #expect(ProxyCaller.headerSafe("team-a") == "team-a")
        #expect(ProxyCaller.headerSafe("\u{1F}1\u{7F}x") == "%1F1%7Fx")
        #expect(ProxyCaller.headerSafe("50%") == "50%25")
        #expect(ProxyCaller.headerSafe("é\nü") == "é%0Aü")
    }
}
