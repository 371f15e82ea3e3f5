import Contracts
import Testing

/// Schema derivation reads what the `Codable` conformances do: required and optional keys, explicit nulls, keys
/// only the encoder writes, the alternatives of a single value, enumerations and refinements; and it reports what
/// it cannot derive instead of guessing.
@Suite struct DerivedSchemaTests {
    func component(_ name: String, of type: (some Decodable).Type) throws -> JSONValue {
        let derived = DerivedSchema(of: type)
        #expect(derived.problems.isEmpty, "\(derived.problems)")
        return try #require(derived.components[name]?.json)
    }

    @Test func decodedKeysAreRequiredAndDecodedIfPresentOnesOptional() throws {
        let request = try component("PredictRequest", of: PredictRequest.self)
        #expect(request["required"] == .array([.string("model")]))
        #expect(request["properties"]?["max_tokens"] == OpenAPISchema.integer.json)
        #expect(request["properties"]?["messages"] == OpenAPISchema.array(of: .reference("ChatMessage")).json)
    }

    @Test func keysOnlyTheEncoderWritesAreListed() throws {
        let timings = try component("RequestTimings", of: RequestTimings.self)
        #expect(timings["required"] == .array([.string("submitted_unix_ms")]))
        #expect(timings["properties"]?["queue_ms"] == OpenAPISchema.number.json)
        #expect(timings["properties"]?["latency_ms"] == OpenAPISchema.number.json)
    }

    @Test func keysWrittenAsExplicitNullsAreRequiredAndNullable() throws {
        let error = try component("ErrorBody", of: ErrorBody.self)
        #expect(error["required"] == .array(["message", "type", "code", "param"].map(JSONValue.string)))
        #expect(error["properties"]?["code"] == OpenAPISchema.string.nullable.json)
    }

    @Test func aValueDecodedAsOneOfSeveralTypesIsAnAnyOf() throws {
        let message = try component("ChatMessage", of: ChatMessage.self)
        let content = OpenAPISchema.anyOf([.string, .array(of: .reference("ContentPart")), .null])
        #expect(message["properties"]?["content"] == content.json)
        let completion = try component("CompletionRequest", of: CompletionRequest.self)
        #expect(completion["properties"]?["prompt"] == OpenAPISchema.anyOf([.string, .array(of: .string)]).json)
    }

    @Test func enumerationsListTheirRawValuesAndMapsTheirValues() throws {
        let derived = DerivedSchema(of: SubmitRequest.self)
        #expect(
            derived.components["RequestClass"]
                == .enumeration(RequestClass.allCases.map(\.rawValue), description: RequestClass.schemaDescription))
        let quality = try component("PredictionQuality", of: PredictionQuality.self)
        #expect(quality["properties"]?["fallback_levels"] == OpenAPISchema.map(of: .integer).json)
        let snapshot = try component("MetricsSnapshot", of: MetricsSnapshot.self)
        #expect(snapshot["properties"]?["state"] == OpenAPISchema.anyValue.json)
    }

    @Test func refinementsAndNamesAreTheTypesOwn() throws {
        let submit = try component("SubmitRequest", of: SubmitRequest.self)
        #expect(submit["properties"]?["priority"] == OpenAPISchema.integer.refined(.minimum(0), .maximum(9)).json)
        let derived = DerivedSchema(of: ChatCompletionChunk.self)
        #expect(derived.components.keys.contains("ChatCompletionChunkChoice"))
        #expect(derived.components.keys.contains("ChatCompletionDelta"))
    }

    struct Unnamed: Codable { var field: Int }

    struct Misrefined: Codable, OpenAPIComponent {
        var field: Int
        static let schemaDescription = "A refinement of a key it does not have."
        static let schemaRefinements: [String: [SchemaRefinement]] = ["feild": [.minimum(1)]]
    }

    @Test func whatCannotBeDerivedIsReported() {
        #expect(DerivedSchema(of: Unnamed.self).problems.contains { $0.contains("OpenAPIComponent") })
        #expect(DerivedSchema(of: Misrefined.self).problems.contains { $0.contains("'feild'") })
    }
}
