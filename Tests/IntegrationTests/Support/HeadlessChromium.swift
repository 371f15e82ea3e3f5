import Foundation
import ProcessLauncher

#if canImport(Glibc)
    import Glibc
#endif

/// Debian's `chromium` run headless: loads a page, lets it run for a budget of virtual time, and returns the DOM
/// it rendered and what the browser logged (console messages included).
struct HeadlessChromium {
    let executable: URL

    /// The installed browser, or nil when there is none (`apt-get install chromium`).
    static var installed: HeadlessChromium? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            for name in ["chromium", "chromium-browser"] {
                let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent(name)
                if FileManager.default.isExecutableFile(atPath: candidate.path) {
                    return HeadlessChromium(executable: candidate)
                }
            }
        }
        return nil
    }

    /// The page's DOM after `virtualTimeMs` of virtual time, and the browser's log.
    func dumpDOM(_ url: String, virtualTimeMs: Int = 8_000, timeout: Duration = .seconds(120)) async throws -> (
        dom: String, log: String
    ) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "maitre-chromium-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let domFile = directory.appendingPathComponent("dom.html")
        let logFile = directory.appendingPathComponent("browser.log")
        FileManager.default.createFile(atPath: domFile.path, contents: nil)
        FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let process = try ChildProcess.spawn(
            executable.path,
            arguments: [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--user-data-dir=\(directory.appendingPathComponent("profile").path)",
                "--enable-logging=stderr", "--v=0", "--virtual-time-budget=\(virtualTimeMs)", "--dump-dom", url,
            ],
            output: domFile.path, errors: logFile.path)
        guard let status = await process.waitAsync(timeout: timeout) else {
            process.kill()
            throw HarnessError(description: "chromium did not finish loading \(url) within \(timeout)")
        }
        let dom = (try? String(contentsOf: domFile, encoding: .utf8)) ?? ""
        let log = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
        guard status.code == 0 else {
            throw HarnessError(description: "chromium exited with status \(status.code):\n\(log)")
        }
        return (dom, log)
    }

    /// Console messages that report an error: uncaught exceptions, failed loads, `console.error`.
    static func consoleErrors(_ log: String) -> [String] {
        log.split(separator: "\n").map(String.init).filter { line in
            line.contains("Uncaught")
                || (line.contains("CONSOLE") && (line.contains("ERROR") || line.contains("Failed")))
                || line.contains("Refused to")
        }
    }
}

/// Reading figures out of a DOM dumped by the browser (attributes as the page wrote them).
struct RenderedPage {
    let dom: String

    /// `data-value` of the element with `id`.
    func value(_ id: String) -> String? {
        first(#"id="\#(id)"[^>]*?data-value="([^"]*)""#)
    }

    /// An attribute of the element with `id`.
    func attribute(_ name: String, of id: String) -> String? {
        first(#"id="\#(id)"[^>]*?\#(name)="([^"]*)""#)
    }

    /// The opening tags of the table rows carrying `attribute`, as attribute dictionaries, in page order.
    func rows(with attribute: String) -> [[String: String]] {
        let tags = matches(#"<tr ([^>]*\#(attribute)="[^>]*)>"#).map { $0[0] }
        return tags.map { tag in
            var attributes: [String: String] = [:]
            for pair in Self.matches(#"([a-z-]+)="([^"]*)""#, in: tag) { attributes[pair[0]] = Self.unescape(pair[1]) }
            return attributes
        }
    }

    private func first(_ pattern: String) -> String? {
        matches(pattern).first?.first.map(Self.unescape)
    }

    private func matches(_ pattern: String) -> [[String]] {
        Self.matches(pattern, in: dom)
    }

    static func matches(_ pattern: String, in text: String) -> [[String]] {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return [] }
        let range = NSRange(text.startIndex..., in: text)
        return regex.matches(in: text, range: range).map { match in
            (1..<match.numberOfRanges).map { index in
                Range(match.range(at: index), in: text).map { String(text[$0]) } ?? ""
            }
        }
    }

    static func unescape(_ text: String) -> String {
        text.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&lt;", with: "<")
            .replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
    }
}
