import NIOCore

/// A JSON encoder for the hot paths (`/submit`'s answer and stored row, the predictor's batch question): it writes
/// bytes as `encode(to:)` runs, in the order the type encodes its keys, instead of building Foundation's
/// intermediate tree of dictionaries and sorting it. About three times cheaper per value.
///
/// What it does not do, so use Foundation's `JSONEncoder` for such types: sort keys (a `Dictionary`'s keys come
/// out in its own order, which changes between runs), special-case `Date`, `Data`, `URL` or `Decimal` (they would
/// be written through their own `Codable` conformance), or encode the same key twice (both would be written).
/// Strings are escaped as `JSONEncoder` escapes them; doubles are written in Swift's shortest round-trip form
/// (`1.0`, `0.1`); non-finite ones throw, as Foundation's do. Coding paths are not tracked (an allocation per key),
/// so `codingPath` is always empty.
public struct StreamingJSONEncoder: Sendable {
    public init() {}

    public func encode(_ value: some Encodable) throws -> ByteBuffer {
        let writer = JSONByteWriter()
        try writer.encodeValue(value)
        return writer.out.buffer
    }

    public func encodeToString(_ value: some Encodable) throws -> String {
        String(buffer: try encode(value))
    }
}

/// The encoder's state, one value type: every write is a single mutating call on it, so the class that holds it pays
/// one exclusivity check per write rather than one per field touched.
struct JSONOutput {
    struct OpenContainer {
        var closer: UInt8
        /// The level of the encoder that opened it.
        var level: Int
        var hasElement = false
    }

    var buffer = ByteBuffer()
    /// The open containers, innermost last.
    var open: [OpenContainer] = []

    init() {
        buffer.reserveCapacity(512)
    }

    mutating func closeContainers(openedAtOrBelow level: Int) {
        while let last = open.last, last.level >= level {
            buffer.writeInteger(last.closer)
            open.removeLast()
        }
    }

    /// Opens `{` or `[` for the encoder at `level` (closing any deeper container left open before).
    mutating func openContainer(_ opener: UInt8, closer: UInt8, level: Int) {
        closeContainers(openedAtOrBelow: level + 1)
        buffer.writeInteger(opener)
        open.append(OpenContainer(closer: closer, level: level))
    }

    /// Starts the next element of the innermost container opened by `level`: closes deeper ones, writes the comma.
    mutating func beginElement(level: Int) {
        closeContainers(openedAtOrBelow: level + 1)
        guard !open.isEmpty else { return }
        if open[open.count - 1].hasElement { buffer.writeInteger(UInt8(ascii: ",")) }
        open[open.count - 1].hasElement = true
    }

    mutating func writeKey(_ key: String, level: Int) {
        beginElement(level: level)
        buffer.writeJSONString(key)
        buffer.writeInteger(UInt8(ascii: ":"))
    }

    mutating func writeString(_ string: String) {
        buffer.writeJSONString(string)
    }

    mutating func writeLiteral(_ text: StaticString) {
        buffer.writeStaticString(text)
    }

    mutating func writeInteger<I: FixedWidthInteger>(_ value: I) {
        // Digits into a small stack buffer, then one write (no String allocation).
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 40) { digits in
            var index = digits.count
            var magnitude = value.magnitude
            repeat {
                index -= 1
                digits[index] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: magnitude % 10)
                magnitude /= 10
            } while magnitude != 0
            if value < 0 {
                index -= 1
                digits[index] = UInt8(ascii: "-")
            }
            buffer.writeBytes(UnsafeMutableBufferPointer(rebasing: digits[index...]))
        }
    }

    mutating func writeDouble(_ value: Double) throws {
        guard value.isFinite else {
            throw EncodingError.invalidValue(
                value, .init(codingPath: [], debugDescription: "Unable to encode Double.\(value) directly in JSON."))
        }
        buffer.writeString(value.description)
    }
}

