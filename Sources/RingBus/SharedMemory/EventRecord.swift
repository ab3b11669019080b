// EventRecord.swift: how an `Event` travels in a ring record's payload bytes, and back.
//
// The record header (rbus_record_hdr, Docs/LAYOUT.md) already carries the topic and its hash, the
// stream's sequence (the identity's sequence), the commit time in clock ticks and a 64-bit key hash.
// The body adds what only the event knows:
//
//   offset  size  field
//   0       1     format version (1)
//   1       1     flags: bit 0 = an idempotency key follows; other bits must be 0
//   2       2     key length in bytes (little-endian; 0 without a key)
//   4       4     reserved, 0
//   8       8     the event's own timestamp: wall-clock nanoseconds since 1970 (Int64, little-endian)
//   16      n     the idempotency key (UTF-8), n = key length
//   16 + n  rest  the payload: one JSON document (JSONValue's encoding: compact, sorted keys)
//
// The identity is not stored: its incarnation is the bus's, its stream the record's, its sequence the
// record's. Every byte of a body is another process's write, so `decode` validates all of it (version,
// flags, lengths, UTF-8, one strict JSON document) and reports what is wrong with its offset; it never
// traps on hostile bytes.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Why a record's body is not an event.
public struct EventRecordError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Byte offset in the body where it went wrong.
    public var offset: Int
    /// What was wrong there.
    public var reason: String

    /// An error at body byte `offset`.
    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "invalid event record at body byte \(offset): \(reason)" }
}

/// Encoding and decoding of an event's record body (see the table at the top of EventRecord.swift).
public enum EventRecord {
    /// The body format this build writes and reads.
    public static let formatVersion: UInt8 = 1
    /// Bytes before the key.
    public static let fixedSize = 16
    /// The longest idempotency key, in UTF-8 bytes.
    public static let maxKeyLength = 1024
    static let flagKey: UInt8 = 1

