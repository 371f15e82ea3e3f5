/// One completed request as the predictor remembers it: its embedding and surface features, never its text.
public struct HistoryRow: Sendable, Equatable {
    public var id: Int64
    public var embedding: [Float]
    public var surface: [Float]
    public var promptTokens: Int
    public var outputTokens: Int
    public var maxTokens: Int?
    public var model: String
    public var taskType: String?
    public var tenantId: String?
    public var success: Bool
    public var finishReason: String?
    /// Seconds since 1970 when the request completed.
    public var time: Double
    /// The embedder that made `embedding` (`EmbedderDescriptor.name`); nil in rows stored before it was recorded.
    public var embedder: String?

    public init(
        id: Int64, embedding: [Float], surface: [Float], promptTokens: Int, outputTokens: Int, maxTokens: Int?,
        model: String, taskType: String?, tenantId: String?, success: Bool, finishReason: String?, time: Double,
        embedder: String? = nil
    ) {
        self.embedder = embedder
        self.id = id
        self.embedding = embedding
        self.surface = surface
        self.promptTokens = promptTokens
        self.outputTokens = outputTokens
        self.maxTokens = maxTokens
        self.model = model
        self.taskType = taskType
        self.tenantId = tenantId
        self.success = success
        self.finishReason = finishReason
        self.time = time
    }

    /// True when the answer stopped at its token limit (its real length is unknown, only a lower bound).
    public var hitLimit: Bool {
        finishReason == "length" || (maxTokens.map { outputTokens >= $0 } ?? false)
    }
}

/// One FIFO window of history rows with its embedding index; slot `i` of the index is `rows[i]`.
public struct HistoryPool: Sendable {
    public private(set) var index: NeighborIndex
    public private(set) var rows: [HistoryRow] = []

    public init(dimension: Int, capacity: Int) {
        index = NeighborIndex(dimension: dimension, capacity: capacity)
    }

    public var count: Int { rows.count }

    /// Adds `row`, evicting the oldest when the window is full.
    /// Adds `row`; returns the row it evicted, if the window was full.
    @discardableResult
    public mutating func insert(_ row: HistoryRow) -> HistoryRow? {
        let (slot, evicted) = index.insert(row.embedding)
        if slot == rows.count {
            rows.append(row)
            return nil
        }
        let old = rows[slot]
        rows[slot] = row
        return evicted ? old : nil
    }

    /// Rows oldest first (slot order once the ring has wrapped is not time order).
    public var chronological: [HistoryRow] {
        guard rows.count == index.capacity else { return rows }
        return Array(rows[index.nextSlot...] + rows[..<index.nextSlot])
    }
}

/// The in-memory history: a global window and one window per tenant, each `windowSize` rows.
public struct HistoryPools: Sendable {
    public let dimension: Int
    public let windowSize: Int
    public private(set) var global: HistoryPool
    public private(set) var tenants: [String: HistoryPool] = [:]
    /// Output tokens per model (and per model + task type) of the rows in the global window, oldest first.
    public private(set) var modelOutputs: [String: [Double]] = [:]

    public init(dimension: Int, windowSize: Int) {
        self.dimension = dimension
        self.windowSize = windowSize
        global = HistoryPool(dimension: dimension, capacity: windowSize)
    }

    public var count: Int { global.count }

    public mutating func insert(_ row: HistoryRow) {
        if let evicted = global.insert(row) {
            for key in Self.modelKeys(model: evicted.model, taskType: evicted.taskType) {
                modelOutputs[key]?.removeFirst()
                if modelOutputs[key]?.isEmpty == true { modelOutputs[key] = nil }
            }
        }
        if let tenant = row.tenantId {
            tenants[tenant, default: HistoryPool(dimension: dimension, capacity: windowSize)].insert(row)
        }
        for key in Self.modelKeys(model: row.model, taskType: row.taskType) {
            modelOutputs[key, default: []].append(Double(row.outputTokens))
        }
    }

    /// Keys of the per-model outputs a row feeds: the model alone, and the model with its task type.
    public static func modelKeys(model: String, taskType: String?) -> [String] {
        guard let taskType, !taskType.isEmpty else { return [model] }
        return [model, "\(model)\u{1F}\(taskType)"]
    }
}
