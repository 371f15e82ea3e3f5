import Foundation

/// A failure of the end-to-end benchmark, said in one sentence.
struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Log level of the services a benchmark starts: `MAITRE_BENCH_LOG_LEVEL`, else warning (their logs are for failures).
let benchServiceLogLevel = ProcessInfo.processInfo.environment["MAITRE_BENCH_LOG_LEVEL"] ?? "warning"
