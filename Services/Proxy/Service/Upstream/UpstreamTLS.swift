import NIOSSL
import ServiceRuntime

/// The TLS client side of https accounts: certificates are always verified, against the system's trust roots plus
/// the PEM certificates of `PROXY_CA_FILE` when set (a private CA, or a test certificate); ALPN offers HTTP/1.1.
enum UpstreamTLS {
    /// One context for every https account: loading trust roots is slow, a handshake with a made context is not.
    static func makeContext(caFile: String?) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .fullVerification
        configuration.applicationProtocols = ["http/1.1"]
        if let caFile {
            let certificates: [NIOSSLCertificate]
            do {
                certificates = try NIOSSLCertificate.fromPEMFile(caFile)
            } catch {
                throw SettingError(key: "ca-file", message: "cannot read PEM certificates from \(caFile): \(error)")
            }
            guard !certificates.isEmpty else {
                throw SettingError(key: "ca-file", message: "\(caFile) holds no PEM certificate")
            }
            configuration.additionalTrustRoots = [.certificates(certificates)]
        }
        return try NIOSSLContext(configuration: configuration)
    }

    /// A short reason for a refused handshake, for the client's error message and the logs.
    static func reason(_ error: any Error) -> String {
        if let error = error as? NIOSSLExtraError, error == .failedToValidateHostname {
            return "the certificate does not name this host"
        }
        if case NIOSSLError.handshakeFailed(let inner) = error {
            let text = "\(inner)"
            if text.contains("CERTIFICATE_VERIFY_FAILED") {
                return "certificate verify failed (not signed by a trusted CA)"
            }
            return "handshake failed: \(text)"
        }
        return "\(error)"
    }
}
