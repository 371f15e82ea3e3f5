import HTTPTypes
import NIOHTTP1
import ProxyCore
import Testing

@testable import Proxy

@Suite struct HeaderPolicyTests {
    @Test func upstreamRequestsCarryOnlyTheAllowlist() {
        var fields = HTTPFields()
        fields[HTTPField.Name("Content-Type")!] = "application/json"
        fields[HTTPField.Name("Accept")!] = "text/event-stream"
        fields[HTTPField.Name("User-Agent")!] = "OpenAI/Python 1.0"
        fields[HTTPField.Name("OpenAI-Organization")!] = "org-1"
        fields[HTTPField.Name("OpenAI-Project")!] = "proj-1"
        fields[HTTPField.Name("OpenAI-Beta")!] = "assistants=v2"
        for name in [
            "X-Request-ID", "X-Tenant-ID", "X-Deadline-Ms", "X-Request-Class", "X-Predicted-Output-Tokens",
            "X-Task-Type", "Authorization", "Cookie", "Accept-Encoding", "X-Anything-Else",
        ] {
            fields[HTTPField.Name(name)!] = "req_123"
        }
        let headers = HeaderPolicy.upstreamHeaders(from: fields)
        let names = Set(headers.map { $0.name.lowercased() })
        #expect(
            names == ["content-type", "accept", "user-agent", "openai-organization", "openai-project", "openai-beta"])
        #expect(headers.first(name: "OpenAI-Organization") == "org-1")
    }

    @Test func aRequestWithoutContentTypeGetsJSON() {
        let headers = HeaderPolicy.upstreamHeaders(from: HTTPFields())
        #expect(headers.first(name: "content-type") == "application/json")
    }

    @Test func deploymentsReadExtraHeadersWithEnvironmentValues() throws {
        let yaml = """
            model_list:
              - model_name: local
                litellm_params:
                  model: openai/smollm
                  api_base: http://127.0.0.1:9000/v1
                  extra_headers:
                    X-Gateway: maitre
                    X-Team-Key: os.environ/TEAM_KEY
            """
        let deployment = try #require(try DeploymentLoader.parse(yaml: yaml, environment: ["TEAM_KEY": "k-1"]).first)
        #expect(deployment.extraHeaders.map(\.name) == ["X-Gateway", "X-Team-Key"])
        #expect(deployment.extraHeaders.map(\.value) == ["maitre", "k-1"])
        #expect(throws: (any Error).self) {
            try DeploymentLoader.parse(
                yaml: "models:\n  m:\n    - api_base: http://x/v1\n      extra_headers: [a]\n", environment: [:])
        }
    }
}
