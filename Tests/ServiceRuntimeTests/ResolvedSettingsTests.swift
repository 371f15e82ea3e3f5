import Foundation
import ServiceRuntime
import Testing

@Suite struct ResolvedSettingsTests {
    let specs =
        CommonSettings.specs(port: 8000) + [SettingSpec("top-k", env: "TOP_K_NEIGHBORS", default: "5", help: "k")]

    @Test func precedenceIsDefaultsFileEnvironmentFlags() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(
            "maitre-settings-\(UUID().uuidString).yaml")
        try "port: 9001\ntop_k: 7\nhost: 0.0.0.0\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let settings = try ResolvedSettings(
            specs: specs,
            arguments: ["--config", file.path, "--port=9003"],
            environment: ["TOP_K_NEIGHBORS": "9", "PORT": "9002"]
        )
        #expect(try settings.int("port") == 9003)
        #expect(try settings.int("top-k") == 9)
        #expect(try settings.string("host") == "0.0.0.0")
        #expect(try settings.string("data-dir") == "./data")
        #expect(settings.origins["host"] == "file")
    }

    @Test func badValuesNameTheSetting() throws {
        let settings = try ResolvedSettings(specs: specs, arguments: [], environment: ["PORT": "eighty"])
        #expect(throws: SettingError(key: "port", message: "'eighty' is not a whole number")) {
            try settings.int("port")
        }
        #expect(throws: SettingError.self) {
            try ResolvedSettings(specs: specs, arguments: ["--nope", "1"], environment: [:])
        }
        #expect(throws: SettingError.self) {
            try ResolvedSettings(specs: specs, arguments: ["--port"], environment: [:])
        }
        let outOfRange = try ResolvedSettings.defaults(specs, overriding: ["port": "70000"])
        #expect(throws: SettingError.self) { try ServerSettings(outOfRange) }
    }

    @Test func helpListsEveryEnvironmentVariable() {
        let help = ResolvedSettings.helpText(service: "x", specs: specs)
        for spec in specs {
            #expect(help.contains(spec.environment))
            #expect(help.contains(spec.flag))
        }
    }
}
