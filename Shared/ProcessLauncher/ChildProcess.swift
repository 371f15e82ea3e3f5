import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// How a child process ended.
public enum ExitStatus: Sendable, Equatable {
    /// It called exit with this code.
    case exited(Int32)
    /// A signal ended it.
    case signalled(Int32)

    /// The exit code, or 128 + the signal, as a shell reports it.
    public var code: Int32 {
        switch self {
        case .exited(let code): return code
        case .signalled(let signal): return 128 + signal
        }
    }
}

/// A failure to start a child process, said in one sentence.
public struct ChildProcessError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A child process started with `posix_spawn` and reaped with `waitpid`: the one way benchmarks and tests run other
/// programs. Its output goes to a file (or nowhere), never to a pipe someone must drain; stopping it is bounded —
/// SIGTERM, a grace period, then SIGKILL — and always reaps it, so no zombie is left behind.
public final class ChildProcess: Sendable {
    /// The process id, for signals and `/proc/<pid>/`.
    public let pid: pid_t
    private let reaped: Mutex<ExitStatus?>

    private init(pid: pid_t) {
        self.pid = pid
        self.reaped = Mutex(nil)
    }

    /// Starts `executable` (a path, or a name looked up in `PATH`) with `arguments` and exactly `environment`.
    /// Standard input is `input` (a file's path) or /dev/null; standard output is appended to `output` (a file's
    /// path) or discarded, standard error to `errors`, else to the same place. Every other descriptor is closed and
    /// every signal has its default action in the child.
    public static func spawn(
        _ executable: String, arguments: [String] = [],
        environment: [String: String] = ProcessInfo.processInfo.environment,
        workingDirectory: String? = nil, input: String? = nil, output: String? = nil, errors: String? = nil
    ) throws -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, input ?? "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        if let errors {
            posix_spawn_file_actions_addopen(&actions, 2, errors, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        _ = GlibcSpawnExtensions.closeFrom?(&actions, 3)
        if let workingDirectory {
            guard let changeDirectory = GlibcSpawnExtensions.changeDirectory else {
                throw ChildProcessError("posix_spawn cannot change the directory on this system")
            }
            _ = changeDirectory(&actions, workingDirectory)
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        // Dispositions the parent set to "ignore" (SIGPIPE, say) would survive exec; the child starts with defaults.
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result =
            executable.contains("/")
            ? posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
            : posix_spawnp(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw ChildProcessError("could not start \(executable): \(String(cString: strerror(result)))")
        }
        live.withLock { _ = $0.insert(pid) }
        return ChildProcess(pid: pid)
    }

    /// The processes `pid` started that still exist (the children of every one of its threads), from `/proc`; empty
    /// where `/proc` cannot tell.
    public static func children(of pid: pid_t) -> [pid_t] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.flatMap { task in
            (procText("/proc/\(pid)/task/\(task)/children") ?? "").split(whereSeparator: \.isWhitespace)
                .compactMap { pid_t($0) }
        }
    }

