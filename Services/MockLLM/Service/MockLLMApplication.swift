import Contracts
import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import MockLLMCore
import NIOSSL
import ServiceRuntime
import TextEngine

/// Builds the mock-llm's HTTP application; the executable and the tests both call this.
public func buildApplication(
    configuration: MockLLMConfiguration,
    metrics: ServiceMetrics,
    logger: Logger,
    tokenCounter: (any TokenCounter)? = nil
) async throws -> some ApplicationProtocol {
    let identity = ServiceIdentity(name: "mock-llm")
    let runtime = try makeRuntime(
        configuration: configuration, metrics: metrics, logger: logger, tokenCounter: tokenCounter)
    let routes = ServiceRouter(
        identity: identity, server: configuration.server, metrics: metrics,
        health: {
            let snapshot = runtime.snapshot()
            return ["in_flight": String(snapshot.inFlight), "queue_depth": String(snapshot.queueDepth)]
        },
        state: { runtime.snapshot().json },
        openAPI: MockLLMOpenAPI.document
    )
    let generator = Generator(
        runtime: runtime,
        decodeStepSeconds: configuration.decodeStepSeconds,
        streamChunkTokens: configuration.streamChunkTokens,
        hangSeconds: configuration.scaledFaults.hangSeconds
    )
    let requestLog = try configuration.requestLogPath.map(RequestLog.init(path:))
    CompletionRoutes(
        runtime: runtime, generator: generator, models: configuration.models, strictModels: configuration.strictModels,
        tpmCharge: configuration.tpmCharge, faultHeaderEnabled: configuration.faultHeaderEnabled, requestLog: requestLog
    ).add(to: routes.router)
    var app = Application.service(router: routes, identity: identity, server: configuration.server, logger: logger)
    if let tls = configuration.tls {
        // The same routes over https on a second port. The plain listener (the one `/health` is polled on) opens only
        // once the https one listens, so a caller that saw the service ready can use both.
        let (listening, announce) = AsyncStream.makeStream(of: Void.self)
        let secure = Application(
            router: routes.router,
            server: try .tls(
                .http1(),
                tlsConfiguration: try tlsConfiguration(certificateFile: tls.certificateFile, keyFile: tls.keyFile)),
            configuration: .init(
                address: .hostname(configuration.server.host, port: tls.port), serverName: "maitre-mock-llm"),
            onServerRunning: { _ in announce.finish() },
            logger: logger
        )
        app.addServices(secure)
        app.beforeServerStarts {
            for await _ in listening {}
        }
        logger.info("https listener", metadata: ["port": "\(tls.port)"])
    }
    return app
}

/// The https listener's server side: the certificate chain and key from PEM files.
func tlsConfiguration(certificateFile: String, keyFile: String) throws -> TLSConfiguration {
    do {
        let chain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        return TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
    } catch {
        throw SettingError(
            key: "tls-cert",
            message: "cannot read \(certificateFile) and \(keyFile) as a PEM certificate chain and key: \(error)")
    }
}

/// The provider's state for a configuration: latency and faults at the configured time scale, the trace,
/// the accounts, and the token counter (exact cl100k when available).
public func makeRuntime(
    configuration: MockLLMConfiguration,
    metrics: ServiceMetrics,
    logger: Logger,
    tokenCounter: (any TokenCounter)? = nil
) throws -> ProviderRuntime {
    var trace: [String: Int] = [:]
    if let path = configuration.tracePath {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw SettingError(key: "trace", message: "cannot read file \(path)")
        }
        do {
            for entry in try TraceEntry.parseLines(text) { trace[entry.fingerprint.lowercased()] = entry.outputTokens }
        } catch {
            throw SettingError(key: "trace", message: "\(path): \(error)")
        }
        logger.info("trace replay", metadata: ["file": "\(path)", "prompts": "\(trace.count)"])
    }
    let accounts = try AccountsLoading.load(configuration.accountsSpec)
    if !accounts.isEmpty {
        logger.info("accounts", metadata: ["keys": "\(accounts.count)"])
    }
    return ProviderRuntime(
        latency: configuration.scaledLatency,
        faults: configuration.scaledFaults,
        outputLengths: ReplyLengthModel(
            mu: configuration.outputMu, sigma: configuration.outputSigma,
            maxDrawnTokens: configuration.maxOutputTokens, seed: configuration.seed, trace: trace
        ),
        tokenCounter: tokenCounter ?? CachingTokenCounter(StandardTokenCounter.load(logger: logger)),
        accounts: accounts,
        windowSeconds: 60 * configuration.timeScale,
        maxConcurrency: configuration.maxConcurrency,
        maxQueue: configuration.maxQueue,
        seed: configuration.seed,
        instruments: ProviderInstruments(metrics: metrics)
    )
}

/// The mock-llm's OpenAPI document.
public enum MockLLMOpenAPI {
    /// Built on first use from the routes' operations and the Contracts types.
    public static let document = OpenAPIDocument(
        title: "maitre mock-llm",
        description: "Simulated OpenAI-compatible upstream with latency, limits and faults.",
        settings: MockLLMConfiguration.specs,
        operations: CompletionRoutes.operations)
}
