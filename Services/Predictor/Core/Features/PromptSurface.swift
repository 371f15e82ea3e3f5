import Foundation

/// Cheap facts about a prompt's text that hint at the length of its answer: questions, lists, code, the verb it
/// opens with, an asked-for length, and its script. Stored with each history row (the text itself is not).
public struct PromptSurface: Sendable, Equatable {
    /// Feature names, in the order of `values`.
    public static let names = [
        "question_marks", "ends_with_question", "list_lines", "has_code", "line_count_log", "word_count_log",
        "verb_write", "verb_explain", "verb_translate", "verb_list", "verb_summarize", "verb_fix",
        "question_word", "requested_length_log", "brevity_cue", "detail_cue", "non_ascii_share", "cjk_share",
    ]
    public static let count = names.count

    public var values: [Float]

    public init(values: [Float]) {
        precondition(values.count == Self.count, "expected \(Self.count) surface values")
        self.values = values
    }

    static let verbGroups: [[String]] = [
        ["write", "create", "generate", "compose", "draft", "make", "design", "develop", "build", "rewrite"],
        ["explain", "describe", "discuss", "elaborate", "tell", "compare", "analyze", "analyse"],
        ["translate", "paraphrase", "rephrase", "correct", "proofread"],
        ["list", "give", "suggest", "provide", "outline", "brainstorm", "name"],
        ["summarize", "summarise", "tl;dr", "shorten", "condense"],
        ["fix", "debug", "refactor", "optimize", "convert", "implement", "code"],
    ]
    static let questionWords: Set<String> = [
        "what", "how", "why", "who", "when", "where", "which", "is", "are", "can", "could", "does", "do", "should",
    ]
    static let brevityCues = [
        "briefly", "in one sentence", "one word", "yes or no", "short answer", "in short", "concise", "just answer",
        "only answer", "reply with", "respond with", "answer with", "only the",
    ]
    static let detailCues = [
        "detailed", "in detail", "step by step", "step-by-step", "comprehensive", "essay", "article", "blog",
        "story", "full code", "complete code", "examples", "outline", "plan", "table",
    ]

    /// Surface features of `text` (the user's words).
    public static func of(_ text: String) -> PromptSurface {
        let lower = text.lowercased()
        let lines = lower.split(separator: "\n", omittingEmptySubsequences: true)
        let words = lower.split { !$0.isLetter && !$0.isNumber && $0 != ";" }
        let questionMarks = lower.reduce(0) { $0 + ($1 == "?" || $1 == "？" ? 1 : 0) }
        let trimmed = lower.trimmingCharacters(in: .whitespacesAndNewlines)
        let listLines = lines.filter { line in
            let t = line.drop { $0 == " " || $0 == "\t" }
            if t.hasPrefix("- ") || t.hasPrefix("* ") || t.hasPrefix("• ") { return true }
            let digits = t.prefix { $0.isNumber }
            return !digits.isEmpty && digits.count <= 3
                && (t.dropFirst(digits.count).first == "." || t.dropFirst(digits.count).first == ")")
        }.count
        let codeMarkers = [
            "```", "def ", "function ", "#include", "import ", "class ", "public ", "const ", "=>", "};", "</",
        ]
        let hasCode =
            codeMarkers.contains { lower.contains($0) }
            || lines.filter { $0.hasSuffix(";") || $0.hasSuffix("{") }.count >= 2
        let opening = words.prefix(4).map(String.init)
        var verbs = [Float](repeating: 0, count: verbGroups.count)
        for (index, group) in verbGroups.enumerated() {
            if opening.contains(where: { group.contains($0) }) {
                verbs[index] = 1
            } else if words.contains(where: { group.contains(String($0)) }) {
                verbs[index] = 0.5
            }
        }
        let questionWord: Float = words.first.map { questionWords.contains(String($0)) } == true ? 1 : 0
        let requested = requestedLength(words.map(String.init))
        var nonASCII = 0
        var cjk = 0
        var letters = 0
        for scalar in text.unicodeScalars.prefix(4000) where scalar.properties.isAlphabetic {
            letters += 1
            if !scalar.isASCII { nonASCII += 1 }
            if (0x3040...0x30FF).contains(scalar.value) || (0x4E00...0x9FFF).contains(scalar.value)
                || (0xAC00...0xD7AF).contains(scalar.value)
            {
                cjk += 1
            }
        }
        let letterCount = Float(max(letters, 1))
        var values: [Float] = [
            Float(min(questionMarks, 20)), trimmed.hasSuffix("?") ? 1 : 0, Float(min(listLines, 50)), hasCode ? 1 : 0,
            log1p(Float(lines.count)), log1p(Float(words.count)),
        ]
        values += verbs
        values += [
            questionWord, log1p(Float(requested)),
            brevityCues.contains { lower.contains($0) } ? 1 : 0,
            Float(detailCues.filter { lower.contains($0) }.count),
            Float(nonASCII) / letterCount, Float(cjk) / letterCount,
        ]
        return PromptSurface(values: values)
    }

    /// A length the prompt asks for ("in 500 words", "10 paragraphs"), in rough tokens; 0 when none.
    static func requestedLength(_ words: [String]) -> Int {
        let units: [String: Double] = [
            "words": 1.4, "word": 1.4, "paragraphs": 120, "paragraph": 120, "sentences": 25, "sentence": 25,
            "pages": 600, "page": 600, "lines": 12, "points": 30, "ideas": 30, "examples": 60, "questions": 30,
            "tips": 40, "steps": 40, "bullet": 25, "characters": 0.3, "chars": 0.3, "tweets": 60, "titles": 15,
        ]
        for index in words.indices.dropLast() {
            guard let number = Int(words[index]), number > 0, number <= 20_000 else { continue }
            let next = words[index + 1]
            let unit = units[next] ?? (index + 2 < words.count ? units[words[index + 2]] : nil)
            if let unit { return Int(Double(number) * unit) }
        }
        return 0
    }
}
