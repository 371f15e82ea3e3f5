import Contracts
import Foundation

/// Turns Prometheus text exposition into the JSON `MetricsSnapshot` that plain `curl /metrics` gets.
public enum MetricsSnapshotBuilder {
    public typealias Snapshot = MetricsSnapshot

    public static func parse(_ text: String, service: String) -> MetricsSnapshot {
        var families: [String: MetricFamily] = [:]
        var types: [String: String] = [:]
        var helps: [String: String] = [:]
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.dropFirst(7).split(separator: " ", maxSplits: 1)
                if parts.count == 2 { types[String(parts[0])] = String(parts[1]) }
                continue
            }
            if line.hasPrefix("# HELP ") {
                let parts = line.dropFirst(7).split(separator: " ", maxSplits: 1)
                if parts.count == 2 { helps[String(parts[0])] = String(parts[1]) }
                continue
            }
            if line.hasPrefix("#") { continue }
            guard let sample = parseSample(line) else { continue }
            let family = familyName(of: sample.name, known: types)
            var entry =
                families[family] ?? MetricFamily(type: types[family] ?? "untyped", help: helps[family], samples: [])
            entry.samples.append(sample)
            families[family] = entry
        }
        return MetricsSnapshot(service: service, metrics: families)
    }

    static func familyName(of sample: String, known: [String: String]) -> String {
        if known[sample] != nil { return sample }
        for suffix in ["_bucket", "_sum", "_count"] where sample.hasSuffix(suffix) {
            let base = String(sample.dropLast(suffix.count))
            if known[base] != nil { return base }
        }
        return sample
    }

    static func parseSample(_ line: Substring) -> MetricSample? {
        var labels: [String: String] = [:]
        let name: String
        let rest: Substring
        if let brace = line.firstIndex(of: "{"), let close = line.lastIndex(of: "}") {
            name = String(line[..<brace])
            labels = parseLabels(line[line.index(after: brace)..<close])
            rest = line[line.index(after: close)...]
        } else {
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2 else { return nil }
            name = String(parts[0])
            rest = parts[1]
        }
        let valueText = rest.trimmingCharacters(in: .whitespaces).split(separator: " ").first.map(String.init) ?? ""
        let value: Double
        switch valueText {
        case "+Inf": value = .infinity
        case "-Inf": value = -.infinity
        case "NaN": value = .nan
        default:
            guard let parsed = Double(valueText) else { return nil }
            value = parsed
        }
        return MetricSample(
            name: name, labels: labels,
            value: value.isFinite
                ? value
                : (value.isNaN ? 0 : (value > 0 ? Double.greatestFiniteMagnitude : -Double.greatestFiniteMagnitude)))
    }

    static func parseLabels(_ text: Substring) -> [String: String] {
        var labels: [String: String] = [:]
        var index = text.startIndex
        while index < text.endIndex {
            guard let equals = text[index...].firstIndex(of: "=") else { break }
            let key = text[index..<equals].trimmingCharacters(in: CharacterSet(charactersIn: ", "))
            var cursor = text.index(after: equals)
            guard cursor < text.endIndex, text[cursor] == "\"" else { break }
            cursor = text.index(after: cursor)
            var value = ""
            while cursor < text.endIndex, text[cursor] != "\"" {
                if text[cursor] == "\\", text.index(after: cursor) < text.endIndex {
                    cursor = text.index(after: cursor)
                    value.append(text[cursor] == "n" ? "\n" : text[cursor])
                } else {
                    value.append(text[cursor])
                }
                cursor = text.index(after: cursor)
            }
            labels[key] = value
            index = cursor < text.endIndex ? text.index(after: cursor) : cursor
        }
        return labels
    }
}
