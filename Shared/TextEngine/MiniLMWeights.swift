import FastKernels
import Foundation

/// The shape of a BERT encoder, read from the model folder's `config.json`.
public struct BertConfiguration: Sendable, Equatable {
    public var hiddenSize = 384
    public var layerCount = 6
    public var headCount = 12
    public var intermediateSize = 1536
    public var maxPositions = 512
    public var typeVocabularySize = 2
    public var vocabularySize = 30522
    public var layerNormEpsilon: Float = 1e-12

    public init() {}

    public init(contentsOf url: URL) throws {
        guard let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] else {
            throw SafetensorsError.badHeader("\(url.lastPathComponent) is not a JSON object")
        }
        func integer(_ key: String, _ fallback: Int) -> Int { (object[key] as? NSNumber)?.intValue ?? fallback }
        hiddenSize = integer("hidden_size", hiddenSize)
        layerCount = integer("num_hidden_layers", layerCount)
        headCount = integer("num_attention_heads", headCount)
        intermediateSize = integer("intermediate_size", intermediateSize)
        maxPositions = integer("max_position_embeddings", maxPositions)
        typeVocabularySize = integer("type_vocab_size", typeVocabularySize)
        vocabularySize = integer("vocab_size", vocabularySize)
        layerNormEpsilon = (object["layer_norm_eps"] as? NSNumber)?.floatValue ?? layerNormEpsilon
        if let activation = object["hidden_act"] as? String, activation != "gelu" {
            throw SafetensorsError.badHeader("hidden_act \(activation) is not supported (only exact gelu)")
        }
        guard hiddenSize % headCount == 0, hiddenSize % 8 == 0, intermediateSize % 8 == 0 else {
            throw SafetensorsError.badHeader("hidden size \(hiddenSize) must be a multiple of 8 and of the head count")
        }
    }

    public var headSize: Int { hiddenSize / headCount }
}

/// Pointers to one encoder layer's weights. Query, key and value are fused into one matrix so each layer's
/// projection is a single matrix product.
struct BertLayerWeights {
    /// [3·hidden, hidden], rows: query, key, value (a copy owned by `MiniLMWeights`).
    let queryKeyValue: UnsafePointer<Float>
    let queryKeyValueBias: UnsafePointer<Float>
    let attentionOutput: UnsafePointer<Float>
    let attentionOutputBias: UnsafePointer<Float>
    let attentionNormGamma: UnsafePointer<Float>
    let attentionNormBeta: UnsafePointer<Float>
    let intermediate: UnsafePointer<Float>
    let intermediateBias: UnsafePointer<Float>
    let output: UnsafePointer<Float>
    let outputBias: UnsafePointer<Float>
    let outputNormGamma: UnsafePointer<Float>
    let outputNormBeta: UnsafePointer<Float>
    /// The four dense weights packed in panels of 16 outputs (`fk_pack_panels`) for the small-product kernel, when
    /// this CPU can run it (see `MiniLMWeights.smallProductKernel`).
    var packed: PackedDenseWeights? = nil
}

/// Panel-packed copies of a layer's dense weights, owned by `MiniLMWeights`.
struct PackedDenseWeights {
    let queryKeyValue: UnsafePointer<Float>
    let attentionOutput: UnsafePointer<Float>
    let intermediate: UnsafePointer<Float>
    let output: UnsafePointer<Float>
}

/// All weights of a BERT encoder: views into the memory-mapped safetensors file, plus the fused QKV copies and, where
/// the small-product kernel runs, the packed dense weights.
final class MiniLMWeights: @unchecked Sendable {
    let configuration: BertConfiguration
    let wordEmbeddings: UnsafePointer<Float>
    let positionEmbeddings: UnsafePointer<Float>
    let tokenTypeEmbeddings: UnsafePointer<Float>
    let embeddingNormGamma: UnsafePointer<Float>
    let embeddingNormBeta: UnsafePointer<Float>
    let layers: [BertLayerWeights]
    // Immutable after init; keeps the mapping alive and frees the copies (fused QKV, packed panels).
    private let file: SafetensorsFile
    private let owned: [UnsafeMutablePointer<Float>]

