import HTTPTypes
import Testing

@testable import Proxy

@Suite struct DeadlineHeaderTests {
    static func headers(_ value: String) -> HTTPFields {
        var fields = HTTPFields()
        fields[HTTPField.Name("X-Deadline-Ms")!] = value
        return fields
    }

    /// A huge budget used to overflow the nanosecond deadline and crash the proxy (found by schemathesis).
    @Test func hugeDeadlineHeaderIsCappedAtOneDay() {
        for value in ["1e300", "9e15", "1.7e308"] {
            let (deadline, explicit) = Forwarder.deadline(Self.headers(value), arrived: 100, defaultBudget: 60)
            #expect(explicit)
            #expect(deadline <= 100 + 86_400)
            #expect(UInt64(exactly: (deadline * 1e9).rounded()) != nil)
        }
        #expect(Forwarder.deadline(Self.headers("1500"), arrived: 100, defaultBudget: 60).0 == 101.5)
    }
}
