import Foundation

/// Word unigrams and bigrams of a prompt, hashed into `buckets` columns and weighted TF-IDF (1 + ln tf, smoothed
/// idf, L2-normalised rows), with a ridge regression over them. It reads the words themselves: the requested
/// length, the task, the language, which a sentence embedding of the first 256 tokens blurs.
public struct HashedTextRegression: Sendable, Equatable {
    public static let buckets = 1 << 18

    /// Inverse document frequency per bucket (from the training prompts).
    public var idf: [Float]
    public var weights: [Float]
    public var intercept: Double

    /// Sparse TF-IDF row of a text: (bucket, value) pairs, L2-normalised.
    public static func row(_ text: String, idf: [Float]?) -> [(Int, Float)] {
        var counts: [Int: Float] = [:]
        let words = tokens(text)
        for (index, word) in words.enumerated() {
            counts[bucket(word), default: 0] += 1
            if index + 1 < words.count { counts[bucket(word + " " + words[index + 1]), default: 0] += 1 }
        }
        var row = counts.map { ($0.key, (1 + log($0.value)) * (idf?[$0.key] ?? 1)) }
        let norm = row.reduce(Float(0)) { $0 + $1.1 * $1.1 }.squareRoot()
        if norm > 0 { row = row.map { ($0.0, $0.1 / norm) } }
        return row.sorted { $0.0 < $1.0 }
    }

    /// Lower-cased runs of two or more letters, digits or underscores (the first 4,000 of them).
    static func tokens(_ text: String) -> [String] {
        var result: [String] = []
        var current = ""
        for character in text.lowercased() {
            if character.isLetter || character.isNumber || character == "_" {
                current.append(character)
            } else {
                if current.count >= 2 { result.append(current) }
                current = ""
                if result.count >= 4000 { break }
            }
        }
        if current.count >= 2 && result.count < 4000 { result.append(current) }
        return result
    }

    /// FNV-1a over the UTF-8 bytes: stable across runs and platforms, unlike `Hasher`.
    static func bucket(_ text: String) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return Int(hash % UInt64(buckets))
    }

    /// Smoothed idf over documents: ln((1 + n) / (1 + df)) + 1.
    public static func idf(_ texts: [String]) -> [Float] {
        var documentFrequency = [Float](repeating: 0, count: buckets)
        for text in texts {
            for (bucket, _) in row(text, idf: nil) { documentFrequency[bucket] += 1 }
        }
        let n = Float(texts.count)
        return documentFrequency.map { log((1 + n) / (1 + $0)) + 1 }
    }

    /// Fits `targets ≈ rows · weights + intercept` with an L2 penalty `lambda`, by conjugate gradients on the normal
    /// equations (the rows are sparse; the intercept is the targets' mean and is not penalised).
    public init(rows: [[(Int, Float)]], targets: [Double], idf: [Float], lambda: Double, iterations: Int = 200) {
        precondition(rows.count == targets.count && !rows.isEmpty, "need as many rows as targets")
        self.idf = idf
        let mean = targets.reduce(0, +) / Double(targets.count)
        intercept = mean
        let centred = targets.map { $0 - mean }
        let d = Self.buckets
        func multiply(_ w: [Double]) -> [Double] {
            var result = w.map { $0 * lambda }
            for row in rows {
                var dot = 0.0
                for (column, value) in row { dot += Double(value) * w[column] }
                for (column, value) in row { result[column] += Double(value) * dot }
            }
            return result
        }
        var rhs = [Double](repeating: 0, count: d)
        for (row, y) in zip(rows, centred) { for (column, value) in row { rhs[column] += Double(value) * y } }
        var w = [Double](repeating: 0, count: d)
        var r = rhs
        var p = r
        var rr = r.reduce(0) { $0 + $1 * $1 }
        let tolerance = 1e-10 * max(rr, 1e-30)
        for _ in 0..<iterations where rr > tolerance {
            let ap = multiply(p)
            let alpha = rr / max(zip(p, ap).reduce(0) { $0 + $1.0 * $1.1 }, 1e-300)
            for i in 0..<d {
                w[i] += alpha * p[i]
                r[i] -= alpha * ap[i]
            }
            let next = r.reduce(0) { $0 + $1 * $1 }
            let beta = next / rr
            rr = next
            for i in 0..<d { p[i] = r[i] + beta * p[i] }
        }
        weights = w.map { Float($0) }
    }

    init(idf: [Float], weights: [Float], intercept: Double) {
        self.idf = idf
        self.weights = weights
        self.intercept = intercept
    }

    public func predict(_ row: [(Int, Float)]) -> Double {
        row.reduce(intercept) { $0 + Double($1.1 * weights[$1.0]) }
    }

    public func predict(text: String) -> Double {
        predict(Self.row(text, idf: idf))
    }
}
