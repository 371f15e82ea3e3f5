import Contracts
import Foundation
import Testing

/// Following scheduler requests to their end through `GET /status/{id}`.
enum SchedulerPolling {
    /// Polls `/status` every `interval` until every request is in a final state or `seconds` pass; returns the final
    /// ones (a request missing from the result never finished). An unknown id is recorded as a test issue.
    static func waitForTerminal(
        _ ids: [String], base: String, seconds: Int, interval: Duration = .milliseconds(500)
    ) async throws -> [String: StatusResponse] {
        var final: [String: StatusResponse] = [:]
        let deadline = ContinuousClock.now + .seconds(seconds)
        while final.count < ids.count && ContinuousClock.now < deadline {
            for id in ids where final[id] == nil {
                let response = try await TestHTTP.get("\(base)/status/\(id)")
                #expect(response.status == 200, "request \(id) is unknown")
                guard response.status == 200 else { continue }
                let status = try response.decode(StatusResponse.self)
                if status.state.isTerminal { final[id] = status }
            }
            if final.count < ids.count { try await Task.sleep(for: interval) }
        }
        return final
    }

    /// Polls `/status` until the request has been dispatched (sent to a proxy) or `seconds` pass; returns whether it
    /// was: for a test whose request must hold the only in-flight slot before the next one arrives.
    static func waitForDispatch(_ id: String, base: String, seconds: Int = 30) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            let status = try await TestHTTP.get("\(base)/status/\(id)").decode(StatusResponse.self)
            if status.timings.dispatchedUnixMs != nil { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }
}
