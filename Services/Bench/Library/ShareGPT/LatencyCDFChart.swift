import Foundation

/// An SVG chart of latency CDFs, one panel per class (short, heavy), one line per mode. Written by hand: no plotting
/// library is worth a dependency for two panels of polylines.
enum LatencyCDFChart {
    static let colors = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"]

    /// `series`: per mode (in order), per class name, the completed latencies in ms.
    static func svg(
        title: String, series: [(mode: String, byClass: [String: [Double]])], classes: [String] = ["short", "heavy"]
    ) -> String {
        let panelWidth = 420.0
        let panelHeight = 300.0
        let margin = (left: 60.0, right: 20.0, top: 50.0, bottom: 50.0)
        let width = margin.left + Double(classes.count) * (panelWidth + margin.left) + margin.right
        let height = margin.top + panelHeight + margin.bottom + 30
        var svg = [
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">",
            "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
            "<text x=\"\(Int(width / 2))\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">\(escape(title))</text>",
        ]
        for (panel, className) in classes.enumerated() {
            let x0 = margin.left + Double(panel) * (panelWidth + margin.left)
            let y0 = margin.top
            let all = series.flatMap { $0.byClass[className] ?? [] }
            let maxSeconds = niceCeiling((all.max() ?? 1000) / 1000)
            svg.append(
                "<text x=\"\(Int(x0 + panelWidth / 2))\" y=\"\(Int(y0 - 8))\" text-anchor=\"middle\">\(className) requests</text>"
            )
            svg.append(
                "<rect x=\"\(Int(x0))\" y=\"\(Int(y0))\" width=\"\(Int(panelWidth))\" height=\"\(Int(panelHeight))\" fill=\"none\" stroke=\"#444\"/>"
            )
            for tick in 0...5 {
                let fraction = Double(tick) / 5
                let x = x0 + fraction * panelWidth
                let y = y0 + panelHeight - fraction * panelHeight
                svg.append(
                    "<line x1=\"\(f(x))\" y1=\"\(f(y0))\" x2=\"\(f(x))\" y2=\"\(f(y0 + panelHeight))\" stroke=\"#eee\"/>"
                )
                svg.append(
                    "<line x1=\"\(f(x0))\" y1=\"\(f(y))\" x2=\"\(f(x0 + panelWidth))\" y2=\"\(f(y))\" stroke=\"#eee\"/>"
                )
                svg.append(
                    "<text x=\"\(f(x))\" y=\"\(f(y0 + panelHeight + 16))\" text-anchor=\"middle\">\(trim(fraction * maxSeconds))</text>"
                )
                svg.append("<text x=\"\(f(x0 - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(trim(fraction))</text>")
            }
            svg.append(
                "<text x=\"\(f(x0 + panelWidth / 2))\" y=\"\(f(y0 + panelHeight + 34))\" text-anchor=\"middle\">latency (s)</text>"
            )
            for (index, entry) in series.enumerated() {
                let values = (entry.byClass[className] ?? []).sorted()
                guard !values.isEmpty else { continue }
                var points = ["\(f(x0)),\(f(y0 + panelHeight))"]
                for (rank, value) in values.enumerated() {
                    let x = x0 + min(value / 1000 / maxSeconds, 1) * panelWidth
                    let yBefore = y0 + panelHeight - Double(rank) / Double(values.count) * panelHeight
                    let yAfter = y0 + panelHeight - Double(rank + 1) / Double(values.count) * panelHeight
                    points.append("\(f(x)),\(f(yBefore))")
                    points.append("\(f(x)),\(f(yAfter))")
                }
                let color = colors[index % colors.count]
                svg.append(
                    "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.8\" points=\"\(points.joined(separator: " "))\"/>"
                )
            }
        }
        for (index, entry) in series.enumerated() {
            let x = margin.left + Double(index) * 140
            let y = height - 14
            svg.append(
                "<line x1=\"\(f(x))\" y1=\"\(f(y - 4))\" x2=\"\(f(x + 24))\" y2=\"\(f(y - 4))\" stroke=\"\(colors[index % colors.count])\" stroke-width=\"3\"/>"
            )
            svg.append("<text x=\"\(f(x + 30))\" y=\"\(f(y))\">\(escape(entry.mode))</text>")
        }
        svg.append("</svg>")
        return svg.joined(separator: "\n") + "\n"
    }

    private static func niceCeiling(_ value: Double) -> Double {
        guard value > 0 else { return 1 }
        let magnitude = pow(10, floor(log10(value)))
        for step in [1.0, 2, 2.5, 5, 10] where step * magnitude >= value { return step * magnitude }
        return 10 * magnitude
    }

    private static func f(_ value: Double) -> String { String(format: "%.1f", value) }
    private static func trim(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
    }
    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
    }
}
