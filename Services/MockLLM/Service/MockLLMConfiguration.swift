import MockLLMCore
import ServiceRuntime

/// Every setting of the mock-llm, with its default and environment variable, in one place.
public struct MockLLMConfiguration: Sendable {
    public static let specs: [SettingSpec] =
        CommonSettings.specs(port: 8080) + [
            SettingSpec(
                "time-scale", env: "MOCK_TIME_SCALE", default: "1",
                help: "Multiplies every simulated duration and rate window (0.01 = 100x faster than real time)."),
            SettingSpec(
                "latency-profile", env: "MOCK_LATENCY_PROFILE", default: "congested",
                help: "congested (the latency settings below) or instant (every duration zero, for throughput tests)."),
            SettingSpec(
                "ttft-base-ms", env: "MOCK_TTFT_BASE_MS", default: "300",
                help: "Fixed part of the time to first token, in ms."),
            SettingSpec(
                "prefill-us-per-token", env: "MOCK_PREFILL_US_PER_TOKEN", default: "200",
                help: "Time to first token added per prompt token, in microseconds."),
            SettingSpec(
                "tpot-ms", env: "MOCK_TPOT_MS", default: "20",
                help: "Time per output token while at most knee requests are in flight, in ms."),
            SettingSpec(
                "congestion-alpha", env: "MOCK_CONGESTION_ALPHA", default: "1",
                help: "Slope of tpot past the knee: tpot(n) = tpot0 * (1 + alpha * max(0, n - knee) / knee)."),
            SettingSpec(
                "congestion-knee", env: "MOCK_CONGESTION_KNEE", default: "16",
                help: "Requests in flight served without slowing down."),
            SettingSpec(
                "max-concurrency", env: "MOCK_MAX_CONCURRENCY", default: "64",
                help: "Hard cap of requests in flight; later ones wait in a FIFO line (the wait counts in ttft)."),
            SettingSpec(
                "slots", env: "MOCK_SLOTS", default: "0",
                help:
                    "A queueing provider instead of the knee (0 = off): this many requests decode at full speed, later ones wait in the FIFO line, as llama.cpp's slots or vLLM's waiting queue (sets max-concurrency and knee to it, alpha to 0)."
            ),
            SettingSpec(
                "max-queue", env: "MOCK_MAX_QUEUE", default: "1024",
                help: "Longest FIFO line behind the cap; arrivals beyond get 503."),
            SettingSpec(
                "decode-step-ms", env: "MOCK_DECODE_STEP_MS", default: "50",
                help:
                    "Longest decoding step of a non-streaming answer before tpot is re-evaluated for the current in-flight count (real ms)."
            ),
            SettingSpec(
                "stream-chunk-tokens", env: "MOCK_STREAM_CHUNK_TOKENS", default: "1",
                help: "Output tokens per SSE chunk."),
            SettingSpec("seed", env: "MOCK_SEED", default: "42", help: "Seed of output-length draws and fault draws."),
            SettingSpec(
                "trace", env: "MOCK_TRACE_FILE", default: "",
                help:
                    "JSON-lines trace ({\"fingerprint\", \"output_tokens\"}) whose prompts get exactly their recorded length."
            ),
            SettingSpec(
                "request-log", env: "MOCK_REQUEST_LOG", default: "",
                help:
                    "File to which every completion request received is appended, one line each: prompt fingerprint, arrival (Unix ms), prompt tokens and planned output tokens, tab-separated (tests count what reached the upstream, how often and when); empty: none."
            ),
            SettingSpec(
                "output-mu", env: "MOCK_OUTPUT_MU", default: "5.3314",
                help: "mu of the log-normal output length (ln tokens), fitted to ShareGPT first replies."),
            SettingSpec(
                "output-sigma", env: "MOCK_OUTPUT_SIGMA", default: "1.0957",
                help: "sigma of the log-normal output length, fitted to ShareGPT first replies."),
            SettingSpec(
                "max-output-tokens", env: "MOCK_MAX_OUTPUT_TOKENS", default: "2048",
                help: "Upper bound of a drawn output length (trace lengths are used as recorded)."),
            SettingSpec(
                "accounts", env: "MOCK_ACCOUNTS", default: "",
                help:
                    "API keys and limits: key1:rpm=60:tpm=100000:concurrency=8,key2:... or a YAML file; empty = open, unlimited."
            ),
            SettingSpec(
                "tpm-charge", env: "MOCK_TPM_CHARGE", default: "max-tokens",
                help:
                    "What a request takes from its TPM window: max-tokens (prompt + max_tokens, else prompt + true length, as OpenAI reserves) or actual (prompt + true length)."
            ),
            SettingSpec(
                "models", env: "MOCK_MODELS", default: "gpt-4o-mini,gpt-4o,gpt-3.5-turbo",
                help: "Model ids listed by GET /v1/models."),
            SettingSpec(
                "strict-models", env: "MOCK_STRICT_MODELS", default: "false",
                help: "Answer 404 model_not_found for models not in the list (otherwise any model name is served)."),
            SettingSpec(
                "fault-500-rate", env: "MOCK_FAULT_500_RATE", default: "0", help: "Fraction of requests answered 500."),
            SettingSpec(
                "fault-503-rate", env: "MOCK_FAULT_503_RATE", default: "0", help: "Fraction of requests answered 503."),
            SettingSpec(
                "fault-hang-rate", env: "MOCK_FAULT_HANG_RATE", default: "0",
                help: "Fraction of requests that never answer (for fault-hang-seconds, then 504)."),
            SettingSpec(
                "fault-hang-seconds", env: "MOCK_FAULT_HANG_SECONDS", default: "600",
                help: "How long a hanging request hangs (scaled)."),
            SettingSpec(
                "fault-reset-rate", env: "MOCK_FAULT_RESET_RATE", default: "0",
                help: "Fraction of requests whose connection is cut in the middle of the answer."),
            SettingSpec(
                "fault-slow-first-byte-rate", env: "MOCK_FAULT_SLOW_FIRST_BYTE_RATE", default: "0",
                help: "Fraction of requests whose first byte is late by fault-slow-first-byte-ms."),
            SettingSpec(
                "fault-slow-first-byte-ms", env: "MOCK_FAULT_SLOW_FIRST_BYTE_MS", default: "2000",
                help: "Extra delay of a slow first byte (scaled)."),
            SettingSpec(
                "fault-header", env: "MOCK_FAULT_HEADER", default: "true",
                help:
                    "Honour the per-request X-Mock-Fault header (status=503, reset-after=5, hang, slow-first-byte-ms=200)."
            ),
            SettingSpec(
                "tls-port", env: "MOCK_TLS_PORT", default: "0",
                help:
                    "A second listener on this port serving the same API over https (needs tls-cert and tls-key); 0 = none."
            ),
            SettingSpec(
                "tls-cert", env: "MOCK_TLS_CERT", default: "",
                help: "PEM certificate chain of the https listener."),
            SettingSpec(
                "tls-key", env: "MOCK_TLS_KEY", default: "",
                help: "PEM private key of the https listener."),
        ]

