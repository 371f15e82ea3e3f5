/// cl100k_base's pre-tokenisation, written out by hand because a regex engine is too slow here. It reproduces
/// tiktoken's pattern
/// `'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s`
/// alternative by alternative (leftmost-first) over Unicode scalars and reports each piece as a UTF-8 byte range.
struct CL100KPreTokenizer {
    /// The classes the pattern distinguishes. `space` is `\s` other than CR and LF.
    enum ScalarClass: UInt8 {
        case other = 0
        case letter = 1
        case number = 2
        case space = 3
        case newline = 4
    }

    /// Classes of every scalar in the Basic Multilingual Plane, computed once (64 KiB).
    static let basicPlaneClasses: [UInt8] = (0..<0x10000).map { value in
        guard let scalar = Unicode.Scalar(UInt32(value)) else { return ScalarClass.other.rawValue }
        return computeClass(scalar).rawValue
    }

    static func computeClass(_ scalar: Unicode.Scalar) -> ScalarClass {
        if scalar == "\r" || scalar == "\n" { return .newline }
        let properties = scalar.properties
        if properties.isWhitespace { return .space }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return .other
        }
    }

    /// Decoded scalars of one text with their classes and UTF-8 offsets (`offsets` has one extra end entry).
    struct Scalars {
        var values: [UInt32] = []
        var classes: [UInt8] = []
        var offsets: [Int] = []
    }

    static func decode(_ bytes: UnsafeBufferPointer<UInt8>) -> Scalars {
        var result = Scalars()
        result.values.reserveCapacity(bytes.count)
        result.classes.reserveCapacity(bytes.count)
        result.offsets.reserveCapacity(bytes.count + 1)
        let table = basicPlaneClasses
        table.withUnsafeBufferPointer { table in
            var index = 0
            let count = bytes.count
            while index < count {
                let lead = UInt32(bytes[index])
                var value: UInt32
                var length: Int
                // Swift strings hold valid UTF-8, so the lead byte fixes the length.
                if lead < 0x80 {
                    value = lead
                    length = 1
                } else if lead < 0xE0 {
                    value = (lead & 0x1F) << 6 | UInt32(bytes[index + 1] & 0x3F)
                    length = 2
                } else if lead < 0xF0 {
                    value = (lead & 0x0F) << 12 | UInt32(bytes[index + 1] & 0x3F) << 6 | UInt32(bytes[index + 2] & 0x3F)
                    length = 3
                } else {
                    value =
                        (lead & 0x07) << 18 | UInt32(bytes[index + 1] & 0x3F) << 12
                        | UInt32(bytes[index + 2] & 0x3F) << 6 | UInt32(bytes[index + 3] & 0x3F)
                    length = 4
                }
                let scalarClass: UInt8
                if value < 0x10000 {
                    scalarClass = table[Int(value)]
                } else {
                    scalarClass = Unicode.Scalar(value).map { computeClass($0).rawValue } ?? ScalarClass.other.rawValue
                }
                result.values.append(value)
                result.classes.append(scalarClass)
                result.offsets.append(index)
                index += length
            }
            result.offsets.append(count)
        }
        return result
    }

    /// Calls `body` with the UTF-8 byte range of every piece, in order.
    @inline(__always)
    static func forEachPiece(_ scalars: Scalars, _ body: (Int, Int) -> Void) {
        let count = scalars.values.count
        scalars.values.withUnsafeBufferPointer { values in
            scalars.classes.withUnsafeBufferPointer { classes in
                scalars.offsets.withUnsafeBufferPointer { offsets in
                    var start = 0
                    while start < count {
                        let end = pieceEnd(from: start, count: count, values: values, classes: classes)
                        body(offsets[start], offsets[end])
                        start = end
                    }
                }
            }
        }
    }

    private static let letter = ScalarClass.letter.rawValue
    private static let number = ScalarClass.number.rawValue
    private static let space = ScalarClass.space.rawValue
    private static let newline = ScalarClass.newline.rawValue
    private static let other = ScalarClass.other.rawValue

    /// The scalar index where the piece starting at `start` ends.
    @inline(__always)
    static func pieceEnd(
        from start: Int, count: Int, values: UnsafeBufferPointer<UInt32>, classes: UnsafeBufferPointer<UInt8>
    ) -> Int {
        let value = values[start]
        let scalarClass = classes[start]
        // '(?i:[sdmt]|ll|ve|re)
        if value == 0x27, start + 1 < count {
            let first = foldedContractionLetter(values[start + 1])
            if first == 0x73 || first == 0x64 || first == 0x6D || first == 0x74 { return start + 2 }
            if start + 2 < count {
                let second = foldedContractionLetter(values[start + 2])
                if (first == 0x6C && second == 0x6C) || (first == 0x76 && second == 0x65)
                    || (first == 0x72 && second == 0x65)
                {
                    return start + 3
                }
            }
        }
        // [^\r\n\p{L}\p{N}]?+\p{L}++
        if scalarClass == letter {
            return run(of: letter, from: start + 1, count: count, classes: classes)
        }
        if scalarClass != newline && scalarClass != number && start + 1 < count && classes[start + 1] == letter {
            return run(of: letter, from: start + 2, count: count, classes: classes)
        }
        // \p{N}{1,3}+
        if scalarClass == number {
            var end = start + 1
            while end < count && end < start + 3 && classes[end] == number { end += 1 }
            return end
        }
        // ' ?[^\s\p{L}\p{N}]++[\r\n]*+'
        if scalarClass == other || (value == 0x20 && start + 1 < count && classes[start + 1] == other) {
            let end = run(of: other, from: start + 1, count: count, classes: classes)
            return run(of: newline, from: end, count: count, classes: classes)
        }
        // Whitespace: \s++$ | \s*[\r\n] | \s+(?!\S) | \s
        var end = start
        var lastNewline = -1
        while end < count {
            let current = classes[end]
            if current == newline {
                lastNewline = end
            } else if current != space {
                break
            }
            end += 1
        }
        if end == count { return end }
        if lastNewline >= 0 { return lastNewline + 1 }
        if end - start >= 2 { return end - 1 }
        return start + 1
    }

    @inline(__always)
    private static func run(of wanted: UInt8, from start: Int, count: Int, classes: UnsafeBufferPointer<UInt8>) -> Int {
        var end = start
        while end < count && classes[end] == wanted { end += 1 }
        return end
    }

    /// Lower-cases the letters of the contraction alternatives the way the regex's `(?i)` does (simple case folding,
    /// which also maps U+017F LATIN SMALL LETTER LONG S to `s`).
    @inline(__always)
    private static func foldedContractionLetter(_ value: UInt32) -> UInt32 {
        if value >= 0x41 && value <= 0x5A { return value | 0x20 }
        if value == 0x17F { return 0x73 }
        return value
    }
}
