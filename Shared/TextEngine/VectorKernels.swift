import Foundation

/// The element-wise parts of the encoder (bias, residual, LayerNorm, GELU, softmax) over raw float buffers, eight
/// lanes at a time. `exp` and `erf` are polynomial/rational approximations accurate to a few float ulps, so GELU is
/// the exact erf form, not the tanh approximation.
enum VectorKernels {
    typealias Lanes = SIMD8<Float>
    static let width = 8

    @inline(__always)
    static func load(_ pointer: UnsafePointer<Float>) -> Lanes {
        UnsafeRawPointer(pointer).loadUnaligned(as: Lanes.self)
    }

    @inline(__always)
    static func store(_ value: Lanes, _ pointer: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: Lanes.self)
    }

    /// `value` limited to [lower, upper]. Mask-based: the generic `clamped`/`pointwiseMin` run lane by lane.
    @inline(__always)
    static func clamp(_ value: Lanes, _ lower: Float, _ upper: Float) -> Lanes {
        var result = value
        let low = Lanes(repeating: lower)
        let high = Lanes(repeating: upper)
        result.replace(with: low, where: result .< low)
        result.replace(with: high, where: result .> high)
        return result
    }

    @inline(__always)
    static func sum(_ value: Lanes) -> Float {
        let half = value.lowHalf + value.highHalf
        let quarter = half.lowHalf + half.highHalf
        return quarter[0] + quarter[1]
    }

    /// `x = x · Φ(x)` (exact GELU, Φ from erf) in place over `rowCount` rows of `columns` values (a multiple of 8)
    /// spaced `stride` apart.
    static func gelu(_ rows: UnsafeMutablePointer<Float>, rowCount: Int, columns: Int, stride: Int) {
        let half = Lanes(repeating: 0.5)
        let inverseRootTwo = Lanes(repeating: 0.707_106_781_186_547_524_4)
        for row in 0..<rowCount {
            let line = rows + row * stride
            var column = 0
            while column < columns {
                let x = load(line + column)
                store(x * half * (1 + erf(x * inverseRootTwo)), line + column)
                column += width
            }
        }
    }

    /// `x = LayerNorm(x + residual)` row by row (`columns` a multiple of 8), in place in `x`.
    static func addAndLayerNorm(
        _ x: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, rowCount: Int, columns: Int,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float
    ) {
        for row in 0..<rowCount {
            let line = x + row * columns
            var total = Lanes()
            var column = 0
            if let residual {
                let other = residual + row * columns
                while column < columns {
                    let value = load(line + column) + load(other + column)
                    store(value, line + column)
                    total += value
                    column += width
                }
            } else {
                while column < columns {
                    total += load(line + column)
                    column += width
                }
            }
            let mean = sum(total) / Float(columns)
            var squares = Lanes()
            column = 0
            while column < columns {
                let centred = load(line + column) - Lanes(repeating: mean)
                squares += centred * centred
                column += width
            }
            let inverse = 1 / (sum(squares) / Float(columns) + epsilon).squareRoot()
            column = 0
            while column < columns {
                let centred = load(line + column) - Lanes(repeating: mean)
                store(centred * inverse * load(gamma + column) + load(beta + column), line + column)
                column += width
            }
        }
    }

    /// Softmax of `count` values in place (any count; the tail is handled one by one).
    static func softmax(_ values: UnsafeMutablePointer<Float>, count: Int) {
        scale(values, count: count, by: exponentiateShifted(values, count: count))
    }

    /// The unnormalised softmax: `values = e^(values - max)` in place; returns 1 / their sum, the factor that
    /// normalises them (attention applies it to the 32-wide P·V rows instead of the whole score row).
    static func exponentiateShifted(_ values: UnsafeMutablePointer<Float>, count: Int) -> Float {
        var maximum = -Float.infinity
        var index = 0
        if count >= width {
            var lanes = load(values)
            index = width
            while index + width <= count {
                let next = load(values + index)
                lanes.replace(with: next, where: next .> lanes)
                index += width
            }
            for lane in 0..<width { maximum = max(maximum, lanes[lane]) }
        }
        while index < count {
            maximum = max(maximum, values[index])
            index += 1
        }
        let shift = Lanes(repeating: maximum)
        var total = Lanes()
        index = 0
        while index + width <= count {
            let value = exp(load(values + index) - shift)
            store(value, values + index)
            total += value
            index += width
        }
        var tail: Float = 0
        while index < count {
            let value = Foundation.exp(values[index] - maximum)
            values[index] = value
            tail += value
            index += 1
        }
        return 1 / (sum(total) + tail)
    }

    /// `values *= factor` over `count` values (any count; the tail is handled one by one).
    @inline(__always)
    static func scale(_ values: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
        let lanes = Lanes(repeating: factor)
        var index = 0
        while index + width <= count {
            store(load(values + index) * lanes, values + index)
            index += width
        }
        while index < count {
            values[index] *= factor
            index += 1
        }
    }

    /// e^x (Cephes expf: range reduction by ln 2, degree-5 polynomial, exponent bits).
    @inline(__always)
    static func exp(_ input: Lanes) -> Lanes {
        let x = clamp(input, -87.3, 88.3)
        // Round x·log2(e) to the nearest integer with the 1.5·2^23 trick.
        let magic = Lanes(repeating: 12_582_912)
        let shifted = x * Lanes(repeating: 1.442_695_040_888_963_4) + magic
        let n = shifted - magic
        var r = x - n * Lanes(repeating: 0.693_359_375)
        r = r + n * Lanes(repeating: 2.121_944_4e-4)
        var p = Lanes(repeating: 1.987_569_150_0e-4)
        p = p * r + Lanes(repeating: 1.398_199_950_7e-3)
        p = p * r + Lanes(repeating: 8.333_451_907_3e-3)
        p = p * r + Lanes(repeating: 4.166_579_589_4e-2)
        p = p * r + Lanes(repeating: 1.666_666_545_9e-1)
        p = p * r + Lanes(repeating: 5.000_000_120_1e-1)
        let y = p * r * r + r + 1
        // The low mantissa bits of `shifted` hold n; move n + 127 into the exponent field.
        let bits = unsafeBitCast(shifted, to: SIMD8<UInt32>.self) &- SIMD8<UInt32>(repeating: 0x4B40_0000)
        let scale = unsafeBitCast((bits &+ SIMD8<UInt32>(repeating: 127)) &<< 23, to: Lanes.self)
        return y * scale
    }

    /// erf(x) as a rational function on [-4, 4] (Eigen's float erf), ±1 beyond.
    @inline(__always)
    static func erf(_ input: Lanes) -> Lanes {
        let x = clamp(input, -4, 4)
        let x2 = x * x
        var p = x2 * Lanes(repeating: -2.726_142_25e-10) + Lanes(repeating: 2.770_681_42e-08)
        p = p * x2 + Lanes(repeating: -2.101_024_02e-06)
        p = p * x2 + Lanes(repeating: -5.692_506_39e-05)
        p = p * x2 + Lanes(repeating: -7.349_906_30e-04)
        p = p * x2 + Lanes(repeating: -2.954_599_80e-03)
        p = p * x2 + Lanes(repeating: -1.609_603_33e-02)
        p = p * x
        var q = x2 * Lanes(repeating: -1.456_607_18e-05) + Lanes(repeating: -2.133_740_55e-04)
        q = q * x2 + Lanes(repeating: -1.682_826_97e-03)
        q = q * x2 + Lanes(repeating: -7.373_329_17e-03)
        q = q * x2 + Lanes(repeating: -1.426_473_91e-02)
        return p / q
    }
}
