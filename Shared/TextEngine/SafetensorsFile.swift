import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why a safetensors file could not be read.
public enum SafetensorsError: Error, CustomStringConvertible {
    case unreadable(URL, String)
    case badHeader(String)
    case missingTensor(String)
    case wrongType(String, dtype: String)
    case wrongShape(String, expected: [Int], actual: [Int])

    public var description: String {
        switch self {
        case .unreadable(let url, let reason): "cannot read \(url.path): \(reason)"
        case .badHeader(let reason): "malformed safetensors header: \(reason)"
        case .missingTensor(let name): "tensor \(name) is missing"
        case .wrongType(let name, let dtype): "tensor \(name) is \(dtype), expected F32 (or F16 where a copy is made)"
        case .wrongShape(let name, let expected, let actual): "tensor \(name) has shape \(actual), expected \(expected)"
        }
    }
}

/// A memory-mapped `.safetensors` file: an 8-byte little-endian header length, a JSON header naming each tensor's
/// dtype, shape and byte range, then the raw little-endian tensor data. Tensors are read in place, not copied.
public final class SafetensorsFile: @unchecked Sendable {
    /// One entry of the header.
    public struct TensorInfo: Sendable {
        public let dtype: String
        public let shape: [Int]
        public let byteRange: Range<Int>
    }

    public let tensors: [String: TensorInfo]
    /// The header's `__metadata__` (string to string), empty when there is none.
    public let metadata: [String: String]
    // The mapping is read-only and lives as long as this object.
    private let mapping: UnsafeRawPointer
    private let mappedLength: Int
    private let dataStart: Int

    public init(url: URL) throws {
        let descriptor = open(url.path, O_RDONLY)
        guard descriptor >= 0 else { throw SafetensorsError.unreadable(url, String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw SafetensorsError.unreadable(url, String(cString: strerror(errno)))
        }
        let length = Int(status.st_size)
        guard length >= 8 else { throw SafetensorsError.badHeader("file is \(length) bytes") }
        guard let base = mmap(nil, length, PROT_READ, MAP_PRIVATE, descriptor, 0), base != MAP_FAILED else {
            throw SafetensorsError.unreadable(url, String(cString: strerror(errno)))
        }
        let raw = UnsafeRawPointer(base)
        do {
            let headerLength = Int(UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self)))
            guard headerLength > 0, headerLength <= length - 8 else {
                throw SafetensorsError.badHeader("header length \(headerLength) exceeds the file")
            }
            let header = Data(bytes: raw + 8, count: headerLength)
            let dataLength = length - 8 - headerLength
            tensors = try Self.parseHeader(header, dataLength: dataLength)
            let object = try? JSONSerialization.jsonObject(with: header) as? [String: Any]
            metadata = (object?["__metadata__"] as? [String: String]) ?? [:]
        } catch {
            munmap(base, length)
            throw error
        }
        mapping = raw
        mappedLength = length
        dataStart = 8 + Int(UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self)))
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: mapping), mappedLength)
    }

    static func parseHeader(_ header: Data, dataLength: Int) throws -> [String: TensorInfo] {
        guard let object = try? JSONSerialization.jsonObject(with: header) as? [String: Any] else {
            throw SafetensorsError.badHeader("not a JSON object")
        }
        var tensors: [String: TensorInfo] = [:]
        for (name, value) in object where name != "__metadata__" {
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                let shape = (entry["shape"] as? [NSNumber])?.map(\.intValue),
                let offsets = (entry["data_offsets"] as? [NSNumber])?.map(\.intValue), offsets.count == 2,
                offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= dataLength
            else { throw SafetensorsError.badHeader("entry \(name) is malformed") }
            tensors[name] = TensorInfo(dtype: dtype, shape: shape, byteRange: offsets[0]..<offsets[1])
        }
        return tensors
    }

    /// The F32 tensor `name`, checked against `shape`, as a pointer into the mapping (valid while `self` lives).
    public func floats(_ name: String, shape: [Int]) throws -> UnsafePointer<Float> {
        guard let info = tensors[name] else { throw SafetensorsError.missingTensor(name) }
        guard info.dtype == "F32" else { throw SafetensorsError.wrongType(name, dtype: info.dtype) }
        guard info.shape == shape, info.byteRange.count == shape.reduce(4, *) else {
            throw SafetensorsError.wrongShape(name, expected: shape, actual: info.shape)
        }
        let address = mapping + dataStart + info.byteRange.lowerBound
        guard Int(bitPattern: address) % MemoryLayout<Float>.alignment == 0 else {
            throw SafetensorsError.badHeader("tensor \(name) is not aligned to 4 bytes")
        }
        return address.assumingMemoryBound(to: Float.self)
    }

    /// A new F32 copy of tensor `name` (stored as F32 or F16), checked against `shape`; the caller deallocates it.
    public func copyFloats(_ name: String, shape: [Int]) throws -> UnsafeMutablePointer<Float> {
        guard let info = tensors[name] else { throw SafetensorsError.missingTensor(name) }
        let count = shape.reduce(1, *)
        let width = info.dtype == "F32" ? 4 : (info.dtype == "F16" ? 2 : 0)
        guard width > 0 else { throw SafetensorsError.wrongType(name, dtype: info.dtype) }
        guard info.shape == shape, info.byteRange.count == count * width else {
            throw SafetensorsError.wrongShape(name, expected: shape, actual: info.shape)
        }
        let source = mapping + dataStart + info.byteRange.lowerBound
        let copy = UnsafeMutablePointer<Float>.allocate(capacity: count)
        for index in 0..<count {
            copy[index] =
                width == 4
                ? Float(
                    bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * index, as: UInt32.self)))
                : Float(
                    Float16(
                        bitPattern: UInt16(
                            littleEndian: source.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self)))
                )
        }
        return copy
    }

    /// FNV-1a (64-bit) of the whole file, as 16 hex digits: names a file's exact contents.
    public var contentHash: String {
        let hash = HashedNGramEmbedder.fnv1a(UnsafeRawBufferPointer(start: mapping, count: mappedLength))
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
