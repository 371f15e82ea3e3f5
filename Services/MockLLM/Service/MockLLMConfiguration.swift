import ServiceRuntime

/// Every setting of the mock-llm, with its default and environment variable, in one place.
public struct MockLLMConfiguration: Sendable {
    public static let specs: [SettingSpec] = CommonSettings.specs(port: 8080)

    public var server: ServerSettings

    public init(_ settings: ResolvedSettings) throws {
        self.server = try ServerSettings(settings)
    }

    /// Defaults with overrides, for tests.
    public static func defaults(_ overrides: [String: String] = [:]) throws -> MockLLMConfiguration {
        try MockLLMConfiguration(ResolvedSettings.defaults(specs, overriding: overrides))
    }
}
