import Foundation
import Testing

/// Every relative link in the repository's Markdown leads somewhere: the file exists and, where the link names a
/// section, the file has a heading with that anchor (GitHub's rule: lower case, punctuation dropped, spaces to
/// hyphens).
@Suite struct DocumentationLinkTests {
    @Test func relativeLinksAndTheirSectionsResolve() throws {
        let documents = try Self.markdownFiles()
        #expect(documents.contains("README.md"))
        let pattern = try NSRegularExpression(pattern: #"\]\(([^)\s]+)\)"#)
        var checked = 0
        for document in documents {
            let text = try RepositoryFiles.text(document)
            let folder = (document as NSString).deletingLastPathComponent
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                guard let range = Range(match.range(at: 1), in: text) else { continue }
                let link = String(text[range])
                if link.contains("://") || link.hasPrefix("mailto:") { continue }
                let parts = link.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
                let path = String(parts[0])
                let target =
                    path.isEmpty
                    ? document : ((folder as NSString).appendingPathComponent(path) as NSString).standardizingPath
                checked += 1
                guard RepositoryFiles.exists(target) else {
                    Issue.record("\(document): \(link) leads to a missing file")
                    continue
                }
                if parts.count == 2, target.hasSuffix(".md") {
                    let anchor = String(parts[1])
                    #expect(
                        try Self.anchors(of: target).contains(anchor),
                        "\(document): \(link) names no section of \(target)")
                }
            }
        }
        #expect(checked > 20)
    }

    /// Markdown files of the repository, relative to its root, outside build folders and hidden ones.
    static func markdownFiles() throws -> [String] {
        let root = RepositoryFiles.root.path
        guard let enumerator = FileManager.default.enumerator(atPath: root) else { return [] }
        var found: [String] = []
        while let path = enumerator.nextObject() as? String {
            let name = (path as NSString).lastPathComponent
            if name.hasPrefix(".") || name == "node_modules" {
                enumerator.skipDescendants()
                continue
            }
            if path.hasSuffix(".md") { found.append(path) }
        }
        return found.sorted()
    }

    /// The anchors GitHub gives a file's headings.
    static func anchors(of document: String) throws -> Set<String> {
        var anchors: Set<String> = []
        var fenced = false
        for line in try RepositoryFiles.text(document).split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") { fenced.toggle() }
            guard !fenced, line.hasPrefix("#") else { continue }
            let title = line.drop { $0 == "#" }.trimmingCharacters(in: .whitespaces).lowercased()
            let kept = title.unicodeScalars.compactMap { scalar -> Character? in
                if scalar == " " { return "-" }
                if scalar == "-" || scalar == "_" || CharacterSet.alphanumerics.contains(scalar) {
                    return Character(scalar)
                }
                return nil
            }
            anchors.insert(String(kept))
        }
        return anchors
    }
}
