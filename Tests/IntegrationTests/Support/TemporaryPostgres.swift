import Foundation
import ProcessLauncher

#if canImport(Glibc)
    import Glibc
#endif

/// A throwaway PostgreSQL server on loopback: `initdb` into a temporary folder, `postgres` on a free port with its
/// socket in that folder, trust authentication for the user `maitre`. Stopped (fast shutdown) and its folder removed
/// by `stop()`. As root the server runs as the `postgres` system user (PostgreSQL refuses to run as root).
final class TemporaryPostgres: Sendable {
    let port: Int
    let folder: URL
    let bin: URL
    private let server: ChildProcess
    private let runAs: [String]

    static let user = "maitre"

    /// The folder holding `initdb` and `postgres` (Debian's newest `/usr/lib/postgresql/N/bin`, else the `PATH`),
    /// or nil when PostgreSQL is not installed.
    static var binaries: URL? {
        let debian = URL(fileURLWithPath: "/usr/lib/postgresql")
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: debian.path)) ?? [])
            .compactMap(Int.init).sorted(by: >)
        var candidates = versions.map { debian.appendingPathComponent("\($0)/bin") }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            candidates.append(URL(fileURLWithPath: String(directory)))
        }
        return candidates.first { directory in
            ["initdb", "postgres", "createdb"].allSatisfy {
                FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent($0).path)
            }
        }
    }

    /// Why tests that need a server are skipped, or nil when they can run.
    static var unavailableReason: String? {
        binaries == nil
            ? "PostgreSQL is not installed (initdb and postgres not found; scripts/test installs Debian's postgresql)"
            : nil
    }

    private init(port: Int, folder: URL, bin: URL, server: ChildProcess, runAs: [String]) {
        self.port = port
        self.folder = folder
        self.bin = bin
        self.server = server
        self.runAs = runAs
    }

    /// Why a started server was given up: it never answered a readiness probe.
    struct NotReady: Error, CustomStringConvertible {
        var description: String
    }

    /// Initialises a cluster and starts its server; returns once it accepts connections. Under the full suite's
    /// load a server has been seen to log that it was ready and then leave every probe unanswered for minutes; such
    /// a server is stopped and a new cluster started on another port, up to `attempts` times.
    static func start(attempts: Int = 3, timeout: Duration = .seconds(40)) async throws -> TemporaryPostgres {
        var failures: [String] = []
        for _ in 0..<attempts {
            do {
                return try await startOnce(timeout: timeout)
            } catch let error as NotReady {
                failures.append(error.description)
            }
        }
        throw HarnessError(description: failures.joined(separator: "\n\n"))
    }

    private static func startOnce(timeout: Duration) async throws -> TemporaryPostgres {
        guard let bin = binaries else { throw HarnessError(description: unavailableReason ?? "no PostgreSQL") }
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("maitre-postgres-\(UUID().uuidString.prefix(8))", isDirectory: true)
        let data = folder.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // PostgreSQL refuses root: as root, the cluster belongs to the `postgres` system user, which the folder is
        // handed to; `setpriv` execs (no extra process), so the server keeps the pid we stop it by.
        var runAs: [String] = []
        if getuid() == 0 {
            guard let account = getpwnam("postgres") else {
                throw HarnessError(description: "running as root and there is no 'postgres' user to run PostgreSQL as")
            }
            guard chown(folder.path, account.pointee.pw_uid, account.pointee.pw_gid) == 0 else {
                throw HarnessError(description: "cannot hand \(folder.path) to the postgres user")
            }
            runAs = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]
        }
        let initdb =
            runAs + [bin.appendingPathComponent("initdb").path] + [
                "-D", data.path, "-U", user, "--auth=trust", "--encoding=UTF8", "--no-sync", "--locale=C",
            ]
        let initialised = try ChildProcess.run(
            initdb[0], arguments: Array(initdb.dropFirst()), workingDirectory: folder.path, timeout: .seconds(120))
        guard initialised.status == 0 else {
            throw HarnessError(description: "initdb failed (\(initialised.status)):\n\(initialised.output)")
        }
        let port = try FreePort.allocate()
        let log = folder.appendingPathComponent("postgres.log")
        let command =
            runAs + [bin.appendingPathComponent("postgres").path] + [
                "-D", data.path, "-p", String(port), "-k", folder.path, "-c", "listen_addresses=127.0.0.1",
                // A test database: speed over crash safety of the server itself.
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                "-c", "max_connections=200",
            ]
        let server = try ChildProcess.spawn(
            command[0], arguments: Array(command.dropFirst()), workingDirectory: folder.path, output: log.path)
        let postgres = TemporaryPostgres(port: port, folder: folder, bin: bin, server: server, runAs: runAs)
        let deadline = ContinuousClock.now + timeout
        // What the last readiness probe said, for the error when the server never answers.
        var lastProbe = "no probe ran"
        while ContinuousClock.now < deadline {
            if let status = server.exitStatus {
                let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                postgres.removeFolder()
                throw HarnessError(description: "postgres exited (\(status)) before it was ready:\n\(text)")
            }
            do {
                let probe = try postgres.client("pg_isready", [])
                if probe.status == 0 { return postgres }
                lastProbe = "pg_isready exited \(probe.status): \(probe.output)"
            } catch {
                lastProbe = "pg_isready could not run: \(error)"
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let text = postgres.logs()
        postgres.stop()
        throw NotReady(
            description:
                "postgres did not accept connections within \(timeout) (last probe: \(lastProbe)); its log:\n\(text)")
    }

    /// Runs a client program of the installation against this server.
    private func client(_ program: String, _ arguments: [String]) throws -> ChildProcess.Finished {
        try ChildProcess.run(
            bin.appendingPathComponent(program).path,
            arguments: ["-h", "127.0.0.1", "-p", String(port)] + arguments, timeout: .seconds(60))
    }

    /// Creates an empty database and returns its `postgres://` URL.
    func createDatabase(_ name: String = "maitre_\(UUID().uuidString.prefix(8).lowercased())") throws -> String {
        let created = try client("createdb", ["-U", Self.user, name])
        guard created.status == 0 else {
            throw HarnessError(description: "createdb \(name) failed (\(created.status)): \(created.output)")
        }
        return "postgres://\(Self.user)@127.0.0.1:\(port)/\(name)?sslmode=disable"
    }

    /// Runs SQL with psql and returns its unaligned, tuples-only output.
    func query(_ sql: String, database: String) throws -> String {
        let name = URL(string: database)?.lastPathComponent ?? database
        let result = try client(
            "psql", ["-U", Self.user, "-d", name, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        guard result.status == 0 else {
            throw HarnessError(description: "psql failed (\(result.status)): \(result.output)")
        }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The server's log so far.
    func logs() -> String {
        (try? String(contentsOf: folder.appendingPathComponent("postgres.log"), encoding: .utf8)) ?? ""
    }

    /// Stops (`SIGSTOP`) or resumes (`SIGCONT`) the server and every backend it forked: a database that is there but
    /// answers nothing, as one behind a broken network.
    func freeze(_ frozen: Bool) {
        var pids = [server.pid]
        // The server may run under `setpriv`, which execs it in place: its pid is the postmaster's.
        pids += ChildProcess.children(of: server.pid)
        for pid in pids { kill(pid, frozen ? SIGSTOP : SIGCONT) }
    }

    /// Fast shutdown (SIGINT: clients disconnected, no waiting for them), SIGKILL past the grace period; the
    /// process is reaped and the folder removed.
    func stop(grace: Duration = .seconds(10)) {
        if server.isRunning {
            server.signal(SIGINT)
            if server.wait(timeout: grace) == nil { server.kill() }
        }
        removeFolder()
    }

    private func removeFolder() {
        try? FileManager.default.removeItem(at: folder)
    }
}
