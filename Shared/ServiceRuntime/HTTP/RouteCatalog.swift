import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers

/// The routes a service serves, so an unmatched request can be told apart as an unknown URL (404)
/// or a known URL with the wrong method (405 with `Allow`).
public final class RouteCatalog: Sendable {
    private let routes = NIOLockedValueBox<[(method: String, components: [Substring])]>([])

    public init() {}

    /// Receives the route table of every service router finished in the current task; the spec-drift tests set
    /// it around `buildApplication` to compare the routes with the OpenAPI document.
    @TaskLocal public static var observer: (@Sendable ([Operation]) -> Void)?

    /// One registered route: its method and path, parameters written `{name}` as OpenAPI writes them.
    public struct Operation: Hashable, Sendable, CustomStringConvertible {
        public var method: String
        public var path: String

        public init(method: String, path: String) {
            self.method = method
            self.path = path
        }

        public var description: String { "\(method) \(path)" }
    }

    /// Every recorded route.
    public var operations: [Operation] {
        routes.withLockedValue { routes in
            routes.map { route in
                let components = route.components.map { component -> String in
                    if component.hasPrefix(":") { return "{\(component.dropFirst())}" }
                    return String(component)
                }
                return Operation(method: route.method, path: "/" + components.joined(separator: "/"))
            }
        }
    }

    /// Records every route of `router`; call after all routes are added.
    public func record(from router: Router<ServiceRequestContext>) {
        let described = router.routes.map {
            (method: $0.method.rawValue, components: Self.components(of: $0.path.description))
        }
        routes.withLockedValue { $0 = described }
    }

    /// Methods allowed on `path`, sorted; empty when no route matches it.
    public func allowedMethods(for path: String) -> [String] {
        let target = Self.components(of: path)
        return routes.withLockedValue { routes in
            Array(Set(routes.filter { Self.matches($0.components, target) }.map { $0.method })).sorted()
        }
    }

    static func components(of path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: true)
    }

    static func matches(_ pattern: [Substring], _ path: [Substring]) -> Bool {
        var index = 0
        for component in pattern {
            if component == "**" { return true }
            guard index < path.count else { return false }
            let isParameter = component == "*" || component.hasPrefix(":") || component.hasPrefix("{")
            if !isParameter && component != path[index] { return false }
            index += 1
        }
        return index == path.count
    }
}
