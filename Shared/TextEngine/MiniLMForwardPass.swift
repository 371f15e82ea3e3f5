import CBLAS
import FastKernels
import Foundation

/// One forward pass of the encoder over a packed batch: the token rows of all sequences lie back to back with no
/// padding, the dense layers run as single matrix products over every row, and attention runs per sequence and
/// head over that sequence's own rows — which is exactly a padded batch with an attention mask, minus the padding.
struct MiniLMForwardPass {
    let weights: MiniLMWeights
    let scratch: MiniLMScratch
    /// Threads that share each step: matrix products split by output columns (each thread packs only its slice of
    /// the weights, which suits the few-row products of short texts), attention by (sequence, head), LayerNorm by
    /// rows.
    let workers: Int

    /// Mean-pooled, L2-normalised sentence vectors for `sequences` (token ids with specials, each non-empty and at
    /// most `maxPositions` long), written to `output` (`sequences.count` × hidden).
    func run(_ sequences: [[Int]], output: UnsafeMutablePointer<Float>) {
        let configuration = weights.configuration
        let hidden = configuration.hiddenSize
        let inner = configuration.intermediateSize
        let epsilon = configuration.layerNormEpsilon
        let rows = sequences.reduce(0) { $0 + $1.count }
        let longest = sequences.map(\.count).max() ?? 0
        scratch.reserve(rows: rows, longest: longest, workers: workers, configuration: configuration)
        var x = scratch.hidden
        var other = scratch.residual
        embed(sequences, into: x)
        for layer in weights.layers {
            // Self-attention block.
            dense(
                x, rows: rows, inner: hidden, weight: layer.queryKeyValue, packed: layer.packed?.queryKeyValue,
                bias: layer.queryKeyValueBias, outputs: 3 * hidden, into: scratch.queryKeyValue, gelu: false)
            attend(sequences)
            dense(
                scratch.context, rows: rows, inner: hidden, weight: layer.attentionOutput,
                packed: layer.packed?.attentionOutput, bias: layer.attentionOutputBias, outputs: hidden, into: other,
                gelu: false)
            normalize(
                other, residual: x, rows: rows, gamma: layer.attentionNormGamma, beta: layer.attentionNormBeta,
                epsilon: epsilon)
            swap(&x, &other)
            // Feed-forward block.
            dense(
                x, rows: rows, inner: hidden, weight: layer.intermediate, packed: layer.packed?.intermediate,
                bias: layer.intermediateBias, outputs: inner, into: scratch.intermediate, gelu: true)
            dense(
                scratch.intermediate, rows: rows, inner: inner, weight: layer.output, packed: layer.packed?.output,
                bias: layer.outputBias, outputs: hidden, into: other, gelu: false)
            normalize(
                other, residual: x, rows: rows, gamma: layer.outputNormGamma, beta: layer.outputNormBeta,
                epsilon: epsilon)
            swap(&x, &other)
        }
        pool(sequences, from: x, into: output)
    }

    /// Runs `body(worker)` on every worker and waits.
    @inline(__always)
    private func parallel(_ body: (Int) -> Void) {
        if workers == 1 {
            body(0)
        } else {
            withoutActuallyEscaping(body) { body in
                // The workers write disjoint slices of the scratch buffers and finish before this returns.
                let shared = UncheckedSendable(body)
                DispatchQueue.concurrentPerform(iterations: workers) { shared.value($0) }
            }
        }
    }

    /// The `worker`-th of `workers` near-equal slices of 0..<total, slice edges on multiples of `alignment`.
    @inline(__always)
    private func slice(_ total: Int, worker: Int, alignment: Int = 1) -> Range<Int> {
        let units = (total + alignment - 1) / alignment
        let lower = min(units * worker / workers * alignment, total)
        let upper = min(units * (worker + 1) / workers * alignment, total)
        return lower..<upper
    }

    /// Products of at most this many rows go to the small-product kernel when the weights have packed copies:
    /// OpenBLAS packs the whole weight slice on every call, which for a short text costs as much as the product.
    static let smallProductRows = 32

