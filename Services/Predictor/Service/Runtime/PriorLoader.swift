import Foundation
import Logging
import PredictorCore
import TextEngine

/// Finds and reads the trained prior (`PRIOR`): `auto` takes the shipped file when it is found, `none` runs on
/// the history alone, anything else is a path that must load. The prior was trained on MiniLM embeddings, so it
/// is used only with the MiniLM embedder.
enum PriorLoader {
    /// The shipped file's name, and the folder of the source tree that holds it.
    static let fileName = "trained-prior.json"

    /// The shipped fine-tuned layers' file name (`LENGTH_LAYERS=auto`), found where the prior is.
    static let layersFileName = "length-layers.safetensors"

    /// Where `auto` looks: next to the executable, in `share/maitre` beside its folder, then the source tree.
    static func candidates(
        fileName: String = fileName, executable: String = CommandLine.arguments.first ?? ""
    ) -> [String] {
        let binary = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
        let sourceTree = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Generated")
        return [
            binary.appendingPathComponent(fileName).path,
            binary.deletingLastPathComponent().appendingPathComponent("share/maitre/\(fileName)").path,
            sourceTree.appendingPathComponent(fileName).path,
        ]
    }

    /// The fine-tuned layers `setting` names: nil for `none`, or for `auto` when none are shipped.
    static func layers(setting: String) -> URL? {
        switch setting {
        case "none": nil
        case "auto":
            candidates(fileName: layersFileName).first { FileManager.default.fileExists(atPath: $0) }
                .map { URL(fileURLWithPath: $0) }
        default: URL(fileURLWithPath: setting)
        }
    }

    static func load(setting: String, embedder: EmbedderDescriptor, logger: Logger) throws -> TrainedPrior? {
        if setting == "none" { return nil }
        let path: String
        if setting == "auto" {
            guard let found = candidates().first(where: { FileManager.default.fileExists(atPath: $0) }) else {
                logger.warning(
                    "no trained prior found (looked in \(candidates().joined(separator: ", "))); predicting from the history alone"
                )
                return nil
            }
            path = found
        } else {
            path = setting
        }
        guard embedder.kind == "minilm" else {
            if setting != "auto" {
                throw PredictorStartupError("prior \(path) needs the MiniLM embedder (embedder is \(embedder.name))")
            }
            logger.info("trained prior not used: it needs the MiniLM embedder, this one is \(embedder.name)")
            return nil
        }
        let prior: TrainedPrior
        do {
            prior = try PriorArtifact.decode(try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw PredictorStartupError("prior \(path) could not be read: \(error)")
        }
        // Its models read vectors of one embedder: another's (other fine-tuned layers, or none) would be noise to them.
        guard prior.embedder == embedder.name else {
            let reason =
                "prior \(path) was trained on the vectors of \(prior.embedder), this embedder is \(embedder.name) "
                + "(LENGTH_LAYERS names the fine-tuned layers the prior needs)"
            if setting != "auto" { throw PredictorStartupError(reason) }
            logger.warning("trained prior not used: \(reason)")
            return nil
        }
        logger.info("trained prior \(prior.version) from \(path): \(prior.source)")
        return prior
    }
}
