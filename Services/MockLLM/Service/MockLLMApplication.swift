import Contracts
import Foundation
import Hummingbird
import Logging
import MockLLMCore
import ServiceRuntime

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
        openAPI: MockLLMOpenAPI.json
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
    return Application.service(router: routes, identity: identity, server: configuration.server, logger: logger)
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
        outputLengths: OutputLengthModel(
            mu: configuration.outputMu, sigma: configuration.outputSigma,
            maxDrawnTokens: configuration.maxOutputTokens, seed: configuration.seed, trace: trace
        ),
        tokenCounter: tokenCounter ?? TokenCounting.load(logger: logger),
        accounts: accounts,
        windowSeconds: 60 * configuration.timeScale,
        maxConcurrency: configuration.maxConcurrency,
        maxQueue: configuration.maxQueue,
        seed: configuration.seed,
        instruments: ProviderInstruments(metrics: metrics)
    )
}
