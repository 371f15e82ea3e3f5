import ArgumentParser

/// `maitre-bench`: benchmarks and the virtual-time simulator.
public struct BenchCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "maitre-bench",
        abstract: "Benchmarks and the virtual-time scheduling simulator of maitre.",
        subcommands: [
            EmbedBenchmark.self, SimulateBenchmark.self, ShareGPTBenchmark.self, PredictorBenchmark.self,
            ProxyBenchmark.self,
            SchedulerBenchmark.self, SoakBenchmark.self, RealModelBenchmark.self,
        ]
    )

    public init() {}
}