    /// `overrides` replaces the tensors it names (base names, F32 or F16): fine-tuned layers on the base model.
    /// Every tensor in it must be one the encoder uses, or a head (`length_head.*`, read by `LinearHead`).
    init(file: SafetensorsFile, configuration: BertConfiguration, overrides: SafetensorsFile? = nil) throws {
        self.file = file
        self.configuration = configuration
        let hidden = configuration.hiddenSize
        let inner = configuration.intermediateSize
        // Some exports prefix every name with "bert.".
        let prefix = file.tensors["bert.embeddings.word_embeddings.weight"] != nil ? "bert." : ""
        var owned: [UnsafeMutablePointer<Float>] = []
        var overridden = Set<String>()
        func tensor(_ name: String, _ shape: [Int]) throws -> UnsafePointer<Float> {
            if let overrides, overrides.tensors[name] != nil {
                let copy = try overrides.copyFloats(name, shape: shape)
                owned.append(copy)
                overridden.insert(name)
                return UnsafePointer(copy)
            }
            return try file.floats(prefix + name, shape: shape)
        }
        var layers: [BertLayerWeights] = []
        do {
            wordEmbeddings = try tensor("embeddings.word_embeddings.weight", [configuration.vocabularySize, hidden])
            positionEmbeddings = try tensor(
                "embeddings.position_embeddings.weight", [configuration.maxPositions, hidden])
            tokenTypeEmbeddings = try tensor(
                "embeddings.token_type_embeddings.weight", [configuration.typeVocabularySize, hidden])
            embeddingNormGamma = try tensor("embeddings.LayerNorm.weight", [hidden])
            embeddingNormBeta = try tensor("embeddings.LayerNorm.bias", [hidden])
            for index in 0..<configuration.layerCount {
                let name = "encoder.layer.\(index)."
                let matrix = UnsafeMutablePointer<Float>.allocate(capacity: 3 * hidden * hidden + 3 * hidden)
                owned.append(matrix)
                let bias = matrix + 3 * hidden * hidden
                for (part, projection) in ["query", "key", "value"].enumerated() {
                    let weight = try tensor(name + "attention.self.\(projection).weight", [hidden, hidden])
                    let projectionBias = try tensor(name + "attention.self.\(projection).bias", [hidden])
                    (matrix + part * hidden * hidden).initialize(from: weight, count: hidden * hidden)
                    (bias + part * hidden).initialize(from: projectionBias, count: hidden)
                }
                layers.append(
                    BertLayerWeights(
                        queryKeyValue: UnsafePointer(matrix),
                        queryKeyValueBias: UnsafePointer(bias),
                        attentionOutput: try tensor(name + "attention.output.dense.weight", [hidden, hidden]),
                        attentionOutputBias: try tensor(name + "attention.output.dense.bias", [hidden]),
                        attentionNormGamma: try tensor(name + "attention.output.LayerNorm.weight", [hidden]),
                        attentionNormBeta: try tensor(name + "attention.output.LayerNorm.bias", [hidden]),
                        intermediate: try tensor(name + "intermediate.dense.weight", [inner, hidden]),
                        intermediateBias: try tensor(name + "intermediate.dense.bias", [inner]),
                        output: try tensor(name + "output.dense.weight", [hidden, inner]),
                        outputBias: try tensor(name + "output.dense.bias", [hidden]),
                        outputNormGamma: try tensor(name + "output.LayerNorm.weight", [hidden]),
                        outputNormBeta: try tensor(name + "output.LayerNorm.bias", [hidden])
                    ))
            }
            if let overrides,
                let unknown = Set(overrides.tensors.keys).subtracting(overridden).sorted().first(where: {
                    !$0.hasPrefix(LinearHead.tensorPrefix)
                })
            {
                throw SafetensorsError.badHeader(
                    "tensor \(unknown) of the fine-tuned layers is not one the encoder uses")
            }
        } catch {
            owned.forEach { $0.deallocate() }
            throw error
        }
        if Self.smallProductKernel {
            // 42 MB more for MiniLM-L6: few-row products then read weights packed once instead of on every call.
            func pack(_ weight: UnsafePointer<Float>, outputs: Int, inner: Int) -> UnsafePointer<Float> {
                let panels = UnsafeMutablePointer<Float>.allocate(capacity: outputs * inner)
                owned.append(panels)
                fk_pack_panels(weight, Int32(outputs), Int32(inner), panels)
                return UnsafePointer(panels)
            }
            for index in layers.indices {
                let layer = layers[index]
                layers[index].packed = PackedDenseWeights(
                    queryKeyValue: pack(layer.queryKeyValue, outputs: 3 * hidden, inner: hidden),
                    attentionOutput: pack(layer.attentionOutput, outputs: hidden, inner: hidden),
                    intermediate: pack(layer.intermediate, outputs: inner, inner: hidden),
                    output: pack(layer.output, outputs: hidden, inner: inner))
            }
        }
        self.layers = layers
        self.owned = owned
    }

    /// Whether products of at most `MiniLMForwardPass.smallProductRows` rows use FastKernels' AVX2 kernel over
    /// weights packed in panels (this CPU has AVX2 and FMA, and `MINILM_SMALL_KERNEL` is not 0).
    static let smallProductKernel: Bool =
        fk_has_avx2_fma() == 1 && ProcessInfo.processInfo.environment["MINILM_SMALL_KERNEL"] != "0"

    deinit {
        owned.forEach { $0.deallocate() }
    }
}
