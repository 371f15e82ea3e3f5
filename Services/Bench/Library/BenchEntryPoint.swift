import ArgumentParser

/// The executable's entry point. Called from an async function, `main()` resolves to `AsyncParsableCommand`'s
/// overload; from top-level code in `main.swift` it resolved to the synchronous one, which refuses async subcommands.
public enum BenchEntryPoint {
    public static func run() async {
        await BenchCommand.main()
    }
}
