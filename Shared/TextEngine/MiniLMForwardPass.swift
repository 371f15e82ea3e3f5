import CBLAS
import Foundation

/// One forward pass of the encoder over a packed batch: the token rows of all sequences lie back to back with no
/// padding, the dense layers run as single matrix products over every row, and attention runs per sequence and
/// head over that sequence's own rows — which is exactly a padded batch with an attention mask, minus the padding.
struct MiniLMForwardPass {
    let weights: MiniLMWeights
    let scratch: MiniLMScratch

    /// Mean-pooled, L2-normalised sentence vectors for `sequences` (token ids with specials, each non-empty and at
    /// most `maxPositions` long), written to `output` (`sequences.count` × hidden).
    func run(_ sequences: [[Int]], output: UnsafeMutablePointer<Float>) {
        let configuration = weights.configuration
        let hidden = configuration.hiddenSize
        let rows = sequences.reduce(0) { $0 + $1.count }
        let longest = sequences.map(\.count).max() ?? 0
        scratch.reserve(rows: rows, longest: longest, configuration: configuration)
        var x = scratch.hidden
        var other = scratch.residual
        embed(sequences, into: x)
        for layer in weights.layers {
            // Self-attention block.
            matmul(x, rows: rows, inner: hidden, weight: layer.queryKeyValue, outputs: 3 * hidden, into: scratch.queryKeyValue)
            VectorKernels.addBias(scratch.queryKeyValue, rowCount: rows, columns: 3 * hidden, bias: layer.queryKeyValueBias)
            attend(sequences)
            matmul(scratch.context, rows: rows, inner: hidden, weight: layer.attentionOutput, outputs: hidden, into: other)
            VectorKernels.addBias(other, rowCount: rows, columns: hidden, bias: layer.attentionOutputBias)
            VectorKernels.addAndLayerNorm(
                other, residual: x, rowCount: rows, columns: hidden, gamma: layer.attentionNormGamma,
                beta: layer.attentionNormBeta, epsilon: configuration.layerNormEpsilon)
            swap(&x, &other)
            // Feed-forward block.
            let inner = configuration.intermediateSize
            matmul(x, rows: rows, inner: hidden, weight: layer.intermediate, outputs: inner, into: scratch.intermediate)
            VectorKernels.addBias(scratch.intermediate, rowCount: rows, columns: inner, bias: layer.intermediateBias)
            VectorKernels.gelu(scratch.intermediate, count: rows * inner)
            matmul(scratch.intermediate, rows: rows, inner: inner, weight: layer.output, outputs: hidden, into: other)
            VectorKernels.addBias(other, rowCount: rows, columns: hidden, bias: layer.outputBias)
            VectorKernels.addAndLayerNorm(
                other, residual: x, rowCount: rows, columns: hidden, gamma: layer.outputNormGamma,
                beta: layer.outputNormBeta, epsilon: configuration.layerNormEpsilon)
            swap(&x, &other)
        }
        pool(sequences, from: x, into: output)
    }

    /// `into[rows × outputs] = input[rows × inner] · weightᵀ`, weight stored [outputs × inner] as PyTorch does.
    private func matmul(
        _ input: UnsafePointer<Float>, rows: Int, inner: Int, weight: UnsafePointer<Float>, outputs: Int,
        into result: UnsafeMutablePointer<Float>
    ) {
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outputs), Int32(inner), 1, input,
            Int32(inner), weight, Int32(inner), 0, result, Int32(outputs))
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

    /// Scaled dot-product attention per sequence and head, from `queryKeyValue` into `context`.
    private func attend(_ sequences: [[Int]]) {
        let configuration = weights.configuration
        let hidden = configuration.hiddenSize
        let headSize = configuration.headSize
        let stride = Int32(3 * hidden)
        let scale = 1 / Float(headSize).squareRoot()
        let scores = scratch.scores
        var start = 0
        for sequence in sequences {
            let length = sequence.count
            let base = scratch.queryKeyValue + start * 3 * hidden
            for head in 0..<configuration.headCount {
                let query = base + head * headSize
                let key = query + hidden
                let value = query + 2 * hidden
                cblas_sgemm(
                    CblasRowMajor, CblasNoTrans, CblasTrans, Int32(length), Int32(length), Int32(headSize), scale,
                    query, stride, key, stride, 0, scores, Int32(length))
                for row in 0..<length { VectorKernels.softmax(scores + row * length, count: length) }
                cblas_sgemm(
                    CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(length), Int32(headSize), Int32(length), 1,
                    scores, Int32(length), value, stride, 0, scratch.context + start * hidden + head * headSize,
                    Int32(hidden))
            }
            start += length
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

/// Reusable buffers for forward passes; grown on demand. Unchecked: the encoder hands each one to a single pass at
/// a time.
final class MiniLMScratch: @unchecked Sendable {
    private(set) var hidden = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var residual = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var queryKeyValue = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var context = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var intermediate = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var scores = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private var rowCapacity = 0
    private var scoreCapacity = 0

    /// Makes room for `rows` token rows and a `longest` × `longest` score matrix.
    func reserve(rows: Int, longest: Int, configuration: BertConfiguration) {
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
        if longest * longest > scoreCapacity {
            scores.deallocate()
            scoreCapacity = longest * longest
            scores = .allocate(capacity: scoreCapacity)
        }
    }

    deinit {
        for pointer in [hidden, residual, queryKeyValue, context, intermediate, scores] { pointer.deallocate() }
    }
}
