import Contracts
import Foundation
import Logging
import PredictorCore
import ServiceRuntime
import TextEngine

/// The live predictor: the in-memory history (loaded from the store at start, and with a shared store refreshed
/// from it as every replica ingests), the current trained model, and the background retraining. Predictions read
/// whatever model is current and never wait for training.
public actor PredictorEngine {
    public let configuration: PredictorConfiguration
    let store: any HistoryStore
    public let engines: TextEngines
    let batcher: EmbeddingBatcher
    let logger: Logger
    let predictor: WorkloadPredictor
    let trainer: OutputLengthTrainer

    private(set) var pools: HistoryPools
    private var priorsCache: PriorTable?
    private(set) var model: OutputLengthModel?
    private var nextSequence: Int64
    /// Rows written to disk but not yet in memory, so memory takes them in sequence order.
    private var written: [Int64: HistoryRow?] = [:]
    private var nextToApply: Int64
    /// With a shared store: the number of the last row taken into memory.
    private var lastShared: Int64 = 0
    private var ingestsSinceTraining = 0
    private var ingestsSincePrune = 0
    private var training = false
    private var trainAgain = false
    private var idleWaiters: [CheckedContinuation<Void, Never>] = []
    public private(set) var trainingRuns = 0
    public private(set) var lastTrainingSeconds = 0.0

    /// Loads the history from `store`, then starts the first training in the background.
    public init(configuration: PredictorConfiguration, store: any HistoryStore, engines: TextEngines, logger: Logger)
        async throws
    {
        self.configuration = configuration
        self.store = store
        self.engines = engines
        self.logger = logger
        batcher = EmbeddingBatcher(
            embedder: engines.embedder, maxBatch: configuration.embedBatch, cacheSize: configuration.embedCache)
        let prior = try PriorLoader.load(
            setting: configuration.prior, embedder: engines.embedder.descriptor, logger: logger)
        predictor = WorkloadPredictor(settings: configuration.prediction, prior: prior)
        trainer = OutputLengthTrainer(
            extractor: configuration.prediction.extractor,
            parameters: TrainingParameters(minimumRows: configuration.minimumTrainingRows)
        )
        var pools = HistoryPools(dimension: engines.embedder.descriptor.dimension, windowSize: configuration.windowSize)
        let rows = try await store.loadAll()
        let embedder = engines.embedder.descriptor
        var skipped = 0
        for row in rows {
            guard Self.usable(row, embedder: embedder) else {
                skipped += 1
                continue
            }
            pools.insert(row)
        }
        if skipped > 0 {
            logger.warning(
                """
                left out \(skipped) history rows embedded by another embedder than \(embedder.name): their vectors \
                mean nothing to it (they stay stored, and count again if that embedder comes back)
                """)
        }
        self.pools = pools
        nextSequence = (rows.last?.id ?? 0) + 1
        nextToApply = nextSequence
        lastShared = rows.last?.id ?? 0
        logger.info("history loaded: \(pools.count) rows in the global window, \(pools.tenants.count) tenants")
        await scheduleTraining()
    }

    var priors: PriorTable {
        get {
            if let priorsCache { return priorsCache }
            let table = PriorTable(pools)
            priorsCache = table
            return table
        }
    }

    // MARK: Prediction

    /// Predictions for validated requests, in order; all texts are embedded in one batch.
    public func predict(_ requests: [PredictRequest]) async throws -> [PredictResponse] {
        let inputs = try requests.enumerated().map {
            try RequestValidation.predictInput($1, index: requests.count > 1 ? $0 : nil, configuration: configuration)
        }
        let vectors = try await batcher.embed(inputs.map(\.embeddingText))
        let counter = engines.countTokens
        let tokenCounts = inputs.map { counter($0.fullText) }
        let table = priors
        let version = predictor.prior != nil ? "h\(pools.count)" : (model?.version ?? "prior")
        return zip(inputs, zip(vectors, tokenCounts)).map { input, pair in
            let query = PredictionQuery(
                embedding: pair.0, surface: PromptSurface.of(input.embeddingText).values, promptTokens: pair.1,
                maxTokens: input.maxTokens, model: input.model, taskType: input.taskType, tenantId: input.tenantId,
                text: input.embeddingText
            )
            let raw = predictor.raw(query, pools: pools, model: model, priors: table)
            return predictor.respond(query, raw, version: version)
        }
    }

    // MARK: Ingest

    /// Stores completed requests: validates every record first, embeds them, writes them in one transaction
    /// (nothing is half-written), then adds them to memory and retrains when due.
    public func ingest(_ reports: [OutcomeReport]) async throws -> IngestResponse {
        let inputs = try reports.enumerated().map {
            try RequestValidation.ingestInput($1, index: reports.count > 1 ? $0 : nil, configuration: configuration)
        }
        guard !inputs.isEmpty else { return IngestResponse(stored: 0, historySize: pools.count) }
        let vectors = try await batcher.embed(inputs.map(\.embeddingText), urgent: false)
        let counter = engines.countTokens
        let now = Date().timeIntervalSince1970
        let first = nextSequence
        nextSequence += Int64(inputs.count)
        let rows = inputs.enumerated().map { offset, input in
            let report = input.report
            return HistoryRow(
                id: first + Int64(offset), embedding: vectors[offset],
                surface: PromptSurface.of(input.embeddingText).values,
                promptTokens: report.promptTokens ?? counter(input.fullText), outputTokens: report.outputTokens,
                maxTokens: report.maxTokens, model: report.model, taskType: report.taskType, tenantId: report.tenantId,
                success: report.success, finishReason: report.finishReason, time: now,
                embedder: engines.embedder.descriptor.name
            )
        }
        do {
            try await store.append(rows, latencies: inputs.map(\.report.latencyMs))
        } catch {
            if !store.isShared {
                for row in rows { written[row.id] = .some(nil) }
                applyWritten()
            }
            logger.error("history write failed: \(error)")
            throw APIError.serviceUnavailable(
                "The history could not be written to \(store.writeFailure(error)). Nothing was stored.",
                code: "history_unavailable", retryAfterSeconds: 5)
        }
        if store.isShared {
            // The store numbered the rows; they come into memory with every other replica's, in its order.
            do {
                try await refresh()
            } catch {
                logger.warning("history refresh after an ingest failed: \(error)")
            }
            return IngestResponse(stored: rows.count, historySize: pools.count)
        }
        for row in rows { written[row.id] = row }
        applyWritten()
        await counted(rows.count)
        return IngestResponse(stored: rows.count, historySize: pools.count)
    }

    /// Retrains and prunes when enough new rows came in.
    private func counted(_ newRows: Int) async {
        ingestsSinceTraining += newRows
        ingestsSincePrune += newRows
        if ingestsSinceTraining >= configuration.retrainEvery {
            await scheduleTraining()
        }
        // Pruning every quarter window keeps the table (and SQLite's pages) within 1.25 windows, so the
        // predictor's memory levels off once the window has filled instead of creeping until a distant prune.
        if ingestsSincePrune >= max(50, configuration.windowSize / 4) {
            ingestsSincePrune = 0
            try? await store.prune(window: configuration.windowSize)
        }
    }

    /// Rows read per round of a refresh.
    private static let refreshPage = 1_000

    /// Whether a stored row's vector is this embedder's. Rows stored before the embedder was recorded were made by
    /// the base MiniLM model (or, of another size, by something else).
    static func usable(_ row: HistoryRow, embedder: EmbedderDescriptor) -> Bool {
        row.embedding.count == embedder.dimension
            && (row.embedder ?? (embedder.kind == "minilm" ? MiniLMEncoder.baseName : embedder.name)) == embedder.name
    }

    /// With a shared store: takes into memory the rows every replica (this one included) committed since the last
    /// look, in the store's order; returns how many. Without one, nothing to do.
    @discardableResult
    public func refresh() async throws -> Int {
        guard store.isShared else { return 0 }
        var taken = 0
        while true {
            let rows = try await store.rows(after: lastShared, limit: Self.refreshPage)
            // Another refresh may have run while this one read (the actor is re-entered at each await).
            for row in rows where row.id > lastShared {
                if Self.usable(row, embedder: engines.embedder.descriptor) { pools.insert(row) }
                lastShared = row.id
                taken += 1
            }
            if rows.count < Self.refreshPage { break }
        }
        if taken > 0 {
            priorsCache = nil
            await counted(taken)
        }
        return taken
    }

    private func applyWritten() {
        while let entry = written.removeValue(forKey: nextToApply) {
            if let row = entry { pools.insert(row) }
            nextToApply += 1
            priorsCache = nil
        }
    }

    // MARK: Training

    private func scheduleTraining() async {
        // With a trained prior the history works through its neighbours; the trees trained on the history alone
        // would not be read.
        guard predictor.prior == nil else { return }
        guard !training else {
            trainAgain = true
            return
        }
        training = true
        ingestsSinceTraining = 0
        let snapshot = pools
        let trainer = self.trainer
        let version = "h\(snapshot.count)-s\(store.isShared ? lastShared : nextToApply - 1)"
        Task {
            let start = ContinuousClock.now
            // Off the cooperative pool: training takes seconds of CPU, and `/predict` needs the pool meanwhile.
            let model = await DedicatedThread.run(name: "training") { trainer.train(snapshot, version: version) }
            let elapsed = ContinuousClock.now - start
            await self.finishTraining(
                model, seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
        }
    }

    private func finishTraining(_ trained: OutputLengthModel?, seconds: Double) async {
        if let trained {
            model = trained
            trainingRuns += 1
            lastTrainingSeconds = seconds
            logger.info(
                "model \(trained.version) trained on \(trained.trainedRows) rows in \(String(format: "%.2f", seconds)) s"
            )
        }
        training = false
        #if os(Linux)
            // Training is a burst of short-lived buffers on a worker thread's malloc arena; hand the freed pages back
            // so resident memory tracks the live model, not the high-water mark of the last run.
            _ = glibcMallocTrim(0)
        #endif
        if trainAgain {
            trainAgain = false
            await scheduleTraining()
        } else {
            let waiters = idleWaiters
            idleWaiters = []
            for waiter in waiters { waiter.resume() }
        }
    }

    /// Returns once no training is running or queued (tests and the seeder use it).
    public func waitForTraining() async {
        guard training else { return }
        await withCheckedContinuation { idleWaiters.append($0) }
    }

    /// Trains now on the whole history, unless it was the last thing trained on.
    public func retrainNow() async {
        await scheduleTraining()
        await waitForTraining()
    }

    // MARK: Reading

    public var historySize: Int { pools.count }
    public var modelVersion: String {
        predictor.prior.map { "\($0.version)+h\(pools.count)" } ?? model?.version ?? "prior"
    }

    /// Per-model profiles for `GET /models`.
    public func profiles() -> ModelProfilesResponse {
        let descriptor = engines.embedder.descriptor
        let models = pools.modelOutputs.keys.filter { !$0.contains("\u{1F}") }.sorted().map { name in
            let outputs = pools.modelOutputs[name] ?? []
            let price = configuration.prediction.prices.price(of: name)
            return ModelProfile(
                model: name, sampleCount: outputs.count, outputTokensP10: Quantiles.of(outputs, 0.1),
                outputTokensP50: Quantiles.of(outputs, 0.5), outputTokensP90: Quantiles.of(outputs, 0.9),
                inputPricePer1k: price.inputPer1k, outputPricePer1k: price.outputPer1k
            )
        }
        return ModelProfilesResponse(
            models: models,
            embedder: EmbedderInfo(name: descriptor.name, kind: descriptor.kind, dimension: descriptor.dimension),
            historySize: pools.count, modelVersion: modelVersion
        )
    }

    /// `POST /v1/embeddings`: vectors of the active embedder, batched with concurrent callers.
    public func embeddings(_ request: EmbeddingRequest) async throws -> EmbeddingResponse {
        let texts = request.input.texts
        guard !texts.isEmpty else { throw APIError.invalidRequest("'input' must not be empty.", param: "input") }
        guard texts.count <= configuration.maxBatch else {
            throw APIError.invalidRequest(
                "'input' holds \(texts.count) texts; at most \(configuration.maxBatch) are allowed.", param: "input")
        }
        for (index, text) in texts.enumerated() where text.count > configuration.maxPromptCharacters {
            throw APIError.invalidRequest(
                "input[\(index)] is longer than \(configuration.maxPromptCharacters) characters.", param: "input",
                code: "input_too_long")
        }
        // General-purpose vectors: the base model's. When the predictor runs length-tuned layers, those are another
        // encoder's, run here outside the prediction batches.
        let embedder = engines.sentenceEmbedder
        let vectors =
            embedder.descriptor == engines.embedder.descriptor
            ? try await batcher.embed(texts) : try await Task.detached { try embedder.embed(texts) }.value
        let tokens = texts.reduce(0) { $0 + embedder.tokenCount($1) }
        return EmbeddingResponse(
            data: vectors.enumerated().map { .init(index: $0.offset, embedding: $0.element) },
            model: embedder.descriptor.name, usage: EmbeddingUsage(promptTokens: tokens)
        )
    }

    /// Readable state for `/metrics?format=json` and `/health`.
    public func state() async -> [String: String] {
        let descriptor = engines.embedder.descriptor
        return [
            "embedder": descriptor.name, "embedder_kind": descriptor.kind, "tokenizer": engines.tokenizerName,
            "history_size": String(pools.count), "tenants": String(pools.tenants.count), "model_version": modelVersion,
            "training_runs": String(trainingRuns), "last_training_seconds": String(format: "%.3f", lastTrainingSeconds),
            "embedding_passes": String(await batcher.passes), "texts_embedded": String(await batcher.textsEmbedded),
            "embedding_cache_hits": String(await batcher.cacheHits),
            "prior": predictor.prior.map { "\($0.version) (\($0.source))" } ?? "none",
        ]
    }
}

#if os(Linux)
    /// glibc's `malloc_trim` (declared in malloc.h, which the Glibc module does not export).
    @_silgen_name("malloc_trim")
    private func glibcMallocTrim(_ pad: Int) -> Int32
#endif
