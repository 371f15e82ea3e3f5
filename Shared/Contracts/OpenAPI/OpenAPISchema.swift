import Foundation

/// One JSON Schema as an OpenAPI 3.1 document writes it: its keywords, encoded as a JSON object.
public struct OpenAPISchema: Sendable, Equatable, Encodable {
    /// The schema's keywords (`type`, `properties`, `$ref`, ...), as JSON.
    public private(set) var keywords: [String: JSONValue]

    public init(_ keywords: [String: JSONValue]) {
        self.keywords = keywords
    }

    public func encode(to encoder: any Encoder) throws {
        try JSONValue.object(keywords).encode(to: encoder)
    }

    /// The schema as a JSON value.
    public var json: JSONValue { .object(keywords) }

    public static let string = OpenAPISchema(["type": .string("string")])
    public static let integer = OpenAPISchema(["type": .string("integer")])
    public static let number = OpenAPISchema(["type": .string("number")])
    public static let boolean = OpenAPISchema(["type": .string("boolean")])
    public static let null = OpenAPISchema(["type": .string("null")])
    /// Any JSON object.
    public static let object = OpenAPISchema(["type": .string("object")])
    /// Any JSON value at all (free-form JSON).
    public static let anyValue = OpenAPISchema([:])

    /// A reference to the named schema under `components/schemas`.
    public static func reference(_ name: String) -> OpenAPISchema {
        OpenAPISchema(["$ref": .string(referencePrefix + name)])
    }

    static let referencePrefix = "#/components/schemas/"

    /// The name a `reference` points at, when this schema is one.
    public var referencedName: String? {
        guard case .string(let target)? = keywords["$ref"], target.hasPrefix(Self.referencePrefix) else { return nil }
        return String(target.dropFirst(Self.referencePrefix.count))
    }

    /// A JSON array of `items`.
    public static func array(of items: OpenAPISchema) -> OpenAPISchema {
        OpenAPISchema(["type": .string("array"), "items": items.json])
    }

    /// A JSON object whose keys are free and whose values are `values`.
    public static func map(of values: OpenAPISchema) -> OpenAPISchema {
        OpenAPISchema(["type": .string("object"), "additionalProperties": values.json])
    }

    /// A value matching at least one of `alternatives`; one alternative is that alternative itself.
    public static func anyOf(_ alternatives: [OpenAPISchema]) -> OpenAPISchema {
        if alternatives.count == 1 { return alternatives[0] }
        return OpenAPISchema(["anyOf": .array(alternatives.map(\.json))])
    }

    /// One of the strings `values`.
    public static func enumeration(_ values: [String], description: String? = nil) -> OpenAPISchema {
        var keywords: [String: JSONValue] = ["type": .string("string"), "enum": .array(values.map(JSONValue.string))]
        if let description { keywords["description"] = .string(description) }
        return OpenAPISchema(keywords)
    }

    /// A JSON object with these properties, of which `required` must be present.
    public static func object(
        properties: [String: OpenAPISchema], required: [String], description: String
    ) -> OpenAPISchema {
        var keywords: [String: JSONValue] = [
            "type": .string("object"), "description": .string(description),
            "properties": .object(properties.mapValues(\.json)),
        ]
        if !required.isEmpty { keywords["required"] = .array(required.map(JSONValue.string)) }
        return OpenAPISchema(keywords)
    }

    /// This schema, or JSON null.
    public var nullable: OpenAPISchema {
        if case .array(let alternatives)? = keywords["anyOf"] {
            if alternatives.contains(Self.null.json) { return self }
            return OpenAPISchema(["anyOf": .array(alternatives + [Self.null.json])])
        }
        return .anyOf([self, .null])
    }

    /// This schema with `refinements` applied.
    public func refined(_ refinements: SchemaRefinement...) -> OpenAPISchema {
        refinements.reduce(self) { $1.apply(to: $0) }
    }

    /// This schema with `keyword` set to `value`.
    public func with(_ keyword: String, _ value: JSONValue) -> OpenAPISchema {
        var copy = self
        copy.keywords[keyword] = value
        return copy
    }
}

/// A constraint a wire type states about one of its properties that its `Codable` conformance cannot show.
public enum SchemaRefinement: Sendable, Equatable {
    /// The smallest number allowed.
    case minimum(Double)
    /// The largest number allowed.
    case maximum(Double)
    /// Numbers must be greater than this.
    case exclusiveMinimum(Double)
    /// The fewest array items allowed.
    case minItems(Int)
    /// The most array items the value holds.
    case maxItems(Int)
    /// The value may be JSON null (OpenAI sends null there, though maitre's own encoders leave the key out).
    case nullable

    func apply(to schema: OpenAPISchema) -> OpenAPISchema {
        switch self {
        case .minimum(let bound): return schema.with("minimum", .number(bound))
        case .maximum(let bound): return schema.with("maximum", .number(bound))
        case .exclusiveMinimum(let bound): return schema.with("exclusiveMinimum", .number(bound))
        case .minItems(let count): return schema.with("minItems", .number(Double(count)))
        case .maxItems(let count): return schema.with("maxItems", .number(Double(count)))
        case .nullable: return schema.nullable
        }
    }
}

/// A wire type that is a named schema of the OpenAPI documents (`#/components/schemas/<name>`). Its properties,
/// their JSON types and which are required come from its `Codable` conformance (`SchemaDerivation`); the type adds
/// only what that cannot show.
public protocol OpenAPIComponent: Decodable {
    /// The schema's name; the type's name unless a nested type needs a longer one.
    static var schemaName: String { get }
    /// One sentence for the document's reader.
    static var schemaDescription: String { get }
    /// Constraints on properties, by JSON key.
    static var schemaRefinements: [String: [SchemaRefinement]] { get }
}

extension OpenAPIComponent {
    public static var schemaName: String { String(describing: Self.self) }
    public static var schemaRefinements: [String: [SchemaRefinement]] { [:] }
}

/// A string enumeration that is a named schema: its values are its cases' raw values, in declaration order.
public protocol OpenAPIEnumeration: OpenAPIComponent, CaseIterable, RawRepresentable where RawValue == String {}
