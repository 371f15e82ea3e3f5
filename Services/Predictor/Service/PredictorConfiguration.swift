import ServiceRuntime

/// Every setting of the predictor, with its default and environment variable, in one place.
public struct PredictorConfiguration: Sendable {
    public static let specs: [SettingSpec] = CommonSettings.specs(port: 8000)

    public var server: ServerSettings

    public init(_ settings: ResolvedSettings) throws {
        self.server = try ServerSettings(settings)
    }

    /// Defaults with overrides, for tests.
    public static func defaults(_ overrides: [String: String] = [:]) throws -> PredictorConfiguration {
        try PredictorConfiguration(ResolvedSettings.defaults(specs, overriding: overrides))
    }
}
