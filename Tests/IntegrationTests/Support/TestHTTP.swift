import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import ProcessLauncher

/// A response read whole, for assertions.
struct TestResponse: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: Data

    var text: String { String(decoding: body, as: UTF8.self) }

    /// The first value of header `name`, case-insensitively.
    func header(_ name: String) -> String? { headers.first(name: name) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: body)
        } catch {
            throw HarnessError(
                description: "cannot decode \(T.self) from HTTP \(status): \(text.prefix(2000))\n\(error)")
        }
    }
}

/// Small HTTP helpers over the shared AsyncHTTPClient.
enum TestHTTP {
    static let client = HTTPClient.shared

    static func get(_ url: String, headers: [String: String] = [:], timeout: Duration = .seconds(30)) async throws
        -> TestResponse
    {
        try await send(url, method: .GET, headers: headers, body: nil, timeout: timeout)
    }

    static func post(_ url: String, json: Data, headers: [String: String] = [:], timeout: Duration = .seconds(60))
        async throws -> TestResponse
    {
        var all = headers
        if all["Content-Type"] == nil { all["Content-Type"] = "application/json" }
        return try await send(url, method: .POST, headers: all, body: json, timeout: timeout)
    }

    static func post(
        _ url: String, body: some Encodable, headers: [String: String] = [:], timeout: Duration = .seconds(60)
    ) async throws -> TestResponse {
        try await post(url, json: JSONEncoder().encode(body), headers: headers, timeout: timeout)
    }

    static func post(_ url: String, raw: String, headers: [String: String] = [:], timeout: Duration = .seconds(60))
        async throws -> TestResponse
    {
        try await post(url, json: Data(raw.utf8), headers: headers, timeout: timeout)
    }

    static func send(_ url: String, method: HTTPMethod, headers: [String: String], body: Data?, timeout: Duration)
        async throws -> TestResponse
    {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await client.execute(
            request, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000))
        let collected = try await response.body.collect(upTo: 64 << 20)
        return TestResponse(
            status: Int(response.status.code), headers: response.headers, body: Data(collected.readableBytesView))
    }

    /// Streams a response, handing each body chunk to `onChunk` with the time since the request was sent.
    static func stream(
        _ url: String,
        json: Data,
        headers: [String: String] = [:],
        timeout: Duration = .seconds(60),
        onChunk: (Data, Duration) async throws -> Void
    ) async throws -> (status: Int, headers: HTTPHeaders) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: json))
        let start = ContinuousClock.now
        let response = try await client.execute(
            request, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000))
        for try await chunk in response.body {
            try await onChunk(Data(chunk.readableBytesView), ContinuousClock.now - start)
        }
        return (Int(response.status.code), response.headers)
    }
}

/// Runs a command (python3, promtool) and returns its exit status and output.
enum Command {
    static func run(
        _ executable: String, _ arguments: [String], input: Data? = nil, environment: [String: String] = [:]
    ) throws -> (status: Int32, output: String) {
        let result = try ChildProcess.run(
            "/usr/bin/env", arguments: [executable] + arguments,
            environment: ProcessInfo.processInfo.environment.merging(environment) { $1 }, input: input)
        return (result.status, result.output)
    }

    static func exists(_ executable: String) -> Bool {
        (try? run("which", [executable]).status) == 0
    }

    /// The repository root, from this file's location.
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }
}
