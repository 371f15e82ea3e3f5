import Foundation

/// The schema of a wire type derived from its `Codable` conformance, with the named components it refers to.
///
/// `SchemaRecorder` runs the type's own `init(from:)` against a decoder that answers with placeholders and notes
/// each key: `decode` makes it required, `decodeIfPresent` (or `contains` first) optional. It then encodes the
/// placeholder, which adds keys only the encoder writes and marks as nullable and present those written even when
/// nil. So the document follows the types' own decoding and encoding, field by field.
public struct DerivedSchema: Sendable, Equatable {
    /// The schema itself: a `$ref` for a component, inline otherwise.
    public var schema: OpenAPISchema
    /// Every component the schema refers to, directly or not, by name.
    public var components: [String: OpenAPISchema]
    /// What could not be derived (a keyed type without an `OpenAPIComponent` conformance, say); empty when sound.
    public var problems: [String]

    /// A schema written out, for what is not a wire type (a page's text, a free-form object).
    public init(_ schema: OpenAPISchema) {
        self.schema = schema
        self.components = [:]
        self.problems = []
    }

    /// The schema of `type`, derived.
    public init<T: Decodable>(of type: T.Type) {
        let recorder = SchemaRecorder()
        self.schema = recorder.describe(type).schema
        self.components = recorder.components
        self.problems = recorder.problems
    }
}

/// Derives schemas and builds placeholder values, one component at a time; used once per `DerivedSchema`.
final class SchemaRecorder {
    private(set) var components: [String: OpenAPISchema] = [:]
    private(set) var problems: [String] = []
    private var placeholders: [String: Any] = [:]
    private var owners: [String: ObjectIdentifier] = [:]
    private var inProgress: Set<String> = []

    /// The schema of `type` and a value of it to continue decoding with (nil when none could be built).
    func describe<T: Decodable>(_ type: T.Type) -> (schema: OpenAPISchema, placeholder: T?) {
        if let primitive = Self.primitive(type) { return (primitive.schema, primitive.value as? T) }
        if type == JSONValue.self { return (.anyValue, JSONValue.null as? T) }
        if let collection = type as? any SchemaCollection.Type {
            let described = collection.describe(with: self)
            return (described.schema, described.placeholder as? T)
        }
        if let enumeration = type as? any OpenAPIEnumeration.Type {
            let described = describeEnumeration(enumeration)
            return (described.schema, described.placeholder as? T)
        }
        if let component = type as? any OpenAPIComponent.Type {
            let described = describeComponent(component)
            return (described.schema, described.placeholder as? T)
        }
        return describeSingleValue(type)
    }

    func problem(_ text: String) {
        problems.append(text)
    }

    private static func primitive(_ type: Any.Type) -> (schema: OpenAPISchema, value: Any)? {
        switch type {
        case is String.Type: return (.string, "")
        case is Bool.Type: return (.boolean, false)
        case is Double.Type: return (.number, 0.0)
        case is Float.Type: return (.number, Float(0))
        case is Int.Type: return (.integer, 0)
        case is Int8.Type: return (.integer, Int8(0))
        case is Int16.Type: return (.integer, Int16(0))
        case is Int32.Type: return (.integer, Int32(0))
        case is Int64.Type: return (.integer, Int64(0))
        case is UInt.Type: return (.integer, UInt(0))
        case is UInt8.Type: return (.integer, UInt8(0))
        case is UInt16.Type: return (.integer, UInt16(0))
        case is UInt32.Type: return (.integer, UInt32(0))
        case is UInt64.Type: return (.integer, UInt64(0))
        default: return nil
        }
    }

    private func claim(_ name: String, for type: Any.Type) -> Bool {
        let owner = ObjectIdentifier(type)
        if let existing = owners[name], existing != owner {
            problem("two types are named \(name) in the document; give one a schemaName")
            return false
        }
        owners[name] = owner
        return true
    }

    private func describeEnumeration<E: OpenAPIEnumeration>(_ type: E.Type) -> (
        schema: OpenAPISchema, placeholder: Any?
    ) {
        let name = E.schemaName
        if claim(name, for: type) {
            components[name] = .enumeration(E.allCases.map(\.rawValue), description: E.schemaDescription)
        }
        return (.reference(name), E.allCases.first)
    }

    private func describeComponent<C: OpenAPIComponent>(_ type: C.Type) -> (schema: OpenAPISchema, placeholder: Any?) {
        let name = C.schemaName
        let reference = OpenAPISchema.reference(name)
        if let placeholder = placeholders[name] { return (reference, placeholder) }
        guard claim(name, for: type), !inProgress.contains(name) else {
            if inProgress.contains(name) { problem("\(name) contains itself, which derivation cannot follow") }
            return (reference, nil)
        }
        inProgress.insert(name)
        defer { inProgress.remove(name) }
        let object = ObjectRecord()
        let placeholder: C
        do {
            placeholder = try C(from: RecordingDecoder(recorder: self, content: .object(object)))
        } catch {
            problem("\(name): its init(from:) failed on placeholders: \(error)")
            return (reference, nil)
        }
        if let encodable = placeholder as? any Encodable {
            do {
                try encodable.encode(to: RecordingEncoder(recorder: self, object: object))
            } catch {
                problem("\(name): its encode(to:) failed on placeholders: \(error)")
            }
        }
        components[name] = object.schema(
            description: C.schemaDescription, refinements: C.schemaRefinements, named: name, recorder: self)
        placeholders[name] = placeholder
        return (reference, placeholder)
    }

