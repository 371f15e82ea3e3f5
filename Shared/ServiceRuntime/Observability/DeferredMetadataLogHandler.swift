import Logging

/// `StreamLogHandler` output, with metadata rendered when a line is written rather than whenever it changes:
/// `StreamLogHandler` re-renders all of its metadata on every set, and every request sets its request id
/// while hardly any request logs a line.
public struct DeferredMetadataLogHandler: LogHandler {
    private var base: StreamLogHandler
    public var metadata: Logger.Metadata = [:]

    public init(_ base: StreamLogHandler) {
        self.base = base
        self.metadata = base.metadata
    }

    public var logLevel: Logger.Level {
        get { base.logLevel }
        set { base.logLevel = newValue }
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { base.metadataProvider }
        set { base.metadataProvider = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var handler = base
        handler.metadata = metadata
        handler.log(event: event)
    }
}