    /// The body of `event` whose payload is already encoded as `payloadJSON`.
    /// - Throws: ``EventRecordError`` when the key is longer than ``maxKeyLength``.
    public static func body(of event: Event, payloadJSON: [UInt8]) throws(EventRecordError) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(fixedSize + (event.idempotencyKey?.utf8.count ?? 0) + payloadJSON.count)
        try appendHeader(of: event, to: &out)
        out += payloadJSON
        return out
    }

    /// The body of `event`, encoding its payload in place (one array, no intermediate copy).
    public static func body(of event: Event) throws(EventRecordError) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(64)
        try appendHeader(of: event, to: &out)
        event.payload.encode(into: &out)
        return out
    }

    /// Appends the fixed fields and the key of `event`'s body.
    static func appendHeader(of event: Event, to out: inout [UInt8]) throws(EventRecordError) {
        let keyCount = event.idempotencyKey?.utf8.count ?? 0
        guard keyCount <= maxKeyLength else {
            throw EventRecordError(offset: 2, reason: "idempotency key of \(keyCount) bytes exceeds \(maxKeyLength)")
        }
        // The 16 fixed bytes in one append: version, flags, key length (LE), reserved, nanoseconds (LE).
        var fixed: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &fixed) { f in
            f[0] = formatVersion
            f[1] = event.idempotencyKey == nil ? 0 : flagKey
            f.storeBytes(of: UInt16(keyCount).littleEndian, toByteOffset: 2, as: UInt16.self)
            f.storeBytes(of: UInt64(bitPattern: wallClockNanoseconds(event.timestamp)).littleEndian, toByteOffset: 8,
                         as: UInt64.self)
        }
        withUnsafeBytes(of: &fixed) { out.append(contentsOf: $0) }
        if let key = event.idempotencyKey { out.append(contentsOf: key.utf8) }
    }

    /// The 64-bit key stored in the record header for an idempotency key (FNV-1a 64 of its UTF-8), so
    /// consumers can deduplicate without reading the body.
    public static func keyHash(_ key: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        return h
    }

    /// The event a record's body describes.
    /// - Parameters:
    ///   - topic: the record's topic bytes (validated as UTF-8 here too).
    ///   - body: the record's payload bytes.
    ///   - identity: built by the caller from the bus incarnation and the record's stream and sequence.
    /// - Throws: ``EventRecordError`` naming the first invalid byte.
    public static func decode(topic: UnsafeRawBufferPointer, body: UnsafeRawBufferPointer, identity: EventIdentity)
        throws(EventRecordError) -> Event
    {
        guard !topic.isEmpty, let topicText = try? JSONParser.validUTF8(topic, at: 0) else {
            throw EventRecordError(offset: 0, reason: "the record's topic is empty or not UTF-8")
        }
        return try decode(topicText: topicText, body: body, identity: identity)
    }

    /// ``decode(topic:body:identity:)`` for a topic the caller already validated and made a String
    /// (a subscriber caches the last topic it saw).
    public static func decode(topicText: String, body: UnsafeRawBufferPointer, identity: EventIdentity)
        throws(EventRecordError) -> Event
    {
        guard body.count >= fixedSize else {
            throw EventRecordError(offset: body.count, reason: "body of \(body.count) bytes is shorter than \(fixedSize)")
        }
        guard body[0] == formatVersion else {
            throw EventRecordError(offset: 0, reason: "format version \(body[0]), this build reads \(formatVersion)")
        }
        let flags = body[1]
        guard flags & ~flagKey == 0 else { throw EventRecordError(offset: 1, reason: "unknown flags \(flags)") }
        let keyLength = Int(readLittleEndian(UInt16.self, body, at: 2))
        guard readLittleEndian(UInt32.self, body, at: 4) == 0 else {
            throw EventRecordError(offset: 4, reason: "reserved bytes are not 0")
        }
        if flags & flagKey == 0, keyLength != 0 {
            throw EventRecordError(offset: 2, reason: "a key length of \(keyLength) without the key flag")
        }
        guard keyLength <= maxKeyLength, fixedSize + keyLength <= body.count else {
            throw EventRecordError(offset: 2, reason: "key length \(keyLength) runs past the body (\(body.count) bytes)")
        }
        let nanos = Int64(bitPattern: readLittleEndian(UInt64.self, body, at: 8))
        var key: String? = nil
        if flags & flagKey != 0 {
            let keyBytes = UnsafeRawBufferPointer(rebasing: body[fixedSize ..< fixedSize + keyLength])
            guard let k = try? JSONParser.validUTF8(keyBytes, at: fixedSize) else {
                throw EventRecordError(offset: fixedSize, reason: "the idempotency key is not UTF-8")
            }
            key = k
        }
        let payloadStart = fixedSize + keyLength
        let payload: JSONValue
        do {
            payload = try JSONValue(decoding: UnsafeRawBufferPointer(rebasing: body[payloadStart...]))
        } catch {
            throw EventRecordError(offset: payloadStart + error.offset, reason: "payload: \(error.reason)")
        }
        return Event(topic: topicText, payload: payload, timestamp: date(wallClockNanoseconds: nanos),
                     identity: identity, idempotencyKey: key)
    }

    // MARK: Helpers

    static func wallClockNanoseconds(_ date: Date) -> Int64 {
        let seconds = date.timeIntervalSince1970
        guard seconds.isFinite, abs(seconds) < 9.2e9 else { return seconds < 0 ? .min : .max } // saturate
        return Int64((seconds * 1e9).rounded())
    }

    static func date(wallClockNanoseconds ns: Int64) -> Date {
        Date(timeIntervalSince1970: Double(ns) / 1e9)
    }

    static func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out += $0 }
    }

    static func readLittleEndian<T: FixedWidthInteger>(_: T.Type, _ bytes: UnsafeRawBufferPointer, at offset: Int) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
