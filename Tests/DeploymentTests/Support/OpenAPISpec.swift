import Contracts
import Foundation
import NIOConcurrencyHelpers
import ServiceRuntime

/// One service's committed OpenAPI document, read as JSON, with the comparisons the contract tests make.
struct OpenAPISpec {
    let service: String
    let text: String
    let root: [String: JSONValue]

    init(service: String) throws {
        self.service = service
        text = try RepositoryFiles.text("deploy/openapi/\(service).json")
        guard case .object(let root) = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else {
            throw SpecError("deploy/openapi/\(service).json is not a JSON object")
        }
        self.root = root
    }

    struct SpecError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static let httpMethods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    /// Every operation of `paths`, as `RouteCatalog` names routes.
    var operations: Set<RouteCatalog.Operation> {
        guard case .object(let paths)? = root["paths"] else { return [] }
        var result = Set<RouteCatalog.Operation>()
        for (path, item) in paths {
            guard case .object(let methods) = item else { continue }
            for method in methods.keys where Self.httpMethods.contains(method) {
                result.insert(.init(method: method.uppercased(), path: path))
            }
        }
        return result
    }

    var schemaNames: Set<String> {
        guard case .object(let components)? = root["components"], case .object(let schemas)? = components["schemas"]
        else { return [] }
        return Set(schemas.keys)
    }

    func schema(named name: String) -> JSONValue? {
        guard case .object(let components)? = root["components"], case .object(let schemas)? = components["schemas"]
        else { return nil }
        return schemas[name]
    }

    /// Where the JSON `value` encodes to and schema `name` disagree: keys the value has and the schema lacks,
    /// properties the schema has and the value does not produce, values of the wrong JSON type or outside an enum.
    /// Walks nested objects and arrays along `$ref`, `items`, `additionalProperties` and `anyOf`.
    func mismatches(of value: some Encodable, against name: String) throws -> [String] {
        let data = try JSONEncoder().encode(value)
        let json = try JSONDecoder().decode(JSONValue.self, from: data)
        var problems: [String] = []
        compare(json, .object(["$ref": .string("#/components/schemas/\(name)")]), at: name, into: &problems)
        return problems
    }

    private func resolve(_ schema: JSONValue) -> [String: JSONValue] {
        guard case .object(let fields) = schema else { return [:] }
        if case .string(let target)? = fields["$ref"] {
            let name = String(target.split(separator: "/").last ?? "")
            return resolve(self.schema(named: name) ?? .object(["unresolved": .string(target)]))
        }
        return fields
    }

    private static func typeName(of value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool: return "boolean"
        case .number(let number): return number.rounded() == number ? "integer" : "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    private static func accepts(_ declared: String, _ actual: String) -> Bool {
        declared == actual || (declared == "number" && actual == "integer")
    }

    private func compare(_ value: JSONValue, _ schemaNode: JSONValue, at path: String, into problems: inout [String]) {
        let schema = resolve(schemaNode)
        if case .string(let target)? = schema["unresolved"] {
            problems.append("\(path): $ref \(target) does not resolve")
            return
        }
        if case .array(let alternatives)? = schema["anyOf"] {
            let actual = Self.typeName(of: value)
            let match = alternatives.first { alternative in
                guard case .string(let type)? = resolve(alternative)["type"] else { return false }
                return Self.accepts(type, actual)
            }
            guard let match else {
                problems.append("\(path): a \(actual) matches none of the anyOf alternatives")
                return
            }
            compare(value, match, at: path, into: &problems)
            return
        }
        if case .string(let type)? = schema["type"], !Self.accepts(type, Self.typeName(of: value)) {
            problems.append("\(path): schema says \(type), the value is a \(Self.typeName(of: value))")
            return
        }
        if case .array(let allowed)? = schema["enum"], !allowed.contains(value) {
            problems.append("\(path): \(value) is not in the schema's enum")
        }
        switch value {
        case .object(let fields):
            if case .object(let properties)? = schema["properties"] {
                for key in Set(fields.keys).subtracting(properties.keys).sorted() {
                    problems.append("\(path): encodes key '\(key)' that the schema does not list")
                }
                for key in Set(properties.keys).subtracting(fields.keys).sorted() {
                    problems.append("\(path): schema lists '\(key)' that the value does not encode")
                }
                for (key, field) in fields {
                    if let property = properties[key] {
                        compare(field, property, at: "\(path).\(key)", into: &problems)
                    }
                }
            } else if let values = schema["additionalProperties"], case .object = values {
                for (key, field) in fields { compare(field, values, at: "\(path).\(key)", into: &problems) }
            }
            if case .array(let required)? = schema["required"] {
                for case .string(let key) in required where fields[key] == nil {
                    problems.append("\(path): required '\(key)' is missing")
                }
            }
        case .array(let items):
            if let itemSchema = schema["items"] {
                for (index, item) in items.enumerated() {
                    compare(item, itemSchema, at: "\(path)[\(index)]", into: &problems)
                }
            }
        default:
            break
        }
    }
}

/// Collects the route tables the services' routers report while an application is built.
final class RouteRecorder: Sendable {
    private let recorded = NIOLockedValueBox<[RouteCatalog.Operation]>([])

    var operations: Set<RouteCatalog.Operation> { Set(recorded.withLockedValue { $0 }) }

    /// Runs `build` with this recorder observing every router finished inside it.
    func recording<T>(_ build: () async throws -> T) async rethrows -> T {
        try await RouteCatalog.$observer.withValue({ [recorded] operations in
            recorded.withLockedValue { $0.append(contentsOf: operations) }
        }) {
            try await build()
        }
    }
}
