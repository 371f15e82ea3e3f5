import Foundation

/// A JSON encoder for the hot paths (`/submit`'s answer and stored row, the predictor's batch question, the simulated
/// upstream's answers): it writes bytes as `encode(to:)` runs, in the order the type encodes its keys, instead of
/// building Foundation's intermediate tree of dictionaries and sorting it. Several times cheaper per value.
///
/// What it does not do, so use Foundation's `JSONEncoder` for such types: sort keys (a `Dictionary`'s keys come
/// out in its own order, which changes between runs), special-case `Date`, `Data`, `URL` or `Decimal` (they would
/// be written through their own `Codable` conformance), or encode the same key twice (both would be written).
/// Doubles are written in Swift's shortest round-trip form (`1.0`, `0.1`); non-finite ones throw, as Foundation's do
/// (without a coding path: paths are not tracked, which saves an allocation per key).
public struct StreamingJSONEncoder: Sendable {
    public init() {}

    public func encode(_ value: some Encodable) throws -> [UInt8] {
        let writer = JSONByteWriter()
        writer.out.bytes.reserveCapacity(512)
        try writer.encodeValue(value, codingPath: [])
        return writer.out.bytes
    }

    public func encodeToString(_ value: some Encodable) throws -> String {
        String(decoding: try encode(value), as: UTF8.self)
    }
}

/// The encoder's state, one value type: every write is a single mutating call on it, so the class that holds it pays
/// one exclusivity check per write rather than one per field touched.
struct JSONOutput {
    var bytes: [UInt8] = []
    /// Closing brackets of the open containers, innermost last, with the level of the encoder that opened each.
    var open: [(closer: UInt8, depth: Int)] = []
    /// Whether each open container has written an element yet (innermost last).
    var hasElement: [Bool] = []

    mutating func closeContainers(openedAtOrBelow level: Int) {
        while let last = open.last, last.depth >= level {
            bytes.append(last.closer)
            open.removeLast()
            hasElement.removeLast()
        }
    }

    /// Opens `{` or `[` for the encoder at `level` (closing any deeper container left open before).
    mutating func openContainer(_ opener: UInt8, closer: UInt8, level: Int) {
        closeContainers(openedAtOrBelow: level + 1)
        bytes.append(opener)
        open.append((closer, level))
        hasElement.append(false)
    }

    /// Starts the next element of the innermost container opened by `level`: closes deeper ones, writes the comma.
    mutating func beginElement(level: Int) {
        closeContainers(openedAtOrBelow: level + 1)
        if hasElement.last == true { bytes.append(UInt8(ascii: ",")) }
        if !hasElement.isEmpty { hasElement[hasElement.count - 1] = true }
    }

    mutating func writeKey(_ key: String, level: Int) {
        beginElement(level: level)
        writeString(key)
        bytes.append(UInt8(ascii: ":"))
    }

    mutating func writeLiteral(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func writeInteger<I: FixedWidthInteger>(_ value: I) {
        // Digits into a small stack buffer, then one append (no String allocation).
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 40) { buffer in
            var index = buffer.count
            var magnitude = value.magnitude
            repeat {
                index -= 1
                buffer[index] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: magnitude % 10)
                magnitude /= 10
            } while magnitude != 0
            if value < 0 {
                index -= 1
                buffer[index] = UInt8(ascii: "-")
            }
            bytes.append(contentsOf: UnsafeMutableBufferPointer(rebasing: buffer[index...]))
        }
    }

    mutating func writeDouble(_ value: Double, codingPath: [any CodingKey]) throws {
        guard value.isFinite else {
            throw EncodingError.invalidValue(
                value, .init(codingPath: codingPath, debugDescription: "Unable to encode Double.\(value) directly in JSON."))
        }
        bytes.append(contentsOf: value.description.utf8)
    }

    static let hex = Array("0123456789abcdef".utf8)

    mutating func writeString(_ string: String) {
        var string = string
        string.withUTF8 { utf8 in
            bytes.append(UInt8(ascii: "\""))
            // Most strings need no escape: one bulk append. Otherwise copy the runs between escapes.
            var runStart = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                if runStart < index { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index])) }
                runStart = index + 1
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\")); bytes.append(byte)
                case 0x0A: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "n"))
                case 0x0D: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "r"))
                case 0x09: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "t"))
                default:
                    bytes.append(contentsOf: [
                        UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                        Self.hex[Int(byte >> 4)], Self.hex[Int(byte & 0x0F)],
                    ])
                }
            }
            if runStart < utf8.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...])) }
            bytes.append(UInt8(ascii: "\""))
        }
    }
}

/// The output and the stack of open containers, shared by the encoders and containers of one `encode` call. A
/// container is closed when the value that opened it finishes encoding, or when its parent writes its next element.
final class JSONByteWriter {
    var out = JSONOutput()

