import Foundation

/// Runs CPU-bound work that takes seconds (training a model) on a thread of its own, not on Swift concurrency's
/// cooperative pool. The pool has one thread per core: on a 2-core machine, 15 s of training on it leaves the
/// service's requests a single thread for that long, and two such jobs stop them altogether.
public enum DedicatedThread {
    /// `work`'s result, computed on a new thread (named `name`) while the caller is suspended.
    public static func run<T: Sendable>(name: String, _ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(returning: work())
            }
            thread.name = name
            thread.stackSize = 8 << 20
            thread.start()
        }
    }
}
