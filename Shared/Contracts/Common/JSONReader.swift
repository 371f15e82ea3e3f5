/// A strict, allocation-light reader of JSON bytes for request fast paths. Every method returns nil on
/// anything it does not fully understand — malformed JSON, invalid UTF-8, lone surrogates, integers that
/// are not plain digits, nesting past the limit — so that its caller can leave the body to `JSONDecoder`,
/// which then answers exactly as it always has. It never accepts a document `JSONDecoder` rejects.
public struct JSONReader: ~Copyable {
    private let bytes: UnsafeRawBufferPointer
    private var index = 0
    private var depth = 0
    private let maxDepth: Int

    public init(_ bytes: UnsafeRawBufferPointer, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    /// A whole document read by `read` from `bytes`: nil when `read` gives up or anything but whitespace follows.
    public static func document<Value>(
        _ bytes: UnsafeRawBufferPointer, maxDepth: Int, _ read: (inout JSONReader) -> Value?
    ) -> Value? {
        var reader = JSONReader(bytes, maxDepth: maxDepth)
        guard let value = read(&reader), reader.atEnd() else { return nil }
        return value
    }

    /// Only whitespace is left.
    public mutating func atEnd() -> Bool {
        skipWhitespace()
        return index == bytes.count
    }

    /// Consumes `null` when it comes next.
    public mutating func consumeNull() -> Bool {
        skipWhitespace()
        guard bytes.count - index >= 4, bytes[index] == UInt8(ascii: "n"), bytes[index + 1] == UInt8(ascii: "u"),
            bytes[index + 2] == UInt8(ascii: "l"), bytes[index + 3] == UInt8(ascii: "l")
        else { return false }
        index += 4
        return true
    }

    /// Reads `true` or `false`.
    public mutating func readBool() -> Bool? {
        skipWhitespace()
        if matches("true") {
            index += 4
            return true
        }
        if matches("false") {
            index += 5
            return false
        }
        return nil
    }

    /// Reads an integer written as plain digits (an optional minus, no fraction, exponent or leading zero).
    public mutating func readInt() -> Int? {
        skipWhitespace()
        let start = index
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        let digitsStart = index
        var magnitude = 0
        while index < bytes.count, let digit = Self.digit(bytes[index]) {
            // Past 18 digits the value may overflow: counted but not accumulated, then refused below.
            if index - digitsStart < 18 { magnitude = magnitude * 10 + digit }
            index += 1
        }
        let digits = index - digitsStart
        // A long number, a leading zero, a fraction or an exponent is JSONDecoder's to judge.
        guard digits > 0, digits <= 18, digits == 1 || bytes[digitsStart] != UInt8(ascii: "0") else { return nil }
        if index < bytes.count,
            bytes[index] == UInt8(ascii: ".") || bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")
        {
            return nil
        }
        return bytes[start] == UInt8(ascii: "-") ? -magnitude : magnitude
    }

    /// Reads any JSON number as a finite Double.
    public mutating func readDouble() -> Double? {
        skipWhitespace()
        let start = index
        guard skipNumber() else { return nil }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else { return nil }
        return value
    }

    /// Reads a string, resolving its escapes.
    public mutating func readString() -> String? {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
        index += 1
        let start = index
        var plain = true
        var ascii = true
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") { break }
            if byte < 0x20 { return nil }
            if byte == UInt8(ascii: "\\") {
                plain = false
                index += 2
                continue
            }
            if byte >= 0x80 { ascii = false }
            index += 1
        }
        guard index < bytes.count else { return nil }
        let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
        index += 1
        if plain {
            return ascii ? String(decoding: raw, as: UTF8.self) : String(validating: raw, as: UTF8.self)
        }
        return Self.unescape(raw)
    }

    /// Steps into an object: true after its `{`.
    public mutating func beginObject() -> Bool {
        open(UInt8(ascii: "{"))
    }

    /// Steps into an array: true after its `[`.
    public mutating func beginArray() -> Bool {
        open(UInt8(ascii: "["))
    }