/// The output and the stack of open containers, shared by the encoders and containers of one `encode` call. A
/// container is closed when the value that opened it finishes encoding, or when its parent writes its next element.
final class JSONByteWriter {
    var out = JSONOutput()

    /// Encodes one value at the current position: primitives directly, anything else through its `encode(to:)`,
    /// closing whatever containers it opened.
    func encodeValue<T: Encodable>(_ value: T) throws {
        // Metatype comparisons, not dynamic casts: a failed `as?` walks the conformance tables, and most values
        // reaching this generic path are enums and structs.
        if T.self == String.self {
            out.writeString(unsafeBitCast(value, to: String.self))
        } else if T.self == Int.self {
            out.writeInteger(unsafeBitCast(value, to: Int.self))
        } else if T.self == Bool.self {
            out.writeLiteral(unsafeBitCast(value, to: Bool.self) ? "true" : "false")
        } else if T.self == Double.self {
            try out.writeDouble(unsafeBitCast(value, to: Double.self))
        } else {
            // One deeper than the innermost open container (the one this value is an element of).
            let level = (out.open.last?.level ?? 0) + 1
            let start = out.buffer.writerIndex
            try value.encode(to: StreamingEncoder(writer: self, level: level))
            out.closeContainers(openedAtOrBelow: level)
            // A value that encoded nothing (an empty custom encode) is null, as in Foundation.
            if out.buffer.writerIndex == start { out.writeLiteral("null") }
        }
    }
}

/// The `Encoder` handed to each non-primitive value; `level` identifies the containers it opens.
struct StreamingEncoder: Encoder {
    let writer: JSONByteWriter
    let level: Int
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        writer.out.openContainer(UInt8(ascii: "{"), closer: UInt8(ascii: "}"), level: level)
        return KeyedEncodingContainer(StreamingKeyedContainer<Key>(writer: writer, level: level))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        writer.out.openContainer(UInt8(ascii: "["), closer: UInt8(ascii: "]"), level: level)
        return StreamingUnkeyedContainer(writer: writer, level: level)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        StreamingSingleValueContainer(writer: writer)
    }
}

struct StreamingKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let writer: JSONByteWriter
    let level: Int
    var codingPath: [any CodingKey] { [] }

    mutating func encodeNil(forKey key: Key) throws {
        writer.out.writeKey(key.stringValue, level: level)
        writer.out.writeLiteral("null")
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        writer.out.writeKey(key.stringValue, level: level)
        try writer.encodeValue(value)
    }

    // The common primitives without a dynamic cast.
    mutating func encode(_ value: String, forKey key: Key) throws {
        writer.out.writeKey(key.stringValue, level: level)
        writer.out.writeString(value)
    }

    mutating func encode(_ value: Int, forKey key: Key) throws {
        writer.out.writeKey(key.stringValue, level: level)
        writer.out.writeInteger(value)
    }

    mutating func encode(_ value: Bool, forKey key: Key) throws {
        writer.out.writeKey(key.stringValue, level: level)
        writer.out.writeLiteral(value ? "true" : "false")
    }

    mutating func encode(_ value: Double, forKey key: Key) throws {
        writer.out.writeKey(key.stringValue, level: level)
        try writer.out.writeDouble(value)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
        -> KeyedEncodingContainer<NestedKey>
    {
        writer.out.writeKey(key.stringValue, level: level)
        return StreamingEncoder(writer: writer, level: level + 1).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        writer.out.writeKey(key.stringValue, level: level)
        return StreamingEncoder(writer: writer, level: level + 1).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        writer.out.writeKey("super", level: level)
        return StreamingEncoder(writer: writer, level: level + 1)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        writer.out.writeKey(key.stringValue, level: level)
        return StreamingEncoder(writer: writer, level: level + 1)
    }
}

struct StreamingUnkeyedContainer: UnkeyedEncodingContainer {
    let writer: JSONByteWriter
    let level: Int
    private(set) var count = 0
    var codingPath: [any CodingKey] { [] }

