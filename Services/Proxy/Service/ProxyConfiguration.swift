import ServiceRuntime

/// Every setting of the proxy, with its default and environment variable, in one place.
public struct ProxyConfiguration: Sendable {
    public static let specs: [SettingSpec] = CommonSettings.specs(port: 3000)

    public var server: ServerSettings

    public init(_ settings: ResolvedSettings) throws {
        self.server = try ServerSettings(settings)
    }

    /// Defaults with overrides, for tests.
    public static func defaults(_ overrides: [String: String] = [:]) throws -> ProxyConfiguration {
        try ProxyConfiguration(ResolvedSettings.defaults(specs, overriding: overrides))
    }
}
