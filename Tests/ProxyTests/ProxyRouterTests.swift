import AsyncHTTPClient
import Contracts
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Proxy
import ProxyCore
import ServiceRuntime
import Testing
import TextEngine

/// The proxy's application in process: the forwarded endpoints through a live server (they are served below the
/// router, in each connection's `ForwardingHandler`), the other routes through the router.
@Suite struct ProxyRouterTests {
    /// A port nothing listens on (the discard port on loopback).
    static let deadUpstream = "http://127.0.0.1:9/v1"

    /// The client outcome reports would be sent with (reports are off here); process-lifetime, as tests share it.
    static let client = HTTPClient(eventLoopGroupProvider: .singleton)

    func makeApp(_ overrides: [String: String] = [:], deployments: [Deployment]? = nil) async throws
        -> some ApplicationProtocol
    {
        var settings = [
            "predictor-base-url": "", "max-retries": "1", "retry-backoff-ms": "1",
            "default-upstream": Self.deadUpstream,
        ]
        settings.merge(overrides) { $1 }
        let configuration = try ProxyConfiguration.defaults(settings)
        return try await buildApplication(
            configuration: configuration, metrics: ServiceMetrics(), logger: Logger(label: "test"),
            deployments: deployments, tokenCounter: ApproximateTokenCounter(), httpClient: Self.client)
    }

    func chat(_ model: String = "gpt-4o-mini") -> ByteBuffer {
        ByteBuffer(string: #"{"model":"\#(model)","messages":[{"role":"user","content":"hi"}]}"#)
    }

    func envelope(_ response: TestResponse) -> ErrorEnvelope? {
        try? JSONDecoder().decode(ErrorEnvelope.self, from: Data(response.body.readableBytesView))
    }

    @Test func listsTheConfiguredModelNames() async throws {
        let app = try await makeApp()
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/models", method: .get) { response in
                #expect(response.status == .ok)
                let list = try JSONDecoder().decode(ModelList.self, from: Data(response.body.readableBytesView))
                #expect(list.data.map(\.id) == ["gpt-3.5-turbo", "gpt-4o-mini"])
            }
        }
    }

    @Test func malformedJSONIsA400Envelope() async throws {
        let app = try await makeApp()
        try await app.test(.live) { client in
            try await client.execute(
                uri: "/v1/chat/completions", method: .post, body: ByteBuffer(string: "{\"model\": ")
            ) { response in
                #expect(response.status == .badRequest)
                #expect(envelope(response)?.error.code == "invalid_json")
            }
            try await client.execute(
                uri: "/v1/chat/completions", method: .post, body: ByteBuffer(string: #"{"messages":[]}"#)
            ) { response in
                #expect(response.status == .badRequest)
                #expect(envelope(response)?.error.param == "model")
            }
        }
    }

    @Test func unknownModelIsA404NamingTheKnownModels() async throws {
        let deployments = [
            Deployment(name: "a", modelName: "alpha", upstreamModel: "alpha", apiBase: Self.deadUpstream)
        ]
        let app = try await makeApp(deployments: deployments)
        try await app.test(.live) { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: chat("beta")) { response in
                #expect(response.status == .notFound)
                let body = try #require(envelope(response))
                #expect(body.error.code == "model_not_found")
                #expect(body.error.message.contains("alpha"))
            }
        }
    }

    @Test func oversizedBodyIsA413() async throws {
        let app = try await makeApp(["max-body-bytes": "2048"])
        let big =
            #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":""# + String(repeating: "x", count: 4096)
            + #""}]}"#
        try await app.test(.live) { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: ByteBuffer(string: big)) {
                response in
                #expect(response.status == .contentTooLarge)
                #expect(envelope(response)?.error.code == "request_too_large")
            }
        }
    }

    @Test func unreachableUpstreamIsA502AfterRetries() async throws {
        let app = try await makeApp()
        try await app.test(.live) { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: chat()) { response in
                #expect(response.status == .badGateway)
                let body = try #require(envelope(response))
                #expect(body.error.message.contains("2 attempts"))
            }
        }
    }

    @Test func clientKeysAreRequiredWhenConfigured() async throws {
        let app = try await makeApp(["api-keys": "k1, k2"])
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/models", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(envelope(response)?.error.type == "authentication_error")
            }
            try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer k3"]) {
                response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer k2"]) {
                response in
                #expect(response.status == .ok)
            }
            // Health stays open for probes.
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func statsNeedTheStatsTokenAndNeverShowUpstreamKeys() async throws {
        let deployments = [
            Deployment(
                name: "a", modelName: "alpha", upstreamModel: "alpha", apiBase: Self.deadUpstream,
                apiKey: "sk-very-secret", rpm: 10)
        ]
        let app = try await makeApp(["stats-token": "st"], deployments: deployments)
        try await app.test(.router) { client in
            try await client.execute(uri: "/_stats", method: .get) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/_stats", method: .get, headers: [.authorization: "Bearer st"]) { response in
                #expect(response.status == .ok)
                let text = String(buffer: response.body)
                #expect(!text.contains("sk-very-secret"))
                let stats = try JSONDecoder().decode(ProxyStats.self, from: Data(response.body.readableBytesView))
                #expect(stats.accounts.map(\.name) == ["a"])
                #expect(stats.accounts[0].window == 8)
                #expect(stats.accounts[0].rpm == 10)
            }
            try await client.execute(uri: "/metrics?format=prometheus", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains("proxy_account_window"))
                #expect(!text.contains("sk-very-secret"))
            }
        }
    }
}
