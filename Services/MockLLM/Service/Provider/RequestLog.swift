import Contracts
import Foundation
import ServiceRuntime
import Synchronization

/// An append-only file of the requests received (fingerprint, arrival, tokens), one line each, written as each request
/// arrives: tests read it to check that no request reached the upstream twice, and how many arrived per minute.
final class RequestLog: Sendable {
    private let file: Mutex<FileHandle>

    init(path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw SettingError(key: "request-log", message: "cannot create file \(path)")
            }
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw SettingError(key: "request-log", message: "cannot open file \(path) for writing")
        }
        handle.seekToEndOfFile()
        file = Mutex(handle)
    }

    /// Appends `fingerprint<TAB>unix ms<TAB>prompt tokens<TAB>planned output tokens`.
    func record(_ fingerprint: PromptFingerprint, promptTokens: Int, outputTokens: Int) {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let line = Data("\(fingerprint)\t\(now)\t\(promptTokens)\t\(outputTokens)\n".utf8)
        file.withLock { $0.write(line) }
    }
}
