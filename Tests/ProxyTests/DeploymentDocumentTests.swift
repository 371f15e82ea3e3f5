import Proxy
import ProxyCore
import ServiceRuntime
import Testing

@Suite struct DeploymentDocumentTests {
    @Test func readsTheNativeFormatWithEnvironmentKeys() throws {
        let yaml = """
            models:
              gpt-4o-mini:
                - name: primary
                  api_base: https://api.example.com/v1/
                  api_key: os.environ/KEY_A
                  model: gpt-4o-mini-2024-07-18
                  weight: 3
                  rpm: 500
                  tpm: 90000
                  max_concurrency: 32
                  latency_target_ms: 1500
                - api_base: http://127.0.0.1:8080/v1
            """
        let deployments = try DeploymentLoader.parse(yaml: yaml, environment: ["KEY_A": "sk-secret"])
        #expect(deployments.count == 2)
        let first = deployments[0]
        #expect(first.name == "primary")
        #expect(first.apiBase == "https://api.example.com/v1")
        #expect(first.apiKey == "sk-secret")
        #expect(first.upstreamModel == "gpt-4o-mini-2024-07-18")
        #expect(first.weight == 3 && first.rpm == 500 && first.tpm == 90000 && first.maxConcurrency == 32)
        #expect(first.latencyTargetMs == 1500)
        #expect(deployments[1].name == "gpt-4o-mini/0")
        #expect(deployments[1].upstreamModel == "gpt-4o-mini")
        #expect(!first.description.contains("sk-secret"))
    }

    @Test func readsALiteLLMModelListUnchanged() throws {
        let yaml = """
            model_list:
              - model_name: gpt-3.5-turbo
                litellm_params:
                  model: openai/gpt-3.5-turbo
                  api_base: http://localhost:8080/v1
                  api_key: os.environ/OPENAI_API_KEY
                  rpm: 60
                  tpm: 1000
              - model_name: gpt-3.5-turbo
                litellm_params:
                  model: openai/gpt-3.5-turbo-0125
                  api_base: http://localhost:8081/v1
                  api_key: sk-plain
                  max_parallel_requests: 8
            router_settings:
              routing_strategy: simple-shuffle
            """
        let deployments = try DeploymentLoader.parse(yaml: yaml, environment: ["OPENAI_API_KEY": "sk-env"])
        #expect(deployments.map(\.name) == ["gpt-3.5-turbo/0", "gpt-3.5-turbo/1"])
        #expect(deployments[0].upstreamModel == "gpt-3.5-turbo")
        #expect(deployments[0].apiKey == "sk-env")
        #expect(deployments[0].rpm == 60 && deployments[0].tpm == 1000)
        #expect(deployments[1].upstreamModel == "gpt-3.5-turbo-0125")
        #expect(deployments[1].maxConcurrency == 8)
    }

    @Test func namesTheMissingEnvironmentVariable() {
        let yaml = "models:\n  m:\n    - api_base: http://x/v1\n      api_key: os.environ/MISSING_KEY\n"
        #expect {
            _ = try DeploymentLoader.parse(yaml: yaml, environment: [:])
        } throws: { error in
            "\(error)".contains("MISSING_KEY") && "\(error)".contains("models.m[0].api_key")
        }
    }

    @Test func rejectsAnEntryWithoutABaseURL() {
        #expect(throws: SettingError.self) {
            _ = try DeploymentLoader.parse(
                yaml: "model_list:\n  - model_name: m\n    litellm_params: {model: x}\n", environment: [:])
        }
    }

    @Test func defaultsPointAtTheSimulatedUpstreamWithAWildcard() {
        let deployments = DeploymentLoader.defaults(upstream: "http://127.0.0.1:8080/v1/", maxConcurrency: 64)
        #expect(deployments.map(\.modelName) == ["gpt-3.5-turbo", "gpt-4o-mini", "*"])
        #expect(deployments.allSatisfy { $0.apiBase == "http://127.0.0.1:8080/v1" })
        #expect(deployments[2].upstreamModel(for: "llama") == "llama")
    }
}