    /// A `/proc` file read to its end. `String(contentsOfFile:)` stops after the first page there (the file reports
    /// no size), and a busy machine's socket table is many pages long.
    static func procText(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.readToEnd() else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// Children started and not yet reaped.
    private static let live = Mutex<Set<pid_t>>([])
    private static let terminationSources = Mutex<[any DispatchSourceSignal]>([])

    /// Makes SIGINT, SIGTERM and SIGHUP stop every child this process started before it exits (SIGTERM, up to
    /// `grace`, then SIGKILL), so that killing a benchmark does not leave its services running. The exit code is
    /// 128 + the signal, as the signal's default action would give.
    public static func stopChildrenOnTermination(grace: Duration = .seconds(5)) {
        terminationSources.withLock { sources in
            guard sources.isEmpty else { return }
            for number in [SIGINT, SIGTERM, SIGHUP] {
                Glibc.signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler {
                    stopAll(grace: grace)
                    exit(128 + number)
                }
                source.resume()
                sources.append(source)
            }
        }
    }

    private static func stopAll(grace: Duration) {
        var running = live.withLock { Array($0) }
        for pid in running { _ = Glibc.kill(pid, SIGTERM) }
        let deadline = ContinuousClock.now + grace
        while !running.isEmpty, ContinuousClock.now < deadline {
            var raw: Int32 = 0
            running.removeAll { waitpid($0, &raw, WNOHANG) != 0 }
            if !running.isEmpty { usleep(20_000) }
        }
        for pid in running {
            _ = Glibc.kill(pid, SIGKILL)
            var raw: Int32 = 0
            _ = waitpid(pid, &raw, 0)
        }
    }

    /// Runs a command to its end (at most `timeout`, then it is stopped) and returns its exit status and what it
    /// printed: standard output and error together, or apart when `separateErrors`.
    public static func run(
        _ executable: String, arguments: [String] = [],
        environment: [String: String] = ProcessInfo.processInfo.environment,
        workingDirectory: String? = nil, input: Data? = nil, separateErrors: Bool = false,
        timeout: Duration = .seconds(600)
    ) throws -> Finished {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("maitre-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let inputPath = scratch.appendingPathComponent("in").path
        let outputPath = scratch.appendingPathComponent("out").path
        let errorsPath = scratch.appendingPathComponent("err").path
        _ = FileManager.default.createFile(atPath: inputPath, contents: input ?? Data())
        let child = try spawn(
            executable, arguments: arguments, environment: environment, workingDirectory: workingDirectory,
            input: inputPath,
            output: outputPath, errors: separateErrors ? errorsPath : nil)
        let status = child.wait(timeout: timeout) ?? child.stop()
        func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        return Finished(exit: status, output: read(outputPath), errors: separateErrors ? read(errorsPath) : "")
    }

    /// How a command run to its end ended, and what it printed.
    public struct Finished: Sendable {
        public var exit: ExitStatus
        /// The exit code, or 128 + the signal that ended it.
        public var status: Int32 { exit.code }
        /// Standard output (and error, unless kept apart).
        public var output: String
        /// Standard error when kept apart, else empty.
        public var errors: String
    }

    /// How it ended, once it has (reaping it if it just did); nil while it runs.
    public var exitStatus: ExitStatus? {
        reaped.withLock { reaped in
            if let reaped { return reaped }
            var raw: Int32 = 0
            guard waitpid(pid, &raw, WNOHANG) == pid else { return nil }
            reaped = Self.status(raw)
            Self.live.withLock { _ = $0.remove(pid) }
            return reaped
        }
    }

    public var isRunning: Bool { exitStatus == nil }

    /// Sends `signal` unless it has already been reaped (its pid may then belong to another process).
    public func signal(_ signal: Int32) {
        reaped.withLock { reaped in
            if reaped == nil { _ = Glibc.kill(pid, signal) }
        }
    }

    /// Waits up to `timeout` for it to end; nil if it still runs.
    @discardableResult
    public func wait(timeout: Duration) -> ExitStatus? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = exitStatus { return status }
            if ContinuousClock.now >= deadline { return nil }
            usleep(10_000)
        }
    }

    /// As `wait(timeout:)`, without holding a thread.
    @discardableResult
    public func waitAsync(timeout: Duration) async -> ExitStatus? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = exitStatus { return status }
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// SIGTERM, up to `grace` to exit, then SIGKILL; returns once it is reaped.
    @discardableResult
    public func stop(grace: Duration = .seconds(5)) -> ExitStatus {
        if let status = exitStatus { return status }
        signal(SIGTERM)
        if let status = wait(timeout: grace) { return status }
        return kill()
    }

    /// SIGKILL (a crash: no chance to flush anything); returns once it is reaped.
    @discardableResult
    public func kill() -> ExitStatus {
        signal(SIGKILL)
        return reaped.withLock { reaped in
            if let reaped { return reaped }
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) == -1 && errno == EINTR {}
            reaped = Self.status(raw)
            Self.live.withLock { _ = $0.remove(pid) }
            return Self.status(raw)
        }
    }

    private static func status(_ raw: Int32) -> ExitStatus {
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import as functions.
        let signal = raw & 0x7F
        return signal == 0 ? .exited((raw >> 8) & 0xFF) : .signalled(signal)
    }

    deinit {
        if reaped.withLock({ $0 }) == nil { kill() }
    }
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np` and `_addchdir_np` (2.34, 2.29), which Swift's Glibc module
/// does not import: looked up once by name.
private enum GlibcSpawnExtensions {
    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    typealias ChangeDirectory =
        @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    static let closeFrom: CloseFrom? = symbol("posix_spawn_file_actions_addclosefrom_np")
    static let changeDirectory: ChangeDirectory? = symbol("posix_spawn_file_actions_addchdir_np")

    private static func symbol<Function>(_ name: String) -> Function? {
        guard let handle = dlopen(nil, RTLD_NOW), let address = dlsym(handle, name) else { return nil }
        return unsafeBitCast(address, to: Function.self)
    }
}