    /// `into[rows × outputs] = input[rows × inner] · weightᵀ + bias` (then GELU if asked), weight stored
    /// [outputs × inner] as PyTorch does; each worker computes a slice of the output columns.

    private func dense(
        _ input: UnsafePointer<Float>, rows: Int, inner: Int, weight: UnsafePointer<Float>,
        packed: UnsafePointer<Float>?,
        bias: UnsafePointer<Float>, outputs: Int, into result: UnsafeMutablePointer<Float>, gelu: Bool
    ) {
        let small = packed != nil && rows <= Self.smallProductRows && outputs % 16 == 0
        parallel { worker in
            // The kernel takes whole panels of 16 outputs.
            let columns = slice(outputs, worker: worker, alignment: small ? 16 : VectorKernels.width)
            guard !columns.isEmpty else { return }
            let target = result + columns.lowerBound
            if small, let packed {
                fk_small_gemm_bias(
                    Int32(rows), Int32(columns.count), Int32(inner), input, Int32(inner),
                    packed + columns.lowerBound * inner, bias + columns.lowerBound, target, Int32(outputs))
                if gelu { VectorKernels.gelu(target, rowCount: rows, columns: columns.count, stride: outputs) }
                return
            }
            // Starting from the bias with beta = 1 saves OpenBLAS's separate pass that zeroes the output.
            for row in 0..<rows {
                (target + row * outputs).update(from: bias + columns.lowerBound, count: columns.count)
            }
            cblas_sgemm(
                CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(columns.count), Int32(inner), 1, input,
                Int32(inner), weight + columns.lowerBound * inner, Int32(inner), 1, target, Int32(outputs))
            if gelu { VectorKernels.gelu(target, rowCount: rows, columns: columns.count, stride: outputs) }
        }
    }

    /// `x = LayerNorm(x + residual)` with rows split between workers.
    private func normalize(
        _ x: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>, rows: Int, gamma: UnsafePointer<Float>,
        beta: UnsafePointer<Float>, epsilon: Float
    ) {
        let hidden = weights.configuration.hiddenSize
        parallel { worker in
            let part = slice(rows, worker: worker)
            guard !part.isEmpty else { return }
            VectorKernels.addAndLayerNorm(
                x + part.lowerBound * hidden, residual: residual + part.lowerBound * hidden, rowCount: part.count,
                columns: hidden, gamma: gamma, beta: beta, epsilon: epsilon)
        }
    }

    /// Word + position + token-type(0) embeddings, then LayerNorm.
    private func embed(_ sequences: [[Int]], into x: UnsafeMutablePointer<Float>) {
        let configuration = weights.configuration
        let hidden = configuration.hiddenSize
        var row = 0
        for sequence in sequences {
            for (position, token) in sequence.enumerated() {
                let target = x + row * hidden
                let word = weights.wordEmbeddings + token * hidden
                let place = weights.positionEmbeddings + position * hidden
                let type = weights.tokenTypeEmbeddings
                for column in 0..<hidden { target[column] = word[column] + place[column] + type[column] }
                row += 1
            }
        }
        VectorKernels.addAndLayerNorm(
            x, residual: nil, rowCount: row, columns: hidden, gamma: weights.embeddingNormGamma,
            beta: weights.embeddingNormBeta, epsilon: configuration.layerNormEpsilon)
    }

