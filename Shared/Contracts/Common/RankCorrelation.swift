/// Kendall's τ-b, the rank agreement of predicted and actual sizes: the predictor's evaluation scores with it and
/// the scheduler decides from it how far to trust predicted sizes, so both read the same definition.
public enum RankCorrelation {
    /// τ-b (tie-corrected), O(n²): fine for a few thousand pairs; 0 when either side is constant.
    public static func kendallTauB(_ x: [Double], _ y: [Double]) -> Double {
        var concordant = 0.0
        var discordant = 0.0
        var tiesX = 0.0
        var tiesY = 0.0
        for i in 0..<x.count {
            for j in (i + 1)..<max(x.count, i + 1) {
                let dx = x[i] - x[j]
                let dy = y[i] - y[j]
                if dx == 0 && dy == 0 { continue }
                if dx == 0 {
                    tiesX += 1
                    continue
                }
                if dy == 0 {
                    tiesY += 1
                    continue
                }
                if (dx > 0) == (dy > 0) { concordant += 1 } else { discordant += 1 }
            }
        }
        let denominator = ((concordant + discordant + tiesX) * (concordant + discordant + tiesY)).squareRoot()
        return denominator > 0 ? (concordant - discordant) / denominator : 0
    }
}