    /// A type that decodes one value (a string or a list of parts, say): every type its `init(from:)` tries is an
    /// alternative. The first run lets every attempt fail to see them all; the second lets the first one succeed.
    private func describeSingleValue<T: Decodable>(_ type: T.Type) -> (schema: OpenAPISchema, placeholder: T?) {
        let attempts = SingleValueRecord()
        _ = try? T(from: RecordingDecoder(recorder: self, content: .singleValue(attempts)))
        var alternatives: [OpenAPISchema] = []
        for alternative in attempts.alternatives where !alternatives.contains(alternative) {
            alternatives.append(alternative)
        }
        guard !alternatives.isEmpty else {
            problem("\(T.self) decodes no value; conform it to OpenAPIComponent or OpenAPIEnumeration")
            return (.anyValue, nil)
        }
        attempts.probing = false
        do {
            return (
                .anyOf(alternatives), try T(from: RecordingDecoder(recorder: self, content: .singleValue(attempts)))
            )
        } catch {
            problem("\(T.self): its init(from:) failed on a placeholder: \(error)")
            return (.anyOf(alternatives), nil)
        }
    }
}

/// Arrays, string-keyed dictionaries and optionals: described through their element, built empty.
protocol SchemaCollection {
    static func describe(with recorder: SchemaRecorder) -> (schema: OpenAPISchema, placeholder: Any)
}

extension Array: SchemaCollection where Element: Decodable {
    static func describe(with recorder: SchemaRecorder) -> (schema: OpenAPISchema, placeholder: Any) {
        (.array(of: recorder.describe(Element.self).schema), [Element]())
    }
}

extension Dictionary: SchemaCollection where Key == String, Value: Decodable {
    static func describe(with recorder: SchemaRecorder) -> (schema: OpenAPISchema, placeholder: Any) {
        (.map(of: recorder.describe(Value.self).schema), [String: Value]())
    }
}

extension Optional: SchemaCollection where Wrapped: Decodable {
    static func describe(with recorder: SchemaRecorder) -> (schema: OpenAPISchema, placeholder: Any) {
        (recorder.describe(Wrapped.self).schema.nullable, Wrapped?.none as Any)
    }
}

/// What the coders learn about one component's keys.
final class ObjectRecord {
    struct Property {
        var schema: OpenAPISchema
        var decodedRequired = false
        var encodedAlways = false
        var nullable = false
    }

    private var order: [String] = []
    private var properties: [String: Property] = [:]
    private var checked: Set<String> = []

    /// `contains(key)` was asked: the key is optional on input, whatever is decoded after.
    func check(_ key: String) {
        checked.insert(key)
    }

    func decoded(_ key: String, _ schema: OpenAPISchema, required: Bool) {
        let required = required && !checked.contains(key)
        update(key, schema) { $0.decodedRequired = $0.decodedRequired || required }
    }

    func encoded(_ key: String, _ schema: OpenAPISchema, always: Bool, nullable: Bool) {
        update(key, schema) { property in
            property.encodedAlways = property.encodedAlways || always
            property.nullable = property.nullable || nullable
        }
    }

    func markNullable(_ key: String) {
        update(key, .anyValue) { $0.nullable = true }
    }

    private func update(_ key: String, _ schema: OpenAPISchema, _ change: (inout Property) -> Void) {
        if properties[key] == nil {
            order.append(key)
            properties[key] = Property(schema: schema)
        }
        change(&properties[key]!)
    }

    /// The object schema: required are the keys a decoder demands or an encoder always writes.
    func schema(
        description: String, refinements: [String: [SchemaRefinement]], named name: String, recorder: SchemaRecorder
    ) -> OpenAPISchema {
        var schemas: [String: OpenAPISchema] = [:]
        for (key, property) in properties {
            var schema = property.schema
            let stated = refinements[key] ?? []
            for refinement in stated where refinement != .nullable {
                schema = refinement.apply(to: schema)
            }
            if property.nullable || stated.contains(.nullable) { schema = schema.nullable }
            schemas[key] = schema
        }
        for key in refinements.keys.sorted() where properties[key] == nil {
            recorder.problem("\(name): a refinement names '\(key)', which it neither decodes nor encodes")
        }
        let required = order.filter { properties[$0]!.decodedRequired || properties[$0]!.encodedAlways }
        return .object(properties: schemas, required: required, description: description)
    }
}

/// The attempts of a single-value type's `init(from:)`.
final class SingleValueRecord {
    /// While probing, every attempt is noted and fails; afterwards the first attempt gets a placeholder.
    var probing = true
    var alternatives: [OpenAPISchema] = []
}

/// Why a placeholder could not be decoded or encoded.
struct SchemaDerivationError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
