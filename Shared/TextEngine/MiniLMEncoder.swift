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
    /// Token rows per forward pass; larger batches run as several passes so scratch memory stays bounded.
    public let maxRowsPerPass: Int
    /// Threads one `embed` call uses.
    public let threads: Int

    let weights: MiniLMWeights
    // Idle scratch buffers; a pass takes one (or makes one) and puts it back, so concurrent callers never share.
    private let idleScratch = Mutex<[MiniLMScratch]>([])

    /// Files a model folder must contain.
    public static let requiredFiles = ["config.json", "vocab.txt", "model.safetensors"]

    /// Loads `config.json`, `vocab.txt` and `model.safetensors` (memory-mapped) from `directory`. `threads` defaults
    /// to one per core (at most 8). With more than one, the encoder splits every step itself and sets OpenBLAS to a
    /// single thread per call (a process-wide OpenBLAS setting) so the two kinds of threading do not fight.
    public init(directory: URL, maxSequenceLength: Int = 256, maxRowsPerPass: Int = 2048, threads: Int? = nil) throws {
        let configuration = try BertConfiguration(contentsOf: directory.appendingPathComponent("config.json"))
        self.configuration = configuration
        tokenizer = try WordPieceTokenizer.load(vocabFile: directory.appendingPathComponent("vocab.txt"))
        let file = try SafetensorsFile(url: directory.appendingPathComponent("model.safetensors"))
        weights = try MiniLMWeights(file: file, configuration: configuration)
        self.maxSequenceLength = min(maxSequenceLength, configuration.maxPositions)
        self.maxRowsPerPass = max(maxRowsPerPass, self.maxSequenceLength)
        self.threads = max(1, threads ?? min(ProcessInfo.processInfo.activeProcessorCount, 8))
        if self.threads > 1 { OpenBLASThreads.set(1) }
        descriptor = EmbedderDescriptor(
            name: "all-MiniLM-L6-v2", kind: "minilm", dimension: configuration.hiddenSize)
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
        let hidden = configuration.hiddenSize
        let vocabularyLimit = configuration.vocabularySize
        let safe = sequences.map { sequence -> [Int] in
            let clipped = sequence.prefix(maxSequenceLength).map { (0..<vocabularyLimit).contains($0) ? $0 : tokenizer.unknownID }
            return clipped.isEmpty ? [tokenizer.classifierID, tokenizer.separatorID] : clipped
        }
        var results = [[Float]](repeating: [], count: safe.count)
        let scratch = idleScratch.withLock { $0.popLast() } ?? MiniLMScratch()
        defer { idleScratch.withLock { $0.append(scratch) } }
        let pass = MiniLMForwardPass(weights: weights, scratch: scratch, workers: threads)
        var start = 0
        while start < safe.count {
            var end = start
            var rows = 0
            while end < safe.count && (end == start || rows + safe[end].count <= maxRowsPerPass) {
                rows += safe[end].count
                end += 1
            }
            let batch = Array(safe[start..<end])
            let vectors = [Float](unsafeUninitializedCapacity: batch.count * hidden) { buffer, count in
                pass.run(batch, output: buffer.baseAddress!)
                count = batch.count * hidden
            }
            for index in 0..<batch.count {
                results[start + index] = Array(vectors[(index * hidden)..<((index + 1) * hidden)])
            }
            start = end
        }
        return results
    }
}
