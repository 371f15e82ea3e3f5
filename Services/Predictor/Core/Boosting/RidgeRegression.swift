import CBLAS

/// Linear least squares with an L2 penalty, solved by Cholesky on the normal equations (one BLAS `dgemm` for
/// XᵀX). Used to map a prompt's embedding straight to its log output length, a feature of the boosted trees.
public struct RidgeRegression: Sendable, Equatable, Codable {
    public private(set) var weights: [Double]
    public private(set) var intercept: Double

    /// Fits `targets ≈ rows · weights + intercept`; the intercept is not penalised (targets are centred).
    public init(rows: [[Float]], targets: [Double], lambda: Double) {
        precondition(rows.count == targets.count && !rows.isEmpty, "need as many rows as targets, at least one")
        let n = rows.count
        let d = rows[0].count
        let targetMean = targets.reduce(0, +) / Double(n)
        var columnMeans = [Double](repeating: 0, count: d)
        for row in rows { for j in 0..<d { columnMeans[j] += Double(row[j]) } }
        for j in 0..<d { columnMeans[j] /= Double(n) }
        var x = [Double](repeating: 0, count: n * d)
        for (i, row) in rows.enumerated() { for j in 0..<d { x[i * d + j] = Double(row[j]) - columnMeans[j] } }
        var gram = [Double](repeating: 0, count: d * d)
        x.withUnsafeBufferPointer { xp in
            gram.withUnsafeMutableBufferPointer { gp in
                cblas_dgemm(
                    CblasRowMajor, CblasTrans, CblasNoTrans, Int32(d), Int32(d), Int32(n), 1,
                    xp.baseAddress, Int32(d), xp.baseAddress, Int32(d), 0, gp.baseAddress, Int32(d)
                )
            }
        }
        var rhs = [Double](repeating: 0, count: d)
        for i in 0..<n {
            let centred = targets[i] - targetMean
            for j in 0..<d { rhs[j] += x[i * d + j] * centred }
        }
        for j in 0..<d { gram[j * d + j] += lambda }
        let solution = Self.solveCholesky(gram, rhs, d)
        weights = solution
        intercept = targetMean - zip(solution, columnMeans).reduce(0) { $0 + $1.0 * $1.1 }
    }

    public func predict(_ row: [Float]) -> Double {
        var sum = intercept
        for (w, v) in zip(weights, row) { sum += w * Double(v) }
        return sum
    }

    /// Solves `a · x = b` for a symmetric positive-definite `a` (row-major `d × d`).
    static func solveCholesky(_ a: [Double], _ b: [Double], _ d: Int) -> [Double] {
        var l = [Double](repeating: 0, count: d * d)
        for i in 0..<d {
            for j in 0...i {
                var sum = a[i * d + j]
                for k in 0..<j { sum -= l[i * d + k] * l[j * d + k] }
                if i == j {
                    l[i * d + i] = max(sum, 1e-12).squareRoot()
                } else {
                    l[i * d + j] = sum / l[j * d + j]
                }
            }
        }
        var y = [Double](repeating: 0, count: d)
        for i in 0..<d {
            var sum = b[i]
            for k in 0..<i { sum -= l[i * d + k] * y[k] }
            y[i] = sum / l[i * d + i]
        }
        var x = [Double](repeating: 0, count: d)
        for i in stride(from: d - 1, through: 0, by: -1) {
            var sum = y[i]
            for k in (i + 1)..<max(d, i + 1) { sum -= l[k * d + i] * x[k] }
            x[i] = sum / l[i * d + i]
        }
        return x
    }
}
