import Foundation
import Synchronization

/// all-MiniLM-L6-v2 sentence embeddings in process: WordPiece, a 6-layer BERT encoder on OpenBLAS, mean pooling over
/// real tokens and L2 normalisation — the same vectors sentence-transformers produces (cosine ≥ 0.9999).
public final class MiniLMEncoder: SentenceEmbedder {
    public let descriptor: EmbedderDescriptor
    public let tokenizer: WordPieceTokenizer
    public let configuration: BertConfiguration
    /// Texts are truncated to this many tokens, specials included (the model's `max_seq_length`).
    public let maxSequenceLength: Int
    /// Token rows per forward pass; larger batches run as several passes so scratch memory stays bounded. When the
    /// threads take whole sequences each, each thread's passes hold at most 1,024 rows (and this many).
    public let maxRowsPerPass: Int
    /// Threads one `embed` call uses.
    public let threads: Int

    /// The base model's name, the descriptor's without fine-tuned layers.
    public static let baseName = "all-MiniLM-L6-v2"
    /// The fine-tuned layers' metadata (`records`: the ShareGPT records they were trained on), empty without them.
    public let layersMetadata: [String: String]
    /// The heads the layers were tuned with, when their file has them (`length_head.weight`, `length_head.bias`):
    /// linear maps of the sentence vector, one per row (the standardised log length, the logit of a short reply).
    public let lengthHeads: [LinearHead]

    let weights: MiniLMWeights
    // Idle scratch buffers; a pass takes one (or makes one) and puts it back, so concurrent callers never share.
    private let idleScratch = Mutex<[MiniLMScratch]>([])

    /// Files a model folder must contain.
    public static let requiredFiles = ["config.json", "vocab.txt", "model.safetensors"]

    /// Loads `config.json`, `vocab.txt` and `model.safetensors` (memory-mapped) from `directory`. `threads` defaults
    /// to one per core (at most 8). With more than one, the encoder does its own threading — a batch that divides
    /// evenly gives each thread whole sequences, otherwise the threads split every step of one shared pass — and sets
    /// OpenBLAS to a single thread per call (a process-wide OpenBLAS setting) so the two kinds do not fight.
    ///
    /// `layers`, a safetensors file of fine-tuned layers under the base model's tensor names (`scripts/train-length-layers`),
    /// replaces those layers: the vectors are then that tuning's, named `all-MiniLM-L6-v2+layers-<hash of the file>`.
    public init(
        directory: URL, layers: URL? = nil, maxSequenceLength: Int = 256, maxRowsPerPass: Int = 2048,
        threads: Int? = nil
    ) throws {
        let configuration = try BertConfiguration(contentsOf: directory.appendingPathComponent("config.json"))
        self.configuration = configuration
        tokenizer = try WordPieceTokenizer.load(vocabFile: directory.appendingPathComponent("vocab.txt"))
        let file = try SafetensorsFile(url: directory.appendingPathComponent("model.safetensors"))
        let overrides = try layers.map { try SafetensorsFile(url: $0) }
        weights = try MiniLMWeights(file: file, configuration: configuration, overrides: overrides)
        self.layersMetadata = overrides?.metadata ?? [:]
        lengthHeads = try overrides.map { try LinearHead.all(in: $0, dimension: configuration.hiddenSize) } ?? []
        self.maxSequenceLength = min(maxSequenceLength, configuration.maxPositions)
        self.maxRowsPerPass = max(maxRowsPerPass, self.maxSequenceLength)
        self.threads = max(1, threads ?? min(ProcessInfo.processInfo.activeProcessorCount, 8))
        if self.threads > 1 { OpenBLASThreads.set(1) }
        descriptor = EmbedderDescriptor(
            name: Self.baseName + (overrides.map { "+layers-\($0.contentHash)" } ?? ""), kind: "minilm",
            dimension: configuration.hiddenSize)
    }

    public func tokenCount(_ text: String) -> Int {
        tokenizer.encode(text, maxLength: maxSequenceLength).count
    }

    public func embed(_ texts: [String]) throws -> [[Float]] {
        let sequences = texts.map { tokenizer.encode($0, maxLength: maxSequenceLength) }
        return embed(tokenized: sequences)
    }

    /// Embeds already-tokenised sequences (ids with `[CLS]`/`[SEP]`, at most `maxSequenceLength` each).
    public func embed(tokenized sequences: [[Int]]) -> [[Float]] {
        let vocabularyLimit = configuration.vocabularySize
        let safe = sequences.map { sequence -> [Int] in
            let clipped = sequence.prefix(maxSequenceLength).map {
                (0..<vocabularyLimit).contains($0) ? $0 : tokenizer.unknownID
            }
            return clipped.isEmpty ? [tokenizer.classifierID, tokenizer.separatorID] : clipped
        }
        var results = [[Float]](repeating: [], count: safe.count)
        results.withUnsafeMutableBufferPointer { results in
            if let groups = sequenceGroups(safe) {
                // Each worker runs whole sequences on its own: no hand-offs inside a pass and no operand packed twice.
                let shared = UncheckedSendable((groups, results))
                let rowLimit = min(maxRowsPerPass, Self.rowsPerWorkerPass)
                DispatchQueue.concurrentPerform(iterations: groups.count) { worker in
                    let (groups, results) = shared.value
                    withScratch { scratch in
                        let pass = MiniLMForwardPass(weights: weights, scratch: scratch, workers: 1)
                        encode(groups[worker], of: safe, with: pass, rowLimit: rowLimit, into: results)
                    }
                }
            } else {
                withScratch { scratch in
                    let pass = MiniLMForwardPass(weights: weights, scratch: scratch, workers: threads)
                    encode(Array(safe.indices), of: safe, with: pass, rowLimit: maxRowsPerPass, into: results)
                }
            }
        }
        return results
    }

