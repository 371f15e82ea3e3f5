import Foundation
import PredictorCore
import Testing

@Suite struct QuantileBoostedTreesTests {
    /// y = 2x + uniform noise in [0, 1): the true 0.5 and 0.9 quantiles are 2x + 0.5 and 2x + 0.9.
    static func data(_ count: Int, seed: UInt64) -> ([[Double]], [Double]) {
        var random = SplitMix64(seed: seed)
        var features: [[Double]] = []
        var targets: [Double] = []
        for _ in 0..<count {
            let x = random.nextUnit() * 3
            let distractor = random.nextUnit()
            features.append([x, distractor])
            targets.append(2 * x + random.nextUnit())
        }
        return (features, targets)
    }

    @Test func learnsConditionalQuantilesAndCoversHeldOutData() {
        let (features, targets) = Self.data(2000, seed: 5)
        let p50 = QuantileBoostedTrees(
            features: features, targets: targets,
            parameters: BoostingParameters(quantile: 0.5, rounds: 200, learningRate: 0.1))
        let p90 = QuantileBoostedTrees(
            features: features, targets: targets,
            parameters: BoostingParameters(quantile: 0.9, rounds: 200, learningRate: 0.1))
        let (testFeatures, testTargets) = Self.data(1000, seed: 6)
        let covered50 = zip(testFeatures, testTargets).filter { $1 <= p50.predict($0) }.count
        let covered90 = zip(testFeatures, testTargets).filter { $1 <= p90.predict($0) }.count
        #expect(abs(Double(covered50) / 1000 - 0.5) < 0.06)
        #expect(abs(Double(covered90) / 1000 - 0.9) < 0.05)
        #expect(abs(p50.predict([1.0, 0.5]) - 2.5) < 0.25)
        #expect(abs(p90.predict([2.0, 0.5]) - 4.9) < 0.25)
    }

    @Test func trainingIsDeterministic() {
        let (features, targets) = Self.data(300, seed: 8)
        let a = QuantileBoostedTrees(
            features: features, targets: targets, parameters: BoostingParameters(quantile: 0.5, rounds: 20))
        let b = QuantileBoostedTrees(
            features: features, targets: targets, parameters: BoostingParameters(quantile: 0.5, rounds: 20))
        #expect(a == b)
    }

    @Test func treesSurviveTheirCompactCodingAndRefuseMalformedNodes() throws {
        let (features, targets) = Self.data(300, seed: 9)
        let trees = QuantileBoostedTrees(
            features: features, targets: targets, parameters: BoostingParameters(quantile: 0.5, rounds: 20))
        let data = try JSONEncoder().encode(trees)
        #expect(try JSONDecoder().decode(QuantileBoostedTrees.self, from: data) == trees)
        let text = try #require(String(data: data, encoding: .utf8))
        #expect(!text.contains("threshold"))
        for node in ["[1, 2.5]", "[-1, 2.5, 1, 2]", "[0, 2.5, 0, 2]"] {
            #expect(throws: DecodingError.self) {
                try JSONDecoder().decode(QuantileBoostedTrees.Node.self, from: Data(node.utf8))
            }
        }
    }

    @Test func ridgeRecoversALinearMap() {
        var random = SplitMix64(seed: 3)
        let rows = (0..<400).map { _ in (0..<3).map { _ in Float(random.nextUnit()) } }
        let targets = rows.map { 1 + 2 * Double($0[0]) - 3 * Double($0[1]) }
        let model = RidgeRegression(rows: rows, targets: targets, lambda: 1e-6)
        #expect(abs(model.predict([0.5, 0.5, 0.9]) - 0.5) < 1e-3)
        #expect(abs(model.intercept - 1) < 1e-3)
    }

    @Test func quantilesInterpolateAndWeigh() {
        #expect(Quantiles.of([1, 2, 3, 4], 0.5) == 2.5)
        #expect(Quantiles.weighted([1, 2, 3], weights: [1, 1, 8], 0.5) == 3)
        #expect(Quantiles.weighted([1, 2, 3], weights: [8, 1, 1], 0.5) == 1)
    }
}