    /// Scaled dot-product attention per sequence and head, from `queryKeyValue` into `context`; workers take
    /// (sequence, head) pairs round-robin, each with its own score matrix.
    private func attend(_ sequences: [[Int]]) {
        let configuration = weights.configuration
        let hidden = configuration.hiddenSize
        let headSize = configuration.headSize
        let headCount = configuration.headCount
        let stride = Int32(3 * hidden)
        let scale = 1 / Float(headSize).squareRoot()
        var starts: [Int] = []
        var start = 0
        for sequence in sequences {
            starts.append(start)
            start += sequence.count
        }
        let longest = sequences.map(\.count).max() ?? 0
        let pairs = sequences.count * headCount
        parallel { worker in
            let scores = scratch.scores + worker * longest * longest
            let inverses = scratch.rowSums + worker * longest
            var pair = worker
            while pair < pairs {
                let sequenceIndex = pair / headCount
                let head = pair % headCount
                let length = sequences[sequenceIndex].count
                let first = starts[sequenceIndex]
                let query = scratch.queryKeyValue + first * 3 * hidden + head * headSize
                let key = query + hidden
                let value = query + 2 * hidden
                cblas_sgemm(
                    CblasRowMajor, CblasNoTrans, CblasTrans, Int32(length), Int32(length), Int32(headSize), scale,
                    query, stride, key, stride, 0, scores, Int32(length))
                // Softmax left unnormalised; each 32-wide context row is scaled instead of each score row.
                for row in 0..<length {
                    inverses[row] = VectorKernels.exponentiateShifted(scores + row * length, count: length)
                }
                let context = scratch.context + first * hidden + head * headSize
                cblas_sgemm(
                    CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(length), Int32(headSize), Int32(length), 1,
                    scores, Int32(length), value, stride, 0, context, Int32(hidden))
                for row in 0..<length {
                    VectorKernels.scale(context + row * hidden, count: headSize, by: inverses[row])
                }
                pair += workers
            }
        }
    }

    /// Mean over each sequence's rows, then L2 normalisation.
    private func pool(_ sequences: [[Int]], from x: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>) {
        let hidden = weights.configuration.hiddenSize
        var start = 0
        for (index, sequence) in sequences.enumerated() {
            let target = output + index * hidden
            target.initialize(repeating: 0, count: hidden)
            for row in start..<(start + sequence.count) {
                let source = x + row * hidden
                for column in 0..<hidden { target[column] += source[column] }
            }
            var norm: Float = 0
            for column in 0..<hidden {
                target[column] /= Float(sequence.count)
                norm += target[column] * target[column]
            }
            let inverse = 1 / max(norm.squareRoot(), 1e-12)
            for column in 0..<hidden { target[column] *= inverse }
            start += sequence.count
        }
    }
}

/// Hands a value to concurrently running workers whose accesses the caller keeps disjoint.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// Reusable buffers for forward passes; grown on demand. Unchecked: the encoder hands each one to a single pass at
/// a time.
final class MiniLMScratch: @unchecked Sendable {
    private(set) var hidden = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var residual = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var queryKeyValue = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var context = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var intermediate = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var scores = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    /// Per worker, one softmax normaliser per score row.
    private(set) var rowSums = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private var rowCapacity = 0
    private var scoreCapacity = 0
    /// Apart from `scoreCapacity`: a scratch first used by one worker on a long sequence has room for two workers'
    /// shorter score matrices but not for their normalisers.
    private(set) var rowSumCapacity = 0

    /// Makes room for `rows` token rows and one `longest` × `longest` score matrix per worker.
    func reserve(rows: Int, longest: Int, workers: Int, configuration: BertConfiguration) {
        if rows > rowCapacity {
            let capacity = max(rows, rowCapacity * 3 / 2)
            func regrow(_ pointer: inout UnsafeMutablePointer<Float>, _ width: Int) {
                pointer.deallocate()
                pointer = .allocate(capacity: capacity * width)
            }
            regrow(&hidden, configuration.hiddenSize)
            regrow(&residual, configuration.hiddenSize)
            regrow(&queryKeyValue, 3 * configuration.hiddenSize)
            regrow(&context, configuration.hiddenSize)
            regrow(&intermediate, configuration.intermediateSize)
            rowCapacity = capacity
        }
        if workers * longest * longest > scoreCapacity {
            scores.deallocate()
            scoreCapacity = workers * longest * longest
            scores = .allocate(capacity: scoreCapacity)
        }
        if workers * longest > rowSumCapacity {
            rowSums.deallocate()
            rowSumCapacity = workers * longest
            rowSums = .allocate(capacity: rowSumCapacity)
        }
    }

    deinit {
        for pointer in [hidden, residual, queryKeyValue, context, intermediate, scores, rowSums] {
            pointer.deallocate()
        }
    }
}
