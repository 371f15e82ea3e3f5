import FastKernels
import Foundation
import Testing

@testable import TextEngine

/// The few-row product kernel (FastKernels) against a plain triple loop, and the encoder that uses it against
/// sentence-transformers for every short fixture text embedded alone.
@Suite struct SmallProductKernelTests {
    @Test func kernelMatchesTheDefinition() throws {
        try #require(fk_has_avx2_fma() == 1, "this CPU lacks AVX2/FMA; the encoder uses OpenBLAS alone here")
        var generator = SystemRandomNumberGenerator()
        for (rows, outputs, inner) in [
            (1, 16, 3), (3, 32, 384), (4, 48, 17), (7, 64, 1536), (16, 1152, 384), (32, 384, 1536),
        ] {
            let a = (0..<(rows * inner)).map { _ in Float.random(in: -1...1, using: &generator) }
            let weight = (0..<(outputs * inner)).map { _ in Float.random(in: -1...1, using: &generator) }
            let bias = (0..<outputs).map { _ in Float.random(in: -1...1, using: &generator) }
            var panels = [Float](repeating: .nan, count: outputs * inner)
            fk_pack_panels(weight, Int32(outputs), Int32(inner), &panels)
            // Columns from the second panel on, as the second of two workers computes them.
            let first = outputs > 16 ? 16 : 0
            let columns = outputs - first
            var c = [Float](repeating: .nan, count: rows * outputs)
            panels.withUnsafeBufferPointer { packed in
                bias.withUnsafeBufferPointer { bias in
                    c.withUnsafeMutableBufferPointer { out in
                        fk_small_gemm_bias(
                            Int32(rows), Int32(columns), Int32(inner), a, Int32(inner),
                            packed.baseAddress! + first * inner,
                            bias.baseAddress! + first, out.baseAddress! + first, Int32(outputs))
                    }
                }
            }
            var worst: Float = 0
            for m in 0..<rows {
                for n in first..<outputs {
                    var sum = Double(bias[n])
                    for k in 0..<inner { sum += Double(a[m * inner + k]) * Double(weight[n * inner + k]) }
                    worst = max(worst, abs(c[m * outputs + n] - Float(sum)))
                }
                // Columns before the slice are left alone.
                for n in 0..<first { #expect(c[m * outputs + n].isNaN) }
            }
            #expect(worst < 1e-3, "rows \(rows) outputs \(outputs) inner \(inner): max error \(worst)")
        }
    }

    @Test func shortTextsAloneMatchSentenceTransformers() throws {
        guard let encoder = TextFixtures.requireEncoder() else { return }
        #expect(MiniLMWeights.smallProductKernel == (fk_has_avx2_fma() == 1))
        let short = TextFixtures.embeddingCases.filter { $0.wordpiece.count <= MiniLMForwardPass.smallProductRows }
        #expect(short.count >= 10)
        for testCase in short {
            let vector = try encoder.embed([testCase.text])[0]
            let similarity = TextFixtures.cosine(vector, testCase.embedding)
            #expect(similarity >= 0.9999, "cosine \(similarity) for \(testCase.text.prefix(80).debugDescription)")
        }
    }
}
