import Testing

@testable import Proxy

/// Which `api_base` values the fast path serves, and where their calls go.
@Suite struct UpstreamTargetTests {
    @Test func plainHTTPBasesGiveHostPortPathAndHostHeader() throws {
        let target = try #require(UpstreamTarget(apiBase: "http://127.0.0.1:8080/v1"))
        #expect(target.host == "127.0.0.1")
        #expect(target.port == 8080)
        #expect(target.pathPrefix == "/v1")
        #expect(target.authority == "127.0.0.1:8080")

        let bare = try #require(UpstreamTarget(apiBase: "http://llm.internal/"))
        #expect(bare.port == 80)
        #expect(bare.pathPrefix == "")
        #expect(bare.authority == "llm.internal")

        let nested = try #require(UpstreamTarget(apiBase: "HTTP://gateway:9000/openai/deployments/x/"))
        #expect(nested.pathPrefix == "/openai/deployments/x")
    }

    @Test(arguments: ["https://api.openai.com/v1", "ftp://host/v1", "http://", "http://user:pw@host/v1", "http://host/v1?x=1", "not a url", ""])
    func otherBasesAreLeftToAsyncHTTPClient(base: String) {
        #expect(UpstreamTarget(apiBase: base) == nil)
    }
}
