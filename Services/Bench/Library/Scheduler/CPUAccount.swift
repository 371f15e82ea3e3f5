import Foundation

/// Where the machine's cores went during a measurement, from `/proc`: the scheduler replicas, PostgreSQL's server
/// processes, wrk, this process (the instant predictor and the swift client) and everything else (another build on a
/// shared machine, say). On two cores these share one budget, so the shares say what bounds a throughput figure.
struct CPUAccount: Equatable {
    /// Cores used on average over the interval, by group.
    var schedulers = 0.0
    var postgres = 0.0
    var wrk = 0.0
    var bench = 0.0
    var other = 0.0
    /// Cores busy in total, and the machine's cores.
    var busy = 0.0
    var cores = ProcessInfo.processInfo.activeProcessorCount

    /// One reading: every process's CPU seconds so far (by pid, with its command name), what this process's children
    /// that have ended used (wrk's runs end before the reading after them), and the machine's busy seconds.
    struct Reading {
        var processes: [Int32: (command: String, seconds: Double)]
        var endedChildrenSeconds = 0.0
        var busySeconds: Double
        var at: ContinuousClock.Instant
    }

    static func read() -> Reading {
        let tick = Double(sysconf(Int32(_SC_CLK_TCK)))
        var processes: [Int32: (command: String, seconds: Double)] = [:]
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = Int32(entry),
                let line = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let (command, ticks) = processTicks(line)
            else { continue }
            processes[pid] = (command, Double(ticks) / tick)
        }
        let total = (try? String(contentsOfFile: "/proc/stat", encoding: .utf8)).flatMap(busyTicks) ?? 0
        let children = (try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8)).flatMap(endedChildrenTicks)
        return Reading(
            processes: processes, endedChildrenSeconds: Double(children ?? 0) / tick,
            busySeconds: Double(total) / tick, at: .now)
    }

    /// The command name and user + system ticks of a `/proc/<pid>/stat` line (the name may hold spaces and
    /// parentheses: it runs from the first "(" to the last ")").
    static func processTicks(_ line: String) -> (String, Int)? {
        guard let open = line.firstIndex(of: "("), let close = line.lastIndex(of: ")") else { return nil }
        let fields = line[line.index(after: close)...].split(separator: " ")
        // After the name: state is field 0, utime 11, stime 12.
        guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
        return (String(line[line.index(after: open)..<close]), user + system)
    }

    /// User + system ticks of the ended, waited-for children of a `/proc/<pid>/stat` line (cutime and cstime).
    static func endedChildrenTicks(_ line: String) -> Int? {
        guard let close = line.lastIndex(of: ")") else { return nil }
        let fields = line[line.index(after: close)...].split(separator: " ")
        guard fields.count > 14, let user = Int(fields[13]), let system = Int(fields[14]) else { return nil }
        return user + system
    }

    /// Busy ticks of the machine from `/proc/stat`'s first line: everything but idle and iowait.
    static func busyTicks(_ text: String) -> Int? {
        guard let first = text.split(separator: "\n").first, first.hasPrefix("cpu ") else { return nil }
        let values = first.split(separator: " ").dropFirst().compactMap { Int($0) }
        guard values.count > 4 else { return nil }
        return values.reduce(0, +) - values[3] - values[4]
    }

    /// The account between two readings; `schedulers` are the replicas' pids. The children of this process that
    /// ended in between are counted as wrk: the replicas end after the second reading, and wrk is the only other
    /// child.
    init(from start: Reading, to end: Reading, schedulers: Set<Int32>) {
        let seconds = max((end.at - start.at).seconds, 1e-9)
        let me = getpid()
        wrk = (end.endedChildrenSeconds - start.endedChildrenSeconds) / seconds
        for (pid, process) in end.processes {
            // A process that started during the interval counts from zero.
            let used = (process.seconds - (start.processes[pid]?.seconds ?? 0)) / seconds
            if schedulers.contains(pid) {
                self.schedulers += used
            } else if pid == me {
                bench += used
            } else if process.command == "postgres" {
                postgres += used
            } else if process.command == "wrk" {
                wrk += used
            }
        }
        busy = (end.busySeconds - start.busySeconds) / seconds
        // Everything else, processes that ended during the interval included (the machine's total still has them).
        other = max(0, busy - self.schedulers - postgres - wrk - bench)
    }

    init() {}

    /// The mean of several runs' accounts.
    static func mean(_ accounts: [CPUAccount]) -> CPUAccount {
        var mean = CPUAccount()
        guard !accounts.isEmpty else { return mean }
        let count = Double(accounts.count)
        for account in accounts {
            mean.schedulers += account.schedulers / count
            mean.postgres += account.postgres / count
            mean.wrk += account.wrk / count
            mean.bench += account.bench / count
            mean.other += account.other / count
            mean.busy += account.busy / count
        }
        return mean
    }

    /// `schedulers 1.10, postgres 0.42, wrk 0.18, bench 0.05, other 0.21; busy 1.96 of 2 cores`.
    var summary: String {
        String(
            format: "schedulers %.2f, postgres %.2f, wrk %.2f, bench %.2f, other %.2f; busy %.2f of %d cores",
            schedulers, postgres, wrk, bench, other, busy, cores)
    }
}
