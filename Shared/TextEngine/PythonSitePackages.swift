import Foundation

/// Finds data files that PyPI packages install (the cl100k rank file, the MiniLM model folder) without running Python:
/// the services read these files directly, so they look in the usual site-packages folders themselves.
public enum PythonSitePackages {
    /// Site-packages folders in search order: pyenv versions (newest first), /usr/local, then Debian's dist-packages.
    public static func directories(fileManager: FileManager = .default) -> [URL] {
        var found: [URL] = []
        let home = fileManager.homeDirectoryForCurrentUser
        let pyenvVersions = home.appendingPathComponent(".pyenv/versions")
        for version in sortedChildren(of: pyenvVersions, fileManager: fileManager) {
            for python in sortedChildren(of: version.appendingPathComponent("lib"), fileManager: fileManager)
            where python.lastPathComponent.hasPrefix("python3") {
                found.append(python.appendingPathComponent("site-packages"))
            }
        }
        for python in sortedChildren(of: URL(fileURLWithPath: "/usr/local/lib"), fileManager: fileManager)
        where python.lastPathComponent.hasPrefix("python3") {
            found.append(python.appendingPathComponent("site-packages"))
            found.append(python.appendingPathComponent("dist-packages"))
        }
        found.append(URL(fileURLWithPath: "/usr/lib/python3/dist-packages"))
        return found.filter { isDirectory($0, fileManager: fileManager) }
    }

    /// The first existing `<site-packages>/<relativePath>`, or nil.
    public static func locate(_ relativePath: String, fileManager: FileManager = .default) -> URL? {
        for directory in directories(fileManager: fileManager) {
            let candidate = directory.appendingPathComponent(relativePath)
            if fileManager.fileExists(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    /// An environment override if it names an existing path, else the site-packages search.
    public static func locate(environment key: String, relativePath: String, fileManager: FileManager = .default)
        -> URL?
    {
        if let value = ProcessInfo.processInfo.environment[key], !value.isEmpty {
            let url = URL(fileURLWithPath: value)
            if fileManager.fileExists(atPath: url.path) { return url }
        }
        return locate(relativePath, fileManager: fileManager)
    }

    private static func sortedChildren(of directory: URL, fileManager: FileManager) -> [URL] {
        let names = (try? fileManager.contentsOfDirectory(atPath: directory.path)) ?? []
        // Newest version first: "3.12.1" sorts after "3.11.7" numerically.
        return names.sorted { $0.compare($1, options: .numeric) == .orderedDescending }
            .map { directory.appendingPathComponent($0) }
    }

    private static func isDirectory(_ url: URL, fileManager: FileManager) -> Bool {
        var flag: ObjCBool = false
        return fileManager.fileExists(atPath: url.path, isDirectory: &flag) && flag.boolValue
    }
}
