/// One setting of a service: its key (also the `--flag` and the config-file key), environment variable,
/// default and a line of help. Each service lists all of its settings in one table.
public struct SettingSpec: Sendable, Equatable {
    public var key: String
    public var environment: String
    public var defaultValue: String
    public var help: String

    public init(_ key: String, env environment: String, default defaultValue: String, help: String) {
        self.key = key
        self.environment = environment
        self.defaultValue = defaultValue
        self.help = help
    }

    /// The command-line flag, `--key`.
    public var flag: String { "--\(key)" }
}

/// Settings shared by every service.
public enum CommonSettings {
    public static func specs(port: Int) -> [SettingSpec] {
        [
            SettingSpec("host", env: "HOST", default: "127.0.0.1", help: "Address to listen on."),
            SettingSpec("port", env: "PORT", default: String(port), help: "Port to listen on."),
            SettingSpec(
                "data-dir", env: "DATA_DIR", default: "./data", help: "Folder for SQLite files and other state."),
            SettingSpec(
                "log-level", env: "LOG_LEVEL", default: "info",
                help: "trace, debug, info, notice, warning, error or critical."),
            SettingSpec(
                "max-body-bytes", env: "MAX_BODY_BYTES", default: "4194304",
                help: "Largest request body accepted (413 beyond)."),
            SettingSpec(
                "max-json-depth", env: "MAX_JSON_DEPTH", default: "64",
                help: "Deepest JSON nesting accepted (400 beyond)."),
            SettingSpec(
                "config", env: "CONFIG_FILE", default: "",
                help: "YAML file of settings (keys as the flags, without --)."),
        ]
    }
}

/// Host, port and request limits every service reads from its settings.
public struct ServerSettings: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var dataDirectory: String
    public var logLevel: String
    public var maxBodyBytes: Int
    public var maxJSONDepth: Int

    public init(
        host: String = "127.0.0.1", port: Int, dataDirectory: String = "./data", logLevel: String = "info",
        maxBodyBytes: Int = 4 << 20, maxJSONDepth: Int = 64
    ) {
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.logLevel = logLevel
        self.maxBodyBytes = maxBodyBytes
        self.maxJSONDepth = maxJSONDepth
    }

    public init(_ settings: ResolvedSettings) throws {
        self.host = try settings.string("host")
        self.port = try settings.int("port", in: 0...65535)
        self.dataDirectory = try settings.string("data-dir")
        self.logLevel = try settings.choice(
            "log-level", of: ["trace", "debug", "info", "notice", "warning", "error", "critical"])
        self.maxBodyBytes = try settings.int("max-body-bytes", in: 1024...(1 << 30))
        self.maxJSONDepth = try settings.int("max-json-depth", in: 2...10_000)
    }
}
