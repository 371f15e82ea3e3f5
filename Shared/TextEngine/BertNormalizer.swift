import Foundation

/// BERT's text normalisation as Hugging Face's `BertNormalizer` does it for uncased models: clean (drop NUL, U+FFFD
/// and control/format/unassigned/private-use characters; every whitespace character becomes a space), surround CJK
/// ideographs with spaces, strip accents (NFD, then drop nonspacing marks), lower-case character by character.
enum BertNormalizer {
    /// Scalars are normalised in chunks of about this many, each cut before a space or ASCII character (where NFD
    /// cannot reorder across the cut), so callers that stop early never normalise a whole megabyte.
    static let chunkLength = 1024

    /// Calls `body` with each normalised scalar; checks `stop` after every chunk.
    static func forEachNormalizedScalar(of text: Substring, stop: () -> Bool, _ body: (Unicode.Scalar) -> Void) {
        var chunk = String.UnicodeScalarView()
        var chunkCount = 0
        var chunkIsASCII = true
        func flush() {
            defer {
                chunk = String.UnicodeScalarView()
                chunkCount = 0
                chunkIsASCII = true
            }
            if chunkIsASCII {
                for scalar in chunk { body(lowercasedASCII(scalar)) }
                return
            }
            for scalar in String(chunk).decomposedStringWithCanonicalMapping.unicodeScalars
            where scalar.properties.generalCategory != .nonspacingMark {
                if scalar.isASCII {
                    body(lowercasedASCII(scalar))
                } else {
                    for lower in scalar.properties.lowercaseMapping.unicodeScalars { body(lower) }
                }
            }
        }
        for scalar in text.unicodeScalars {
            let value = scalar.value
            if value == 0 || value == 0xFFFD || isControl(scalar) { continue }
            let whitespace = isWhitespace(scalar)
            if chunkCount >= chunkLength && (whitespace || scalar.isASCII) {
                flush()
                if stop() { return }
            }
            if whitespace {
                chunk.append(" ")
            } else if isChineseCharacter(value) {
                chunk.append(" ")
                chunk.append(scalar)
                chunk.append(" ")
                chunkIsASCII = false
            } else {
                chunk.append(scalar)
                if !scalar.isASCII { chunkIsASCII = false }
            }
            chunkCount += 1
        }
        flush()
    }

    @inline(__always)
    static func lowercasedASCII(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
        (0x41...0x5A).contains(scalar.value) ? Unicode.Scalar(scalar.value + 0x20)! : scalar
    }

    /// Tab, newline and carriage return count as whitespace here, not as control characters.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value == 0x09 || value == 0x0A || value == 0x0D { return false }
        if value < 0x20 || value == 0x7F { return true }
        if scalar.isASCII { return false }
        switch scalar.properties.generalCategory {
        case .control, .format, .unassigned, .privateUse, .surrogate: return true
        default: return false
        }
    }

    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value == 0x20 || (0x09...0x0D).contains(value) { return true }
        if scalar.isASCII { return false }
        return scalar.properties.isWhitespace
    }

    /// ASCII punctuation (including symbols such as `$`, `+`, `^`) or any Unicode punctuation category.
    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if (33...47).contains(value) || (58...64).contains(value) || (91...96).contains(value)
            || (123...126).contains(value)
        {
            return true
        }
        if scalar.isASCII { return false }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
            .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    /// The CJK Unified Ideograph blocks BERT splits character by character.
    static func isChineseCharacter(_ value: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(value) || (0x3400...0x4DBF).contains(value) || (0x20000...0x2A6DF).contains(value)
            || (0x2A700...0x2B73F).contains(value) || (0x2B740...0x2B81F).contains(value)
            || (0x2B920...0x2CEAF).contains(value) || (0xF900...0xFAFF).contains(value)
            || (0x2F800...0x2FA1F).contains(value)
    }
}