    /// Token rows per pass when each thread runs its own sequences: on the 2-core test machine 1,024 beat 512 and
    /// 2,048 at 32 × 256 tokens (per CPU-second, alternating runs) — smaller passes repack the weights more often,
    /// larger ones leave the activations out of cache.
    static let rowsPerWorkerPass = 1024

    /// The sequences split into one group per thread with near-equal token counts (longest first, each to the
    /// lightest group), or nil when that would leave a thread idle or overloaded — then the threads share each pass.
    private func sequenceGroups(_ sequences: [[Int]]) -> [[Int]]? {
        guard threads > 1, sequences.count >= threads else { return nil }
        var groups = [[Int]](repeating: [], count: threads)
        var loads = [Int](repeating: 0, count: threads)
        for index in sequences.indices.sorted(by: { sequences[$0].count > sequences[$1].count }) {
            let lightest = loads.indices.min { loads[$0] < loads[$1] }!
            groups[lightest].append(index)
            loads[lightest] += sequences[index].count
        }
        let total = loads.reduce(0, +)
        // A group more than 10% over the even share would keep the other threads waiting longer than sharing costs.
        guard loads.max()! * threads * 10 <= total * 11 else { return nil }
        return groups.map { $0.sorted() }
    }

    /// Runs `body` with an idle scratch buffer (or a new one) and puts it back after.
    private func withScratch(_ body: (MiniLMScratch) -> Void) {
        let scratch = idleScratch.withLock { $0.popLast() } ?? MiniLMScratch()
        defer { idleScratch.withLock { $0.append(scratch) } }
        body(scratch)
    }

    /// Embeds `sequences[indices]` in passes of at most `rowLimit` token rows (or one sequence), writing each vector
    /// to its index in `results`.
    private func encode(
        _ indices: [Int], of sequences: [[Int]], with pass: MiniLMForwardPass, rowLimit: Int,
        into results: UnsafeMutableBufferPointer<[Float]>
    ) {
        let hidden = configuration.hiddenSize
        var start = 0
        while start < indices.count {
            var end = start
            var rows = 0
            while end < indices.count && (end == start || rows + sequences[indices[end]].count <= rowLimit) {
                rows += sequences[indices[end]].count
                end += 1
            }
            let batch = indices[start..<end].map { sequences[$0] }
            let vectors = [Float](unsafeUninitializedCapacity: batch.count * hidden) { buffer, count in
                pass.run(batch, output: buffer.baseAddress!)
                count = batch.count * hidden
            }
            for (offset, index) in indices[start..<end].enumerated() {
                results[index] = Array(vectors[(offset * hidden)..<((offset + 1) * hidden)])
            }
            start = end
        }
    }
}

/// A linear map of a sentence vector to one number: `weights · vector + bias`.
public struct LinearHead: Sendable, Equatable, Codable {
    public var weights: [Float]
    public var bias: Float

    public init(weights: [Float], bias: Float) {
        self.weights = weights
        self.bias = bias
    }

    public func apply(_ vector: [Float]) -> Double {
        zip(weights, vector).reduce(Double(bias)) { $0 + Double($1.0) * Double($1.1) }
    }

    /// Tensors of a fine-tuned layers file that are heads rather than encoder weights.
    static let tensorPrefix = "length_head."

    /// The heads in a layers file: `length_head.weight` (heads × dimension) and `length_head.bias` (heads), or none.
    static func all(in file: SafetensorsFile, dimension: Int) throws -> [LinearHead] {
        guard let info = file.tensors[tensorPrefix + "weight"] else { return [] }
        guard info.shape.count == 2, info.shape[1] == dimension, info.shape[0] > 0 else {
            throw SafetensorsError.wrongShape(
                tensorPrefix + "weight", expected: [max(1, info.shape.first ?? 1), dimension], actual: info.shape)
        }
        let count = info.shape[0]
        let weights = try file.copyFloats(tensorPrefix + "weight", shape: [count, dimension])
        defer { weights.deallocate() }
        let bias = try file.copyFloats(tensorPrefix + "bias", shape: [count])
        defer { bias.deallocate() }
        return (0..<count).map {
            LinearHead(
                weights: Array(UnsafeBufferPointer(start: weights + $0 * dimension, count: dimension)), bias: bias[$0])
        }
    }
}