    public var server: ServerSettings
    /// Multiplier of every simulated duration.
    public var timeScale: Double
    /// The latency profile at real speed (scale it with `timeScale` before use).
    public var latency: LatencyProfile
    public var maxConcurrency: Int
    public var maxQueue: Int
    /// Longest non-streaming decoding step, wall seconds.
    public var decodeStepSeconds: Double
    public var streamChunkTokens: Int
    public var seed: UInt64
    public var tracePath: String?
    /// Where received requests' prompt fingerprints are appended; nil: nowhere.
    public var requestLogPath: String?
    public var outputMu: Double
    public var outputSigma: Double
    public var maxOutputTokens: Int
    /// The `accounts` setting as given: a list or a YAML file path.
    public var accountsSpec: String?
    public var tpmCharge: TPMCharge
    public var models: [String]
    public var strictModels: Bool
    /// Fault rates and durations at real speed.
    public var faults: FaultPlan
    public var faultHeaderEnabled: Bool
    /// The https listener: its port, certificate chain and key files (nil: plain http only).
    public var tls: (port: Int, certificateFile: String, keyFile: String)?

    /// What a request takes from its key's TPM window.
    public enum TPMCharge: String, Sendable {
        case maxTokens = "max-tokens"
        case actual
    }

    public init(_ settings: ResolvedSettings) throws {
        self.server = try ServerSettings(settings)
        self.timeScale = try settings.double("time-scale", in: 0...1_000)
        let profile = try settings.choice("latency-profile", of: ["congested", "instant"])
        if profile == "instant" {
            self.latency = .instant
        } else {
            self.latency = LatencyProfile(
                baseSeconds: try settings.double("ttft-base-ms", in: 0...600_000) / 1000,
                prefillSecondsPerToken: try settings.double("prefill-us-per-token", in: 0...1_000_000) / 1_000_000,
                tpotSeconds: try settings.double("tpot-ms", in: 0...60_000) / 1000,
                alpha: try settings.double("congestion-alpha", in: 0...1_000),
                knee: try settings.double("congestion-knee", in: 1...1_000_000)
            )
        }
        self.maxConcurrency = try settings.int("max-concurrency", in: 1...1_000_000)
        let slots = try settings.int("slots", in: 0...1_000_000)
        if slots > 0 {
            self.maxConcurrency = slots
            self.latency.alpha = 0
            self.latency.knee = Double(slots)
        }
        self.maxQueue = try settings.int("max-queue", in: 0...10_000_000)
        self.decodeStepSeconds = try settings.double("decode-step-ms", in: 1...60_000) / 1000
        self.streamChunkTokens = try settings.int("stream-chunk-tokens", in: 1...10_000)
        let seedText = try settings.string("seed")
        guard let seed = UInt64(seedText) else {
            throw SettingError(key: "seed", message: "'\(seedText)' is not a non-negative whole number")
        }
        self.seed = seed
        self.tracePath = try settings.optionalString("trace")
        self.requestLogPath = try settings.optionalString("request-log")
        self.outputMu = try settings.double("output-mu", in: -10...20)
        self.outputSigma = try settings.double("output-sigma", in: 0...10)
        self.maxOutputTokens = try settings.int("max-output-tokens", in: 1...1_000_000)
        self.accountsSpec = try settings.optionalString("accounts")
        self.tpmCharge = TPMCharge(rawValue: try settings.choice("tpm-charge", of: ["max-tokens", "actual"]))!
        self.models = try settings.list("models")
        if models.isEmpty { throw SettingError(key: "models", message: "list at least one model id") }
        self.strictModels = try settings.bool("strict-models")
        self.faults = FaultPlan(
            internalErrorRate: try settings.double("fault-500-rate", in: 0...1),
            unavailableRate: try settings.double("fault-503-rate", in: 0...1),
            hangRate: try settings.double("fault-hang-rate", in: 0...1),
            resetRate: try settings.double("fault-reset-rate", in: 0...1),
            slowFirstByteRate: try settings.double("fault-slow-first-byte-rate", in: 0...1),
            slowFirstByteSeconds: try settings.double("fault-slow-first-byte-ms", in: 0...3_600_000) / 1000,
            hangSeconds: try settings.double("fault-hang-seconds", in: 0...86_400)
        )
        let faultSum = faults.internalErrorRate + faults.unavailableRate + faults.hangRate + faults.resetRate
        if faultSum > 1 {
            throw SettingError(
                key: "fault-500-rate", message: "the 500, 503, hang and reset rates add up to \(faultSum), more than 1")
        }
        self.faultHeaderEnabled = try settings.bool("fault-header")
        let tlsPort = try settings.int("tls-port", in: 0...65535)
        let certificate = try settings.optionalString("tls-cert")
        let key = try settings.optionalString("tls-key")
        if tlsPort == 0 {
            self.tls = nil
        } else if let certificate, let key {
            self.tls = (tlsPort, certificate, key)
        } else {
            throw SettingError(key: "tls-port", message: "an https listener needs tls-cert and tls-key")
        }
    }

    /// Defaults with overrides, for tests.
    public static func defaults(_ overrides: [String: String] = [:]) throws -> MockLLMConfiguration {
        try MockLLMConfiguration(ResolvedSettings.defaults(specs, overriding: overrides))
    }

    /// The latency profile in wall-clock seconds.
    public var scaledLatency: LatencyProfile { latency.scaled(by: timeScale) }

    /// The fault plan with its durations in wall-clock seconds.
    public var scaledFaults: FaultPlan {
        var plan = faults
        plan.slowFirstByteSeconds *= timeScale
        plan.hangSeconds *= timeScale
        return plan
    }
}