    /// Encodes one value at the current position: primitives directly, anything else through its `encode(to:)`,
    /// closing whatever containers it opened.
    func encodeValue<T: Encodable>(_ value: T, codingPath: [any CodingKey]) throws {
        // Metatype comparisons, not dynamic casts: a failed `as?` walks the conformance tables, and most values
        // reaching this generic path are enums and structs.
        if T.self == String.self {
            out.writeString(unsafeBitCast(value, to: String.self))
        } else if T.self == Int.self {
            out.writeInteger(unsafeBitCast(value, to: Int.self))
        } else if T.self == Bool.self {
            out.writeLiteral(unsafeBitCast(value, to: Bool.self) ? "true" : "false")
        } else if T.self == Double.self {
            try out.writeDouble(unsafeBitCast(value, to: Double.self), codingPath: codingPath)
        } else {
            // One deeper than the innermost open container (the one this value is an element of).
            let level = (out.open.last?.depth ?? 0) + 1
            let start = out.bytes.count
            try value.encode(to: StreamingEncoder(writer: self, codingPath: codingPath, level: level))
            out.closeContainers(openedAtOrBelow: level)
            // A value that encoded nothing (an empty custom encode) is null, as in Foundation.
            if out.bytes.count == start { out.writeLiteral("null") }
        }
    }
}

/// The `Encoder` handed to each non-primitive value; `level` identifies the containers it opens.
struct StreamingEncoder: Encoder {
    let writer: JSONByteWriter
    let codingPath: [any CodingKey]
    let level: Int
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        writer.out.openContainer(UInt8(ascii: "{"), closer: UInt8(ascii: "}"), level: level)
        return KeyedEncodingContainer(StreamingKeyedContainer<Key>(writer: writer, codingPath: codingPath, level: level))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        writer.out.openContainer(UInt8(ascii: "["), closer: UInt8(ascii: "]"), level: level)
        return StreamingUnkeyedContainer(writer: writer, codingPath: codingPath, level: level)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        StreamingSingleValueContainer(writer: writer, codingPath: codingPath)
    }
}

struct StreamingKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let writer: JSONByteWriter
    let codingPath: [any CodingKey]
    let level: Int

    mutating func encodeNil(forKey key: Key) throws {
        writer.out.writeKey(key.stringValue, level: level)
        writer.out.writeLiteral("null")
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        writer.out.writeKey(key.stringValue, level: level)
        try writer.encodeValue(value, codingPath: codingPath)
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
        try writer.out.writeDouble(value, codingPath: codingPath)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        writer.out.writeKey(key.stringValue, level: level)
        return StreamingEncoder(writer: writer, codingPath: codingPath, level: level + 1).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        writer.out.writeKey(key.stringValue, level: level)
        return StreamingEncoder(writer: writer, codingPath: codingPath, level: level + 1).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        writer.out.writeKey("super", level: level)
        return StreamingEncoder(writer: writer, codingPath: codingPath, level: level + 1)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        writer.out.writeKey(key.stringValue, level: level)
        return StreamingEncoder(writer: writer, codingPath: codingPath, level: level + 1)
    }
}

struct StreamingUnkeyedContainer: UnkeyedEncodingContainer {
    let writer: JSONByteWriter
    let codingPath: [any CodingKey]
    let level: Int
    private(set) var count = 0

    init(writer: JSONByteWriter, codingPath: [any CodingKey], level: Int) {
        self.writer = writer
        self.codingPath = codingPath
        self.level = level
    }

    mutating func encodeNil() throws {
        writer.out.beginElement(level: level)
        writer.out.writeLiteral("null")
        count += 1
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        writer.out.beginElement(level: level)
        try writer.encodeValue(value, codingPath: codingPath)
        count += 1
    }

    mutating func encode(_ value: String) throws {
        writer.out.beginElement(level: level)
        writer.out.writeString(value)
        count += 1
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        writer.out.beginElement(level: level)
        count += 1
        return StreamingEncoder(writer: writer, codingPath: codingPath, level: level + 1).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        writer.out.beginElement(level: level)
        count += 1
        return StreamingEncoder(writer: writer, codingPath: codingPath, level: level + 1).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        writer.out.beginElement(level: level)
        count += 1
        return StreamingEncoder(writer: writer, codingPath: codingPath, level: level + 1)
    }
}

struct StreamingSingleValueContainer: SingleValueEncodingContainer {
    let writer: JSONByteWriter
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { writer.out.writeLiteral("null") }
    mutating func encode(_ value: Bool) throws { writer.out.writeLiteral(value ? "true" : "false") }
    mutating func encode(_ value: String) throws { writer.out.writeString(value) }
    mutating func encode(_ value: Double) throws { try writer.out.writeDouble(value, codingPath: codingPath) }
    mutating func encode(_ value: Float) throws { try writer.out.writeDouble(Double(value), codingPath: codingPath) }
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
    mutating func encode<T: Encodable>(_ value: T) throws { try writer.encodeValue(value, codingPath: codingPath) }
}
