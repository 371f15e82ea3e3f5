import Logging
import ServiceRuntime
import Synchronization
import Testing

/// Collects what a `StreamLogHandler` writes.
final class CapturedStream: TextOutputStream, Sendable {
    private let text = Mutex("")

    var lines: [Substring] { text.withLock { $0 }.split(separator: "\n") }

    func write(_ string: String) {
        text.withLock { $0 += string }
    }
}

@Suite struct DeferredMetadataLogHandlerTests {
    /// A line without its timestamp (the first field), which may differ by a second between the two.
    static func withoutTimestamp(_ line: Substring) -> Substring {
        line.drop { $0 != " " }
    }

    @Test func writesWhatStreamLogHandlerWrites() {
        let plainStream = CapturedStream()
        let deferredStream = CapturedStream()
        var plain = Logger(label: "maitre") { StreamLogHandler(label: $0, stream: plainStream, metadataProvider: nil) }
        var deferred = Logger(label: "maitre") {
            DeferredMetadataLogHandler(StreamLogHandler(label: $0, stream: deferredStream, metadataProvider: nil))
        }
        plain.logLevel = .debug
        deferred.logLevel = .debug
        #expect(deferred.logLevel == .debug)
        for key in ["request_id", "path", "b", "a"] {
            plain[metadataKey: key] = "value of \(key)"
            deferred[metadataKey: key] = "value of \(key)"
        }
        plain[metadataKey: "path"] = nil
        deferred[metadataKey: "path"] = nil
        #expect(deferred[metadataKey: "request_id"] == "value of request_id")
        plain.info("served")
        deferred.info("served")
        plain.error("request failed", metadata: ["error": "boom"])
        deferred.error("request failed", metadata: ["error": "boom"])
        plain.trace("not written")
        deferred.trace("not written")

        #expect(deferredStream.lines.count == 2)
        #expect(deferredStream.lines.map(Self.withoutTimestamp) == plainStream.lines.map(Self.withoutTimestamp))
        #expect(
            deferredStream.lines.first?.contains("a=value of a b=value of b request_id=value of request_id") == true)
    }
}
