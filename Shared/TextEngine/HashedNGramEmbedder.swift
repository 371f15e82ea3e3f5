import Foundation

/// The fallback embedder when the MiniLM files are missing: character trigrams and words hashed into a fixed
/// number of signed buckets, then L2-normalised. Deterministic across runs and machines (FNV-1a, no seeds).
public struct HashedNGramEmbedder: SentenceEmbedder {
    public let descriptor: EmbedderDescriptor

    public init(dimension: Int = 384) {
        precondition(dimension > 0, "dimension must be positive")
        self.descriptor = EmbedderDescriptor(name: "hashed-ngram-\(dimension)", kind: "hashed", dimension: dimension)
    }

    public func embed(_ texts: [String]) throws -> [[Float]] {
        texts.map(vector)
    }

    public func tokenCount(_ text: String) -> Int {
        words(of: text).count + 2
    }

    func words(of text: String) -> [Substring] {
        text.lowercased().split { !$0.isLetter && !$0.isNumber }
    }

    func vector(_ text: String) -> [Float] {
        let dimension = descriptor.dimension
        var values = [Float](repeating: 0, count: dimension)
        func add(_ feature: some Sequence<UInt8>, weight: Float) {
            let hash = Self.fnv1a(feature)
            let bucket = Int(hash % UInt64(dimension))
            let sign: Float = (hash >> 63) == 0 ? 1 : -1
            values[bucket] += sign * weight
        }
        for word in words(of: text) {
            add(Array("w:\(word)".utf8), weight: 1)
            let padded = Array(" \(word) ".unicodeScalars)
            if padded.count >= 3 {
                for start in 0...(padded.count - 3) {
                    add(Array(String(String.UnicodeScalarView(padded[start..<(start + 3)])).utf8), weight: 0.5)
                }
            }
        }
        let norm = values.reduce(0) { $0 + $1 * $1 }.squareRoot()
        if norm > 0 {
            for index in values.indices { values[index] /= norm }
        }
        return values
    }

    static func fnv1a(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }
}
