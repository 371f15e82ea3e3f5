import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import ServiceRuntime
import Testing

@Suite struct MetricsEndpointTests {
    @Test func plainCurlGetsJSONAndScrapersGetText() async throws {
        try await makeTestApplication().test(.router) { client in
            _ = try await client.execute(uri: "/health", method: .get)
            try await client.execute(uri: "/metrics", method: .get, headers: [.accept: "*/*"]) { response in
                #expect(response.headers[.contentType] == "application/json")
                let snapshot = try JSONDecoder().decode(
                    MetricsSnapshot.self, from: Data(response.body.readableBytesView))
                let requests = try #require(snapshot.metrics["http_requests_total"])
                #expect(requests.type == "counter")
                #expect(requests.samples.contains { $0.labels["route"] == "/health" && $0.value >= 1 })
            }
            try await client.execute(uri: "/metrics", method: .get, headers: [.accept: "text/plain;version=0.0.4"]) {
                response in
                #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
                #expect(String(buffer: response.body).contains("# TYPE http_requests_total counter"))
            }
            try await client.execute(uri: "/metrics?format=prometheus", method: .get) { response in
                #expect(String(buffer: response.body).contains("http_requests_total"))
            }
            try await client.execute(uri: "/metrics?format=xml", method: .get) { response in
                #expect(response.status == .badRequest)
                let envelope = try decodeEnvelope(response)
                #expect(envelope.error.param == "format")
            }
        }
    }

    @Test func snapshotParserReadsLabelsAndHistograms() {
        let text = """
            # TYPE q gauge
            q{class="interactive",tenant="a \\"b\\""} 3
            # TYPE h histogram
            h_bucket{le="0.1"} 1
            h_bucket{le="+Inf"} 2
            h_sum 0.3
            h_count 2
            """
        let snapshot = MetricsSnapshotBuilder.parse(text, service: "s")
        #expect(snapshot.metrics["q"]?.samples.first?.labels == ["class": "interactive", "tenant": "a \"b\""])
        #expect(snapshot.metrics["h"]?.samples.count == 4)
        #expect(snapshot.metrics["h"]?.type == "histogram")
    }
}
