import Hummingbird
import Logging
import NIOCore

/// The request context of every maitre service: Hummingbird's core plus the request ID and body limits
/// that the runtime's middleware fill in.
public struct ServiceRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The caller's `X-Request-ID`, or one generated on arrival.
    public var requestID: String
    /// Largest body a handler may collect.
    public var maxBodyBytes: Int
    /// Deepest JSON nesting a handler accepts.
    public var maxJSONDepth: Int
    /// The connection the request arrived on; nil when there is none (the router test client's context).
    public let channel: (any Channel)?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.requestID = ""
        self.maxBodyBytes = 4 << 20
        self.maxJSONDepth = 64
        self.channel = source.channel.isActive ? source.channel : nil
    }

    public var maxUploadSize: Int { maxBodyBytes }
}
