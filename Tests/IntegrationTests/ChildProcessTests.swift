import Foundation
import ProcessLauncher
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The one launcher of child processes: arguments and environment pass through, output lands in its file, and
/// stopping is bounded and always reaps the child.
@Suite struct ChildProcessTests {
    @Test func runPassesArgumentsEnvironmentAndInputAndReportsTheExitCode() throws {
        let result = try ChildProcess.run(
            "/bin/sh",
            arguments: ["-c", "read line; echo \"$1 $MAITRE_PROBE $line\"; echo oops >&2; exit 3", "sh", "first"],
            environment: ["MAITRE_PROBE": "probe", "PATH": "/usr/bin:/bin"], input: Data("typed\n".utf8),
            separateErrors: true)
        #expect(result.exit == .exited(3))
        #expect(result.output == "first probe typed\n")
        #expect(result.errors == "oops\n")
    }

    @Test func stopEscalatesToSIGKILLWhenSIGTERMIsIgnoredAndReapsTheChild() throws {
        let child = try ChildProcess.spawn(
            "/bin/sh", arguments: ["-c", "trap '' TERM; while true; do sleep 0.1; done"])
        // Give the shell time to install its trap.
        Thread.sleep(forTimeInterval: 0.3)
        let start = ContinuousClock.now
        let status = child.stop(grace: .milliseconds(500))
        #expect(status == .signalled(SIGKILL))
        #expect(ContinuousClock.now - start < .seconds(5))
        #expect(!child.isRunning)
        // Reaped: the pid is no longer our child.
        var raw: Int32 = 0
        #expect(waitpid(child.pid, &raw, WNOHANG) == -1)
    }

    @Test func aChildThatExitsOnSIGTERMEndsWithinTheGrace() throws {
        let child = try ChildProcess.spawn("/bin/sleep", arguments: ["30"])
        #expect(child.isRunning)
        #expect(child.stop(grace: .seconds(5)) == .signalled(SIGTERM))
    }

    /// A port found free can be taken before the service binds it. The launcher must then not hand back whoever
    /// answers on that port as the service: here a Python file server holds the port, and the mock exits on its bind.
    @Test func aServiceWhosePortAnotherProgramHoldsIsNotMistakenForThatProgram() async throws {
        let port = try FreePort.allocate()
        let squatter = try ChildProcess.spawn(
            "python3", arguments: ["-m", "http.server", String(port), "--bind", "127.0.0.1"])
        defer { squatter.stop() }
        var answered = false
        for _ in 0..<100 where !answered {
            answered = (try? await TestHTTP.get("http://127.0.0.1:\(port)/", timeout: .seconds(2)))?.status == 200
            if !answered { try await Task.sleep(for: .milliseconds(100)) }
        }
        try #require(answered, "python3 -m http.server did not answer on port \(port)")
        await #expect(throws: (any Error).self) {
            let service = try await LaunchedService.start(
                "maitre-mock-llm", port: port, readyPath: "/", timeout: .seconds(30))
            service.stop()
        }
        #expect(squatter.isRunning)
    }
}
