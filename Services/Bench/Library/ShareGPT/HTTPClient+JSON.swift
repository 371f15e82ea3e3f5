import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

extension HTTPClient {
    /// `GET url` decoded as `T`; a status other than 200 is a `BenchmarkError` naming the URL and the answer.
    func getJSON<T: Decodable>(_ type: T.Type, from url: String, timeout: TimeAmount = .seconds(60)) async throws -> T {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        let response = try await execute(request, timeout: timeout)
        let bytes = Data(try await response.body.collect(upTo: 16 << 20).readableBytesView)
        guard response.status == .ok else {
            throw BenchmarkError(
                "GET \(url) answered \(response.status.code): \(String(decoding: bytes.prefix(300), as: UTF8.self))")
        }
        return try JSONDecoder().decode(T.self, from: bytes)
    }
}
