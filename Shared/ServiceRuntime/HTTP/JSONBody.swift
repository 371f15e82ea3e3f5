import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension Request {
    /// Collects the body within the context's limit (413 beyond it) and returns its bytes.
    public func collectBody(context: ServiceRequestContext) async throws -> ByteBuffer {
        if let declared = headers[.contentLength].flatMap(Int.init), declared > context.maxBodyBytes {
            throw APIError.payloadTooLarge(limit: context.maxBodyBytes)
        }
        do {
            return try await body.collect(upTo: context.maxBodyBytes)
        } catch is NIOTooManyBytesError {
            throw APIError.payloadTooLarge(limit: context.maxBodyBytes)
        }
    }

    /// Decodes a JSON body as `T`, answering malformed JSON, over-deep nesting, wrong types and missing
    /// fields with a 400 envelope that names the field.
    public func decodeJSON<T: Decodable>(as type: T.Type, context: ServiceRequestContext) async throws -> T {
        let buffer = try await collectBody(context: context)
        return try JSONBody.decode(type, from: Data(buffer.readableBytesView), maxDepth: context.maxJSONDepth)
    }
}

/// JSON decoding with errors phrased as OpenAI phrases them.
public enum JSONBody {
    /// Shared coders: configured once, safe to use from any thread, and cheaper than one per request.
    static let decoder = JSONDecoder()
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    /// `read`'s value when it reads the whole body (a `JSONReader` fast path that gives up on anything unusual),
    /// else `decode(_:from:maxDepth:)`, whose answers and errors stay the rule.
    public static func decode<T: Decodable>(
        _ type: T.Type, from buffer: ByteBuffer, maxDepth: Int, fastPath read: (inout JSONReader) -> T?
    ) throws -> T {
        if let fast = buffer.withUnsafeReadableBytes({ JSONReader.document($0, maxDepth: maxDepth, read) }) {
            return fast
        }
        return try decode(type, from: Data(buffer.readableBytesView), maxDepth: maxDepth)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from data: Data, maxDepth: Int = 64) throws -> T {
        if data.isEmpty {
            throw APIError.invalidRequest("The request body is empty; send a JSON object.", code: "invalid_json")
        }
        if let depth = nestingDepthExceeding(maxDepth, in: data) {
            throw APIError.invalidRequest("JSON nesting is deeper than \(depth - 1) levels.", code: "json_too_deep")
        }
        do {
            return try decoder.decode(T.self, from: data)
        } catch let error as DecodingError {
            throw apiError(for: error)
        } catch let error as APIError {
            throw error
        }
    }

    /// The first depth past `limit`, or nil when the document stays within it. Brackets inside strings do not count.
    static func nestingDepthExceeding(_ limit: Int, in data: Data) -> Int? {
        var depth = 0
        var inString = false
        var escaped = false
        for byte in data {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if depth > limit { return depth }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
        return nil
    }

    /// `messages[0].content` from a coding path.
    public static func path(_ codingPath: [any CodingKey], appending key: (any CodingKey)? = nil) -> String {
        var result = ""
        for component in codingPath + (key.map { [$0] } ?? []) {
            if let index = component.intValue {
                result += "[\(index)]"
            } else {
                result += result.isEmpty ? component.stringValue : ".\(component.stringValue)"
            }
        }
        return result
    }

    public static func apiError(for error: DecodingError) -> APIError {
        switch error {
        case .keyNotFound(let key, let context):
            return .missingParameter(path(context.codingPath, appending: key))
        case .typeMismatch(let type, let context):
            let field = path(context.codingPath)
            return .invalidRequest(
                "Invalid type for '\(field)': expected \(describe(type)).", param: field, code: "invalid_type")
        case .valueNotFound(let type, let context):
            let field = path(context.codingPath)
            return .invalidRequest(
                "Invalid type for '\(field)': expected \(describe(type)), but got null.", param: field,
                code: "invalid_type")
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                return .invalidRequest(
                    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The request body must be a JSON object.)",
                    code: "invalid_json"
                )
            }
            let field = path(context.codingPath)
            return .invalidRequest("Invalid value for '\(field)': \(context.debugDescription)", param: field)
        @unknown default:
            return .invalidRequest("The request body could not be decoded.", code: "invalid_json")
        }
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Int64.Type, is Int32.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is Bool.Type: return "a boolean"
        case is [Any].Type: return "an array"
        case is [String: Any].Type: return "an object"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "an array" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "a value of type \(name)"
        }
    }
}

extension Response {
    /// A JSON response with the given status, encoded from a Contracts type.
    public static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:])
        throws -> Response
    {
        json(ByteBuffer(bytes: try JSONBody.encoder.encode(value)), status: status, headers: extra)
    }

    /// A JSON response written by `StreamingJSONEncoder`: for hot routes whose body has no dictionaries (keys come
    /// out in the type's own order) and no Date, Data or URL fields.
    public static func streamedJSON(
        _ value: some Encodable, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]
    ) throws -> Response {
        json(try StreamingJSONEncoder().encode(value), status: status, headers: extra)
    }

    private static func json(_ body: ByteBuffer, status: HTTPResponse.Status, headers extra: HTTPFields) -> Response {
        var fields = extra
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: body))
    }
}
