import Contracts
import Foundation
import ServiceRuntime
import Synchronization

/// An append-only file of the prompt fingerprints of the requests received, one line each, written as each request
/// arrives: tests read it to check that no request reached the upstream twice.
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

    func record(_ fingerprint: PromptFingerprint) {
        let line = Data("\(fingerprint)\n".utf8)
        file.withLock { $0.write(line) }
    }
}