    /// The next key of the current object, nil at its end (after the `}`) — or on malformed input, which
    /// `failed` then reports.
    public mutating func nextKey(first: Bool) -> String? {
        skipWhitespace()
        guard index < bytes.count else { return fail() }
        if bytes[index] == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return nil
        }
        if !first {
            guard bytes[index] == UInt8(ascii: ",") else { return fail() }
            index += 1
        }
        guard let key = readString() else { return fail() }
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return fail() }
        index += 1
        return key
    }

    /// Moves to the next element of the current array: true when there is one, false after the `]` — or on
    /// malformed input, which `failed` then reports.
    public mutating func nextElement(first: Bool) -> Bool {
        skipWhitespace()
        guard index < bytes.count else { return fail() ?? false }
        if bytes[index] == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return false
        }
        if !first {
            guard bytes[index] == UInt8(ascii: ",") else { return fail() ?? false }
            index += 1
        }
        return true
    }

    /// The input was malformed where `nextKey` or `nextElement` stopped.
    public private(set) var failed = false

    /// Skips one value of any kind, checking it as strictly as the rest.
    public mutating func skipValue() -> Bool {
        skipWhitespace()
        guard index < bytes.count else { return false }
        switch bytes[index] {
        case UInt8(ascii: "\""):
            return readString() != nil
        case UInt8(ascii: "{"):
            return readObject(known: []) { _, _ in false }
        case UInt8(ascii: "["):
            return readArray { $0.skipValue() }
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            return readBool() != nil
        case UInt8(ascii: "n"):
            return consumeNull()
        default:
            return skipNumber()
        }
    }

    /// Reads an object: the value of each key among `known` goes to `field`, which must consume it and
    /// returns false to give up; other keys' values are skipped. A known key that comes twice gives up too,
    /// since which of the two `JSONDecoder` keeps is its own business. True when the object was read to its
    /// `}`. At most 64 known keys.
    public mutating func readObject(known: [String], _ field: (inout JSONReader, String) -> Bool) -> Bool {
        guard beginObject() else { return false }
        var seen: UInt64 = 0
        var first = true
        while let key = nextKey(first: first) {
            first = false
            guard let position = known.firstIndex(of: key) else {
                guard skipValue() else { return false }
                continue
            }
            let bit: UInt64 = 1 << UInt64(position)
            guard seen & bit == 0 else { return false }
            seen |= bit
            guard field(&self, key) else { return false }
        }
        return !failed
    }

    /// Reads an array, each element by `element` (false gives up). True when it was read to its `]`.
    public mutating func readArray(_ element: (inout JSONReader) -> Bool) -> Bool {
        guard beginArray() else { return false }
        var first = true
        while nextElement(first: first) {
            first = false
            guard element(&self) else { return false }
        }
        return !failed
    }

    /// Reads an array whose every element `element` reads; nil when one is not such an element.
    public mutating func readList<Element>(_ element: (inout JSONReader) -> Element?) -> [Element]? {
        var elements: [Element] = []
        let read = readArray { reader in
            guard let value = element(&reader) else { return false }
            elements.append(value)
            return true
        }
        return read ? elements : nil
    }

    /// Reads `null` into `slot` as nil, or a value `read` accepts; false when it is neither.
    public mutating func readOptional<Value>(_ read: (inout JSONReader) -> Value?, into slot: inout Value?) -> Bool {
        if consumeNull() {
            slot = nil
            return true
        }
        guard let value = read(&self) else { return false }
        slot = value
        return true
    }

    private mutating func open(_ bracket: UInt8) -> Bool {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == bracket, depth < maxDepth else { return false }
        index += 1
        depth += 1
        return true
    }

    private mutating func fail<T>() -> T? {
        failed = true
        return nil
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): index += 1
            default: return
            }
        }
    }

    private func matches(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - index >= count else { return false }
        for offset in 0..<count where bytes[index + offset] != literal.utf8Start[offset] { return false }
        return true
    }

    /// Skips `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`.
    private mutating func skipNumber() -> Bool {
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, Self.digit(bytes[index]) != nil else { return false }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            skipDigits()
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard skipDigits() else { return false }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard skipDigits() else { return false }
        }
        return true
    }

    @discardableResult
    private mutating func skipDigits() -> Bool {
        let start = index
        while index < bytes.count, Self.digit(bytes[index]) != nil { index += 1 }
        return index > start
    }

    private static func digit(_ byte: UInt8) -> Int? {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") ? Int(byte - UInt8(ascii: "0")) : nil
    }

    private static func hexDigit(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    /// The string between the quotes with its escapes resolved; nil for an unknown escape, a lone
    /// surrogate or invalid UTF-8.
    private static func unescape(_ raw: UnsafeRawBufferPointer) -> String? {
        var result: [UInt8] = []
        result.reserveCapacity(raw.count)
        var index = 0
        while index < raw.count {
            let byte = raw[index]
            guard byte == UInt8(ascii: "\\") else {
                result.append(byte)
                index += 1
                continue
            }
            guard index + 1 < raw.count else { return nil }
            index += 2
            switch raw[index - 1] {
            case UInt8(ascii: "\""): result.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): result.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "/"): result.append(UInt8(ascii: "/"))
            case UInt8(ascii: "b"): result.append(0x08)
            case UInt8(ascii: "f"): result.append(0x0C)
            case UInt8(ascii: "n"): result.append(0x0A)
            case UInt8(ascii: "r"): result.append(0x0D)
            case UInt8(ascii: "t"): result.append(0x09)
            case UInt8(ascii: "u"):
                guard var scalar = hexQuad(raw, at: index) else { return nil }
                index += 4
                if (0xD800...0xDBFF).contains(scalar) {
                    guard index + 6 <= raw.count, raw[index] == UInt8(ascii: "\\"), raw[index + 1] == UInt8(ascii: "u"),
                        let low = hexQuad(raw, at: index + 2), (0xDC00...0xDFFF).contains(low)
                    else { return nil }
                    index += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let unicode = Unicode.Scalar(scalar) else { return nil }
                result.append(contentsOf: String(unicode).utf8)
            default:
                return nil
            }
        }
        return String(validating: result, as: UTF8.self)
    }

    private static func hexQuad(_ raw: UnsafeRawBufferPointer, at start: Int) -> UInt32? {
        guard start + 4 <= raw.count else { return nil }
        var value: UInt32 = 0
        for offset in 0..<4 {
            guard let digit = hexDigit(raw[start + offset]) else { return nil }
            value = value << 4 | digit
        }
        return value
    }
}
