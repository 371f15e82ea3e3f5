import Testing

@testable import Proxy

/// Which `api_base` values the proxy can call, and where their calls go.
@Suite struct UpstreamTargetTests {
    @Test func plainHTTPBasesGiveHostPortPathAndHostHeader() throws {
        let target = try #require(UpstreamTarget(apiBase: "http://127.0.0.1:8080/v1"))
        #expect(target.host == "127.0.0.1")
        #expect(target.port == 8080)
        #expect(!target.tls)
        #expect(target.pathPrefix == "/v1")
        #expect(target.authority == "127.0.0.1:8080")
        #expect(target.serverName == nil)

        let bare = try #require(UpstreamTarget(apiBase: "http://llm.internal/"))
        #expect(bare.port == 80)
        #expect(bare.pathPrefix == "")
        #expect(bare.authority == "llm.internal")

        let nested = try #require(UpstreamTarget(apiBase: "HTTP://gateway:9000/openai/deployments/x/"))
        #expect(nested.pathPrefix == "/openai/deployments/x")
    }

    @Test func httpsBasesSpeakTLSWithTheHostAsServerName() throws {
        let openAI = try #require(UpstreamTarget(apiBase: "https://api.openai.com/v1"))
        #expect(openAI.tls)
        #expect(openAI.port == 443)
        #expect(openAI.authority == "api.openai.com")
        #expect(openAI.serverName == "api.openai.com")

        let local = try #require(UpstreamTarget(apiBase: "https://localhost:8443/v1"))
        #expect(local.port == 8443)
        #expect(local.authority == "localhost:8443")

        // SNI carries no addresses: an IP host is checked against the certificate's addresses instead.
        let address = try #require(UpstreamTarget(apiBase: "https://127.0.0.1:8443/v1"))
        #expect(address.tls)
        #expect(address.serverName == nil)
    }

    @Test(arguments: ["ftp://host/v1", "http://", "http://user:pw@host/v1", "http://host/v1?x=1", "not a url", ""])
    func otherBasesAreRefused(base: String) {
        #expect(UpstreamTarget(apiBase: base) == nil)
    }
}
