import Foundation

/// Byte sequences and their ids (cl100k's mergeable ranks, WordPiece's vocabulary) in an open-addressing hash table
/// over one contiguous byte buffer, so that a lookup hashes a slice of the input without allocating.
final class ByteSequenceTable: @unchecked Sendable {
    // Immutable after init; freed in deinit. Unsafe buffers keep bounds checks out of the merge loop.
    private let tokenBytes: UnsafeMutableBufferPointer<UInt8>
    private let tokenStart: UnsafeMutableBufferPointer<Int32>
    private let tokenLength: UnsafeMutableBufferPointer<Int32>
    private let slots: UnsafeMutableBufferPointer<Int32>
    private let slotMask: Int
    /// Number of id slots (highest id + 1).
    let rankCount: Int

    static let absent: Int32 = .max

    /// `entries[i]` = (bytes, rank). Ranks must be non-negative and unique.
    init(entries: [([UInt8], Int)]) {
        let maxRank = entries.map(\.1).max() ?? -1
        rankCount = maxRank + 1
        let totalBytes = entries.reduce(0) { $0 + $1.0.count }
        tokenBytes = .allocate(capacity: max(totalBytes, 1))
        tokenStart = .allocate(capacity: max(rankCount, 1))
        tokenLength = .allocate(capacity: max(rankCount, 1))
        tokenLength.initialize(repeating: -1)
        tokenStart.initialize(repeating: 0)
        var slotCount = 1024
        while slotCount < entries.count * 2 { slotCount <<= 1 }
        slots = .allocate(capacity: slotCount)
        slots.initialize(repeating: -1)
        slotMask = slotCount - 1
        var cursor = 0
        for (bytes, rank) in entries {
            tokenStart[rank] = Int32(cursor)
            tokenLength[rank] = Int32(bytes.count)
            for byte in bytes {
                tokenBytes[cursor] = byte
                cursor += 1
            }
            bytes.withUnsafeBufferPointer { buffer in
                var slot = Self.hash(buffer.baseAddress!, buffer.count) & slotMask
                while slots[slot] >= 0 { slot = (slot + 1) & slotMask }
                slots[slot] = Int32(rank)
            }
        }
    }

    deinit {
        tokenBytes.deallocate()
        tokenStart.deallocate()
        tokenLength.deallocate()
        slots.deallocate()
    }

    @inline(__always)
    static func hash(_ base: UnsafePointer<UInt8>, _ count: Int) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for index in 0..<count {
            hash = (hash ^ UInt64(base[index])) &* 0x100_0000_01b3
        }
        return Int(truncatingIfNeeded: hash ^ (hash >> 29))
    }

    /// The rank of `base[0..<count]`, or `absent`.
    @inline(__always)
    func rank(_ base: UnsafePointer<UInt8>, _ count: Int) -> Int32 {
        var slot = Self.hash(base, count) & slotMask
        while true {
            let rank = slots[slot]
            if rank < 0 { return Self.absent }
            if Int(tokenLength[Int(rank)]) == count
                && memcmp(tokenBytes.baseAddress! + Int(tokenStart[Int(rank)]), base, count) == 0
            {
                return rank
            }
            slot = (slot + 1) & slotMask
        }
    }

    /// The bytes of `rank`, or nil when no token has that rank.
    func bytes(of rank: Int) -> UnsafeBufferPointer<UInt8>? {
        guard rank >= 0, rank < rankCount, tokenLength[rank] >= 0 else { return nil }
        return UnsafeBufferPointer(
            rebasing: tokenBytes[Int(tokenStart[rank])..<Int(tokenStart[rank] + tokenLength[rank])])
    }
}
