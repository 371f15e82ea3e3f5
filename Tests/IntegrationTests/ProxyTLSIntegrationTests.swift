import Contracts
import Foundation
import NIOHTTP1
import ProcessLauncher
import Testing

/// The proxy in front of an https upstream on loopback: the simulated upstream with an https listener and a
/// certificate made for this run (`openssl req -x509`, for `localhost` only), trusted through `PROXY_CA_FILE`.
@Suite(.serialized) struct ProxyTLSIntegrationTests {
    /// A self-signed certificate and its key for `localhost` (no IP address), in a fresh temporary folder.
    static func makeCertificate() throws -> (certificate: String, key: String) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "maitre-tls-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let certificate = folder.appendingPathComponent("localhost.pem").path
        let key = folder.appendingPathComponent("localhost-key.pem").path
        let result = try Command.run(
            "openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", "-keyout", key, "-out",
                certificate,
            ])
        #expect(result.status == 0, "\(result.output)")
        return (certificate, key)
    }

    /// The simulated upstream with its https listener; `tlsPort` is where it listens (it is ready once `start` returns).
    static func startMock(_ certificate: (certificate: String, key: String), extra: [String: String] = [:]) async throws
        -> (
            mock: LaunchedService, tlsPort: Int
        )
    {
        let tlsPort = try FreePort.allocate()
        var environment = [
            "MOCK_ACCOUNTS": "", "MOCK_LATENCY_PROFILE": "instant", "LOG_LEVEL": "warning",
            "MOCK_TLS_PORT": String(tlsPort),
            "MOCK_TLS_CERT": certificate.certificate, "MOCK_TLS_KEY": certificate.key,
        ]
        environment.merge(extra) { $1 }
        return (try await LaunchedService.start("maitre-mock-llm", environment: environment), tlsPort)
    }

    @Test func chatStreamsAndUpstreamErrorsTravelOverHttps() async throws {
        let certificate = try Self.makeCertificate()
        let (mock, tlsPort) = try await Self.startMock(certificate)
        defer { mock.stop() }
        let base = "https://localhost:\(tlsPort)"
        let proxy = try await ProxyIntegrationTests.startProxy(
            [ProxyIntegrationTests.account("tls", base: base)],
            models: [("broken", [ProxyIntegrationTests.faultyAccount("tls-503", base: base, fault: "status=503")])],
            environment: ["PROXY_CA_FILE": certificate.certificate, "PROXY_MAX_RETRIES": "0"])
        defer { proxy.stop() }
        let details = try await ProxyIntegrationTests.health(proxy)
        #expect(details["https_accounts"] == "2", "\(details)")
        #expect(details["upstream_trust"]?.contains(certificate.certificate) == true, "\(details)")
        let url = "\(proxy.baseURL)/v1/chat/completions"

        for _ in 0..<3 {
            let answer = try await TestHTTP.post(url, json: ProxyIntegrationTests.chat())
            #expect(answer.status == 200, "\(answer.text)")
            #expect(answer.header("x-maitre-account") == "tls")
            let completion = try answer.decode(ChatCompletionResponse.self)
            #expect(completion.model.contains("gpt-4o-mini"))
        }

        var streamed = Data()
        let stream = try await TestHTTP.stream(url, json: ProxyIntegrationTests.chat(stream: true, maxTokens: 12)) {
            data, _ in
            streamed.append(data)
        }
        #expect(stream.status == 200)
        #expect(stream.headers.first(name: "content-type")?.contains("text/event-stream") == true)
        let events = String(decoding: streamed, as: UTF8.self)
        #expect(events.contains("chat.completion.chunk") && events.contains("data: [DONE]"), "\(events)")

        // The upstream's own error, its envelope and status, reach the client through TLS as the upstream sent them.
        let refused = try await TestHTTP.post(url, json: ProxyIntegrationTests.chat(model: "broken"))
        #expect(refused.status == 503, "\(refused.text)")
        #expect(refused.header("x-maitre-account") == "tls-503")
        _ = try refused.decode(ErrorEnvelope.self)

        let stats = try await ProxyIntegrationTests.stats(proxy)
        #expect(stats["tls"]?.successes == 4, "\(stats)")
        #expect(stats["tls"]?.inFlight == 0, "\(stats)")
    }

    /// A kept-alive TLS connection the upstream closed (here: the upstream restarted) says nothing about the account:
    /// the next call goes out on a new connection, in its first attempt, and the account is charged no failure.
    @Test func aPooledConnectionTheUpstreamClosedIsReplacedWithoutChargingTheAccount() async throws {
        let certificate = try Self.makeCertificate()
        var (mock, tlsPort) = try await Self.startMock(certificate)
        defer { mock.stop() }
        let proxy = try await ProxyIntegrationTests.startProxy(
            [ProxyIntegrationTests.account("tls", base: "https://localhost:\(tlsPort)")],
            environment: ["PROXY_CA_FILE": certificate.certificate, "PROXY_MAX_RETRIES": "0"])
        defer { proxy.stop() }
        let url = "\(proxy.baseURL)/v1/chat/completions"
        let first = try await TestHTTP.post(url, json: ProxyIntegrationTests.chat())
        #expect(first.status == 200, "\(first.text)")
        mock.stop()
        mock = try await mock.restart()
        let second = try await TestHTTP.post(url, json: ProxyIntegrationTests.chat())
        #expect(second.status == 200, "\(second.text)")
        #expect(second.header("x-maitre-attempts") == "1")
        let stats = try await ProxyIntegrationTests.stats(proxy)
        #expect(stats["tls"]?.errors == 0, "\(stats)")
        #expect(stats["tls"]?.successes == 2, "\(stats)")
    }

    /// A proxy with one account at `host` on the https listener (trusting the test certificate when `trusted`) answers
    /// 502 `upstream_tls_error` with `reason` in its message, and the account is charged one failure.
    func expectRefused(host: String, trusted: Bool, reason: String) async throws {
        let certificate = try Self.makeCertificate()
        let (mock, tlsPort) = try await Self.startMock(certificate)
        defer { mock.stop() }
        var environment = ["PROXY_MAX_RETRIES": "0"]
        if trusted { environment["PROXY_CA_FILE"] = certificate.certificate }
        let proxy = try await ProxyIntegrationTests.startProxy(
            [ProxyIntegrationTests.account("tls", base: "https://\(host):\(tlsPort)")], environment: environment)
        defer { proxy.stop() }
        let response = try await TestHTTP.post(
            "\(proxy.baseURL)/v1/chat/completions", json: ProxyIntegrationTests.chat())
        #expect(response.status == 502, "\(response.text)")
        let envelope = try response.decode(ErrorEnvelope.self)
        #expect(envelope.error.code == "upstream_tls_error", "\(response.text)")
        #expect(envelope.error.message.contains(reason), "\(response.text)")
        let stats = try await ProxyIntegrationTests.stats(proxy)
        #expect(stats["tls"]?.errors == 1, "\(stats)")
        #expect(stats["tls"]?.inFlight == 0, "\(stats)")
    }

    /// A certificate no trusted CA signed: without `PROXY_CA_FILE` the proxy does not trust the test certificate.
    @Test func untrustedCertificateIsRefusedWithAnOpenAIEnvelope() async throws {
        try await expectRefused(host: "localhost", trusted: false, reason: "certificate verify failed")
    }

    /// A trusted certificate for another name: the account's host is 127.0.0.1, the certificate names only
    /// `localhost`.
    @Test func certificateForAnotherHostIsRefusedWithAnOpenAIEnvelope() async throws {
        try await expectRefused(host: "127.0.0.1", trusted: true, reason: "does not name this host")
    }
}
