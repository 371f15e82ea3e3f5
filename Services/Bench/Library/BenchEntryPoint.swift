import ArgumentParser
import ProcessLauncher

/// The executable's entry point. Called from an async function, `main()` resolves to `AsyncParsableCommand`'s
/// overload; from top-level code in `main.swift` it resolved to the synchronous one, which refuses async subcommands.
public enum BenchEntryPoint {
    public static func run() async {
        // A benchmark killed midway stops the services it started rather than leaving them running.
        ChildProcess.stopChildrenOnTermination()
        await BenchCommand.main()
    }
}
