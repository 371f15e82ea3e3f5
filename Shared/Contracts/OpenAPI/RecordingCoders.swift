import Foundation

/// The decoder `SchemaRecorder` runs a wire type's `init(from:)` against: it answers placeholders and notes keys.
struct RecordingDecoder: Decoder {
    enum Content {
        case object(ObjectRecord)
        case singleValue(SingleValueRecord)
    }

    let recorder: SchemaRecorder
    let content: Content
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let object) = content else {
            throw SchemaDerivationError("a keyed type must conform to OpenAPIComponent to be named in the document")
        }
        return KeyedDecodingContainer(RecordingKeyedDecodingContainer<Key>(recorder: recorder, object: object))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        throw SchemaDerivationError("an unkeyed container outside an array cannot be derived")
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        guard case .singleValue(let attempts) = content else {
            throw SchemaDerivationError("an OpenAPIComponent must decode a keyed container")
        }
        return RecordingSingleValueDecodingContainer(recorder: recorder, attempts: attempts)
    }
}

struct RecordingKeyedDecodingContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let recorder: SchemaRecorder
    let object: ObjectRecord
    var codingPath: [any CodingKey] { [] }
    var allKeys: [Key] { [] }

    func contains(_ key: Key) -> Bool {
        object.check(key.stringValue)
        return true
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        object.markNullable(key.stringValue)
        return false
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try required(type, key) }
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? { try optional(type, key) }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try required(type, key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try required(type, key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try required(type, key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try required(type, key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try required(type, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try required(type, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try required(type, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try required(type, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try required(type, key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try required(type, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try required(type, key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try required(type, key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try required(type, key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try required(type, key) }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try optional(type, key) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try optional(type, key) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try optional(type, key) }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try optional(type, key) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try optional(type, key) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try optional(type, key) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try optional(type, key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try optional(type, key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try optional(type, key) }

    private func required<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T {
        let (schema, placeholder) = recorder.describe(type)
        object.decoded(key.stringValue, schema, required: true)
        guard let placeholder else { throw SchemaDerivationError("no placeholder for \(T.self)") }
        return placeholder
    }

    private func optional<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T? {
        object.decoded(key.stringValue, recorder.describe(type).schema, required: false)
        return nil
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        throw SchemaDerivationError("'\(key.stringValue)': nested containers cannot be derived; use a nested type")
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        throw SchemaDerivationError("'\(key.stringValue)': nested containers cannot be derived; use an array type")
    }

    func superDecoder() throws -> any Decoder {
        throw SchemaDerivationError("super decoders cannot be derived")
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        throw SchemaDerivationError("super decoders cannot be derived")
    }
}

struct RecordingSingleValueDecodingContainer: SingleValueDecodingContainer {
    let recorder: SchemaRecorder
    let attempts: SingleValueRecord
    var codingPath: [any CodingKey] { [] }

    func decodeNil() -> Bool {
        if attempts.probing { attempts.alternatives.append(.null) }
        return false
    }

    func decode<T: Decodable>(_ type: T.Type) throws -> T { try value(type) }
    func decode(_ type: Bool.Type) throws -> Bool { try value(type) }
    func decode(_ type: String.Type) throws -> String { try value(type) }
    func decode(_ type: Double.Type) throws -> Double { try value(type) }
    func decode(_ type: Float.Type) throws -> Float { try value(type) }
    func decode(_ type: Int.Type) throws -> Int { try value(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try value(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try value(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try value(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try value(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try value(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try value(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try value(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try value(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try value(type) }

    private func value<T: Decodable>(_ type: T.Type) throws -> T {
        let (schema, placeholder) = recorder.describe(type)
        if attempts.probing {
            attempts.alternatives.append(schema)
            throw SchemaDerivationError("probing")
        }
        guard let placeholder else { throw SchemaDerivationError("no placeholder for \(T.self)") }
        return placeholder
    }
}

/// The encoder a component's placeholder is encoded with: it notes which keys are written always, which only when
/// present, and which as explicit nulls.
struct RecordingEncoder: Encoder {
    let recorder: SchemaRecorder
    let object: ObjectRecord
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(RecordingKeyedEncodingContainer<Key>(recorder: recorder, object: object))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        recorder.problem("an OpenAPIComponent must encode a keyed container, not an unkeyed one")
        return DiscardingEncodingContainer(recorder: recorder)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        recorder.problem("an OpenAPIComponent must encode a keyed container, not a single value")
        return DiscardingEncodingContainer(recorder: recorder)
    }
}

struct RecordingKeyedEncodingContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let recorder: SchemaRecorder
    let object: ObjectRecord
    var codingPath: [any CodingKey] { [] }

    mutating func encodeNil(forKey key: Key) throws {
        object.markNullable(key.stringValue)
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        note(T.self, key, always: true)
    }

    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
        note(T.self, key, always: false)
    }

    mutating func encode(_ value: Bool, forKey key: Key) throws { note(Bool.self, key, always: true) }
    mutating func encode(_ value: String, forKey key: Key) throws { note(String.self, key, always: true) }
    mutating func encode(_ value: Double, forKey key: Key) throws { note(Double.self, key, always: true) }
    mutating func encode(_ value: Float, forKey key: Key) throws { note(Float.self, key, always: true) }
    mutating func encode(_ value: Int, forKey key: Key) throws { note(Int.self, key, always: true) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { note(Int8.self, key, always: true) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { note(Int16.self, key, always: true) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { note(Int32.self, key, always: true) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { note(Int64.self, key, always: true) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { note(UInt.self, key, always: true) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { note(UInt8.self, key, always: true) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { note(UInt16.self, key, always: true) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { note(UInt32.self, key, always: true) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { note(UInt64.self, key, always: true) }

    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { note(Bool.self, key, always: false) }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { note(String.self, key, always: false) }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { note(Double.self, key, always: false) }
    mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws { note(Float.self, key, always: false) }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { note(Int.self, key, always: false) }
    mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws { note(Int8.self, key, always: false) }
    mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws { note(Int16.self, key, always: false) }
    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { note(Int32.self, key, always: false) }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { note(Int64.self, key, always: false) }
    mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws { note(UInt.self, key, always: false) }
    mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws { note(UInt8.self, key, always: false) }
    mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws { note(UInt16.self, key, always: false) }
    mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws { note(UInt32.self, key, always: false) }
    mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws { note(UInt64.self, key, always: false) }

    /// A key written with a value of static type `T`; an optional `T` written always is a nullable key.
    private func note<T: Encodable>(_ type: T.Type, _ key: Key, always: Bool) {
        guard let decodable = type as? any Decodable.Type else {
            recorder.problem("'\(key.stringValue)': \(T.self) is not Decodable, so its schema cannot be derived")
            return
        }
        let nullable = always && type is any SchemaOptional.Type
        object.encoded(key.stringValue, recorder.describe(decodable).schema, always: always, nullable: nullable)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        recorder.problem("'\(key.stringValue)': nested containers cannot be derived; use a nested type")
        return KeyedEncodingContainer(RecordingKeyedEncodingContainer<NestedKey>(recorder: recorder, object: object))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        recorder.problem("'\(key.stringValue)': nested containers cannot be derived; use an array type")
        return DiscardingEncodingContainer(recorder: recorder)
    }

    mutating func superEncoder() -> any Encoder {
        recorder.problem("super encoders cannot be derived")
        return RecordingEncoder(recorder: recorder, object: ObjectRecord())
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        superEncoder()
    }
}

/// `Optional`, told apart from other types at run time.
protocol SchemaOptional {}
extension Optional: SchemaOptional {}

/// Swallows what an encoder writes where derivation has already reported a problem.
struct DiscardingEncodingContainer: UnkeyedEncodingContainer, SingleValueEncodingContainer {
    let recorder: SchemaRecorder
    var codingPath: [any CodingKey] { [] }
    var count: Int { 0 }

    mutating func encodeNil() throws {}
    mutating func encode<T: Encodable>(_ value: T) throws {}
    mutating func encode(_ value: Bool) throws {}
    mutating func encode(_ value: String) throws {}
    mutating func encode(_ value: Double) throws {}
    mutating func encode(_ value: Float) throws {}
    mutating func encode(_ value: Int) throws {}
    mutating func encode(_ value: Int8) throws {}
    mutating func encode(_ value: Int16) throws {}
    mutating func encode(_ value: Int32) throws {}
    mutating func encode(_ value: Int64) throws {}
    mutating func encode(_ value: UInt) throws {}
    mutating func encode(_ value: UInt8) throws {}
    mutating func encode(_ value: UInt16) throws {}
    mutating func encode(_ value: UInt32) throws {}
    mutating func encode(_ value: UInt64) throws {}

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type
    ) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(RecordingKeyedEncodingContainer<NestedKey>(recorder: recorder, object: ObjectRecord()))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { self }

    mutating func superEncoder() -> any Encoder { RecordingEncoder(recorder: recorder, object: ObjectRecord()) }
}
