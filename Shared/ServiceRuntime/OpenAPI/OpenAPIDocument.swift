import Contracts
import Foundation
import HTTPTypes

/// A service's OpenAPI 3.1 document: its operations (the standard ones every `ServiceRouter` serves included) with
/// the schemas derived from the Contracts types they name. Built once per process, it is the JSON served at
/// `GET /openapi.json`, printed by `--print-openapi` and committed under `deploy/openapi`.
public struct OpenAPIDocument: Sendable {
    public let operations: [OpenAPIOperation]
    /// What could not be derived or two operations disagree on; empty for a sound document (a test checks).
    public let problems: [String]
    /// The document as JSON: sorted keys, two-space indentation, a final newline, the same bytes on every build.
    public let json: String

    /// The document of a service whose settings are `settings` (the server listed is their default host and port).
    public init(title: String, description: String, settings: [SettingSpec], operations: [OpenAPIOperation]) {
        let operations = ServiceRouter.operations + operations
        var problems: [String] = []
        var paths: [String: [String: JSONValue]] = [:]
        var schemas: [String: OpenAPISchema] = [:]
        for operation in operations {
            let method = operation.method.rawValue.lowercased()
            if paths[operation.path]?[method] != nil {
                problems.append("\(operation.method) \(operation.path) is declared twice")
            }
            paths[operation.path, default: [:]][method] = operation.json
            for derived in operation.schemas {
                problems += derived.problems.map { "\(operation.id): \($0)" }
                for (name, schema) in derived.components {
                    if let existing = schemas[name], existing != schema {
                        problems.append("\(operation.id): two different schemas are named \(name)")
                    }
                    schemas[name] = schema
                }
            }
        }
        var components: [String: JSONValue] = ["schemas": .object(schemas.mapValues(\.json))]
        if operations.contains(where: \.bearerAuth) {
            components["securitySchemes"] = .object([
                "bearerAuth": .object(["type": .string("http"), "scheme": .string("bearer")])
            ])
        }
        let root = JSONValue.object([
            "openapi": .string("3.1.0"),
            "info": .object([
                "title": .string(title), "version": .string(ServiceIdentity.maitreVersion),
                "description": .string(description),
            ]),
            "servers": .array([.object(["url": .string("http://\(Self.defaultAddress(settings))")])]),
            "paths": .object(paths.mapValues(JSONValue.object)),
            "components": .object(components),
        ])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            json = String(decoding: try encoder.encode(root), as: UTF8.self) + "\n"
        } catch {
            problems.append("the document does not encode: \(error)")
            json = "{}\n"
        }
        self.operations = operations
        self.problems = problems
    }

    private static func defaultAddress(_ settings: [SettingSpec]) -> String {
        func value(_ key: String) -> String { settings.first { $0.key == key }?.defaultValue ?? "" }
        return "\(value("host")):\(value("port"))"
    }

    /// Method and path of every operation, as `RouteCatalog` names routes.
    public var routes: Set<RouteCatalog.Operation> {
        Set(operations.map { RouteCatalog.Operation(method: $0.method.rawValue, path: $0.path) })
    }
}
