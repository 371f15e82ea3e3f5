import ServiceRuntime

/// Every setting of the scheduler, with its default and environment variable, in one place.
public struct SchedulerConfiguration: Sendable {
    public static let specs: [SettingSpec] = CommonSettings.specs(port: 8010)

    public var server: ServerSettings

    public init(_ settings: ResolvedSettings) throws {
        self.server = try ServerSettings(settings)
    }

    /// Defaults with overrides, for tests.
    public static func defaults(_ overrides: [String: String] = [:]) throws -> SchedulerConfiguration {
        try SchedulerConfiguration(ResolvedSettings.defaults(specs, overriding: overrides))
    }
}
