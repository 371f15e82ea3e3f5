import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import ServiceRuntime
import Testing

/// A tiny application with one JSON route, built from the same `ServiceRouter` every service uses.
func makeTestApplication(maxBodyBytes: Int = 4096, maxJSONDepth: Int = 8) -> some ApplicationProtocol {
    let server = ServerSettings(port: 0, maxBodyBytes: maxBodyBytes, maxJSONDepth: maxJSONDepth)
    let identity = ServiceIdentity(name: "test")
    let routes = ServiceRouter(identity: identity, server: server, metrics: ServiceMetrics())
    routes.router.post("/predict") { request, context in
        let body = try await request.decodeJSON(as: PredictRequest.self, context: context)
        return try Response.json(["model": body.model])
    }
    routes.router.get("/items/:id") { _, context -> Response in
        throw APIError.notFound("No item \(context.parameters.get("id") ?? "").")
    }
    return Application.service(router: routes, identity: identity, server: server, logger: .init(label: "test"))
}

func decodeEnvelope(_ response: TestResponse) throws -> ErrorEnvelope {
    try JSONDecoder().decode(ErrorEnvelope.self, from: Data(response.body.readableBytesView))
}

@Suite struct ErrorEnvelopeTests {
    @Test func malformedJSONIsA400Envelope() async throws {
        try await makeTestApplication().test(.router) { client in
            try await client.execute(uri: "/predict", method: .post, body: ByteBuffer(string: "{\"model\": ")) {
                response in
                #expect(response.status == .badRequest)
                let envelope = try decodeEnvelope(response)
                #expect(envelope.error.type == "invalid_request_error")
                #expect(envelope.error.code == "invalid_json")
            }
        }
    }

    @Test func missingFieldIsNamed() async throws {
        try await makeTestApplication().test(.router) { client in
            try await client.execute(uri: "/predict", method: .post, body: ByteBuffer(string: "{\"prompt\": \"hi\"}")) {
                response in
                #expect(response.status == .badRequest)
                let envelope = try decodeEnvelope(response)
                #expect(envelope.error.param == "model")
                #expect(envelope.error.code == "missing_required_parameter")
            }
        }
    }

    @Test func wrongTypeNamesTheNestedField() async throws {
        let body = #"{"model": "m", "messages": [{"role": "user", "content": "a"}, {"role": 7}]}"#
        try await makeTestApplication().test(.router) { client in
            try await client.execute(uri: "/predict", method: .post, body: ByteBuffer(string: body)) { response in
                #expect(response.status == .badRequest)
                let envelope = try decodeEnvelope(response)
                #expect(envelope.error.param == "messages[1].role")
                #expect(envelope.error.code == "invalid_type")
            }
        }
    }

    @Test func bodyOverTheLimitIs413() async throws {
        let big = "{\"model\": \"" + String(repeating: "x", count: 10_000) + "\"}"
        try await makeTestApplication().test(.router) { client in
            try await client.execute(uri: "/predict", method: .post, body: ByteBuffer(string: big)) { response in
                #expect(response.status == .contentTooLarge)
                let envelope = try decodeEnvelope(response)
                #expect(envelope.error.code == "request_too_large")
            }
        }
    }

    @Test func deepNestingIsRefused() async throws {
        let deep =
            "{\"model\": \"m\", \"x\": " + String(repeating: "[", count: 50) + String(repeating: "]", count: 50) + "}"
        try await makeTestApplication().test(.router) { client in
            try await client.execute(uri: "/predict", method: .post, body: ByteBuffer(string: deep)) { response in
                #expect(response.status == .badRequest)
                let envelope = try decodeEnvelope(response)
                #expect(envelope.error.code == "json_too_deep")
            }
        }
    }

    @Test func unknownRouteIs404Envelope() async throws {
        try await makeTestApplication().test(.router) { client in
            try await client.execute(uri: "/nowhere", method: .get) { response in
                #expect(response.status == .notFound)
                let envelope = try decodeEnvelope(response)
                #expect(envelope.error.code == "unknown_url")
            }
        }
    }

    @Test func wrongMethodIs405WithAllow() async throws {
        try await makeTestApplication().test(.router) { client in
            try await client.execute(uri: "/predict", method: .get) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "POST")
                let envelope = try decodeEnvelope(response)
                #expect(envelope.error.code == "method_not_allowed")
            }
            try await client.execute(uri: "/items/42", method: .delete) { response in
                #expect(response.status == .methodNotAllowed)
            }
        }
    }

    @Test func thrownAPIErrorKeepsItsStatus() async throws {
        try await makeTestApplication().test(.router) { client in
            try await client.execute(uri: "/items/42", method: .get) { response in
                #expect(response.status == .notFound)
                let envelope = try decodeEnvelope(response)
                #expect(envelope.error.message == "No item 42.")
            }
        }
    }

    @Test func requestIDIsEchoedOrGenerated() async throws {
        try await makeTestApplication().test(.router) { client in
            let name = HTTPField.Name("X-Request-ID")!
            try await client.execute(uri: "/health", method: .get, headers: [name: "abc-123"]) { response in
                #expect(response.headers[name] == "abc-123")
            }
            try await client.execute(uri: "/health", method: .get, headers: [name: "bad\u{7F}id"]) { response in
                let generated = try #require(response.headers[name])
                #expect(generated.hasPrefix("req_"))
            }
            try await client.execute(uri: "/nowhere", method: .get) { response in
                #expect(response.headers[name]?.hasPrefix("req_") == true)
            }
        }
    }

    @Test func healthNamesTheService() async throws {
        try await makeTestApplication().test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                let health = try JSONDecoder().decode(HealthResponse.self, from: Data(response.body.readableBytesView))
                #expect(health.service == "test")
                #expect(health.version == ServiceIdentity.maitreVersion)
            }
        }
    }
}