    init(writer: JSONByteWriter, level: Int) {
        self.writer = writer
        self.level = level
    }

    mutating func encodeNil() throws {
        writer.out.beginElement(level: level)
        writer.out.writeLiteral("null")
        count += 1
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        writer.out.beginElement(level: level)
        try writer.encodeValue(value)
        count += 1
    }

    mutating func encode(_ value: String) throws {
        writer.out.beginElement(level: level)
        writer.out.writeString(value)
        count += 1
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<
        NestedKey
    > {
        writer.out.beginElement(level: level)
        count += 1
        return StreamingEncoder(writer: writer, level: level + 1).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        writer.out.beginElement(level: level)
        count += 1
        return StreamingEncoder(writer: writer, level: level + 1).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        writer.out.beginElement(level: level)
        count += 1
        return StreamingEncoder(writer: writer, level: level + 1)
    }
}

struct StreamingSingleValueContainer: SingleValueEncodingContainer {
    let writer: JSONByteWriter
    var codingPath: [any CodingKey] { [] }

    mutating func encodeNil() throws { writer.out.writeLiteral("null") }
    mutating func encode(_ value: Bool) throws { writer.out.writeLiteral(value ? "true" : "false") }
    mutating func encode(_ value: String) throws { writer.out.writeString(value) }
    mutating func encode(_ value: Double) throws { try writer.out.writeDouble(value) }
    mutating func encode(_ value: Float) throws { try writer.out.writeDouble(Double(value)) }
    mutating func encode(_ value: Int) throws { writer.out.writeInteger(value) }
    mutating func encode(_ value: Int8) throws { writer.out.writeInteger(value) }
    mutating func encode(_ value: Int16) throws { writer.out.writeInteger(value) }
    mutating func encode(_ value: Int32) throws { writer.out.writeInteger(value) }
    mutating func encode(_ value: Int64) throws { writer.out.writeInteger(value) }
    mutating func encode(_ value: UInt) throws { writer.out.writeInteger(value) }
    mutating func encode(_ value: UInt8) throws { writer.out.writeInteger(value) }
    mutating func encode(_ value: UInt16) throws { writer.out.writeInteger(value) }
    mutating func encode(_ value: UInt32) throws { writer.out.writeInteger(value) }
    mutating func encode(_ value: UInt64) throws { writer.out.writeInteger(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { try writer.encodeValue(value) }
}

extension ByteBuffer {
    /// Writes `text` as a quoted JSON string, escaped as `JSONEncoder` escapes it.
    public mutating func writeJSONString(_ text: String) {
        writeInteger(UInt8(ascii: "\""))
        writeJSONStringContents(text)
        writeInteger(UInt8(ascii: "\""))
    }

    /// Writes `text` escaped for a JSON string, without quotes: `"`, `\` and `/` get a backslash, control
    /// characters their short escape or `\u00xx`, everything else (non-ASCII included) is copied.
    public mutating func writeJSONStringContents(_ text: String) {
        let utf8 = text.utf8
        guard utf8.contains(where: Self.needsEscape) else {
            writeString(text)
            return
        }
        for byte in utf8 {
            guard Self.needsEscape(byte) else {
                writeInteger(byte)
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): writeStaticString(#"\""#)
            case UInt8(ascii: "\\"): writeStaticString(#"\\"#)
            case UInt8(ascii: "/"): writeStaticString(#"\/"#)
            case 0x08: writeStaticString(#"\b"#)
            case 0x09: writeStaticString(#"\t"#)
            case 0x0A: writeStaticString(#"\n"#)
            case 0x0C: writeStaticString(#"\f"#)
            case 0x0D: writeStaticString(#"\r"#)
            default:
                let digits: StaticString = "0123456789abcdef"
                writeStaticString(#"\u00"#)
                writeInteger(digits.utf8Start[Int(byte >> 4)])
                writeInteger(digits.utf8Start[Int(byte & 0x0F)])
            }
        }
    }

    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "/")
    }
}
