// EventRecord.swift: how an `Event` travels in a ring record's payload bytes (its envelope), and back.
//
// The record header (rbus_record_hdr, Docs/LAYOUT.md) already carries the topic and its hash, the
// stream's sequence (the identity's sequence), the commit time in clock ticks and a 64-bit key hash.
// The body (the envelope, version 2; Docs/LAYOUT.md §8.4 is the reference) adds what only the event knows:
//
//   offset  size  field
//   0       1     envelope version (2; version 1 bodies are still read)
//   1       1     flags: bit 0 key, bit 1 content type, bit 2 origin, bit 3 source identity, bit 4 headers;
//                 other bits 0
//   2       2     key length (LE; 0 without a key; at most 1024)
//   4       1     content-type length (0 without; then the payload is JSON)
//   5       1     origin length (0 without)
//   6       2     headers length in bytes (LE; 0 without)
//   8       8     the event's own timestamp: wall-clock nanoseconds since 1970 (Int64, LE)
//   16      24    source identity, only with flag bit 3: incarnation (u64), stream (u32), 0 (u32), sequence (u64)
//   then          key (UTF-8), content type (visible ASCII), origin (UTF-8), headers, payload (the rest)
//   headers:      entries filling the headers length: name length (u8, 1-255), name (visible ASCII but ':'),
//                 value length (u16 LE), value (UTF-8 without CR, LF or NUL); names unique
//   payload:      without a content type, one JSON document (strict RFC 8259); with one, bytes as given
//
// Version 1 had the same first 16 bytes with bytes 4-7 reserved (0) and only the key flag: a version-1
// body reads as a version-2 body without the new fields. The identity is not stored: its incarnation is
// the bus's, its stream the record's, its sequence the record's. Every byte of a body is another
// process's write, so `decode` validates all of it (version, flags, every length against the body, UTF-8,
// the JSON document) and reports what is wrong with its offset; it never traps on hostile bytes. It does
// not build the JSON value: `Event.payload` decodes the validated bytes when it is first read.

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

/// Encoding and decoding of an event's envelope (see the table at the top of EventRecord.swift).
public enum EventRecord {
    /// The envelope version this build writes (it reads 1 and 2).
    public static let formatVersion: UInt8 = 2
    /// Bytes before the source identity and the variable fields.
    public static let fixedSize = 16
    /// Bytes of the source identity, when present.
    public static let sourceIdentitySize = 24
    /// The longest idempotency key, in UTF-8 bytes.
    public static let maxKeyLength = 1024
    /// The longest content type and origin, in bytes.
    public static let maxContentTypeLength = 255, maxOriginLength = 255
    /// The most bytes all headers of one event may take in the envelope.
    public static let maxHeadersLength = Int(UInt16.max)
    static let flagKey: UInt8 = 1, flagContentType: UInt8 = 2, flagOrigin: UInt8 = 4, flagSource: UInt8 = 8,
               flagHeaders: UInt8 = 16
    static let knownFlags: UInt8 = 31

    /// The body of `event` whose payload is already encoded as `payloadJSON`.
    /// - Throws: ``EventRecordError`` when a field is out of its limits (key, content type, origin, headers).
    public static func body(of event: Event, payloadJSON: [UInt8]) throws(EventRecordError) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(fixedSize + (event.idempotencyKey?.utf8.count ?? 0) + payloadJSON.count)
        try appendHeader(of: event, to: &out)
        out += payloadJSON
        return out
    }

    /// The body of `event`: its envelope, then its payload's bytes (as they are, or the value encoded).
    public static func body(of event: Event) throws(EventRecordError) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(64)
        try appendHeader(of: event, to: &out)
        event.body.append(to: &out)
        return out
    }

    /// Appends the envelope of `event` (everything before the payload) to `out`. The source identity is
    /// the event's own when it was already committed somewhere (a replay, a forward), so it survives.
    static func appendHeader(of event: Event, to out: inout [UInt8]) throws(EventRecordError) {
        let keyCount = event.idempotencyKey?.utf8.count ?? 0
        guard keyCount <= maxKeyLength else {
            throw EventRecordError(offset: 2, reason: "idempotency key of \(keyCount) bytes exceeds \(maxKeyLength)")
        }
        // The content type says what the bytes are: raw bytes need one, a JSON payload must not have one
        // (Event's setter keeps them agreeing; this is the last line of defence before another process).
        guard event.body.isJSON == (event.contentType == nil) else {
            throw EventRecordError(offset: 4, reason: event.contentType == nil
                ? "raw payload bytes without a content type" : "a JSON payload with content type '\(event.contentType!)'")
        }
        let contentType = event.contentType.map { Array($0.utf8) } ?? []
        if event.contentType != nil {
            guard (1...maxContentTypeLength).contains(contentType.count), contentType.allSatisfy(isVisibleASCII) else {
                throw EventRecordError(offset: 4, reason: "content type must be 1-\(maxContentTypeLength) bytes of visible ASCII")
            }
        }
        let origin = event.origin.map { Array($0.utf8) } ?? []
        guard origin.count <= maxOriginLength, event.origin == nil || !origin.isEmpty else {
            throw EventRecordError(offset: 5, reason: "origin must be 1-\(maxOriginLength) bytes")
        }
        let source = event.sourceIdentity ?? (event.identity == .unassigned ? nil : event.identity)
        if let source, UInt32(exactly: source.stream) == nil {
            throw EventRecordError(offset: 16, reason: "source identity stream \(source.stream) is out of range")
        }
        let headers = event.headers
        var headerBytes = [UInt8]()
        if !headers.isEmpty {
            for (name, value) in headers.sorted(by: { $0.key < $1.key }) { // sorted: equal events, equal bytes
                let n = Array(name.utf8), v = Array(value.utf8)
                guard (1...255).contains(n.count), n.allSatisfy(isHeaderNameByte) else {
                    throw EventRecordError(offset: 6, reason: "header name '\(name)' must be 1-255 bytes of visible ASCII without ':'")
                }
                guard v.count <= Int(UInt16.max), !v.contains(where: isForbiddenInHeaderValue) else {
                    throw EventRecordError(offset: 6, reason: "header '\(name)' has a value over 65535 bytes or with CR, LF or NUL")
                }
                headerBytes.append(UInt8(n.count))
                headerBytes += n
                appendLittleEndian(UInt16(v.count), to: &headerBytes)
                headerBytes += v
            }
            guard headerBytes.count <= maxHeadersLength else {
                throw EventRecordError(offset: 6, reason: "headers take \(headerBytes.count) bytes, more than \(maxHeadersLength)")
            }
        }
        var flags: UInt8 = 0
        if event.idempotencyKey != nil { flags |= flagKey }
        if event.contentType != nil { flags |= flagContentType }
        if event.origin != nil { flags |= flagOrigin }
        if source != nil { flags |= flagSource }
        if !headers.isEmpty { flags |= flagHeaders }
        // The 16 fixed bytes in one append.
        var fixed: (UInt64, UInt64) = (0, 0)
        // Version 1 when it can say it all (a key at most): readers of the build before issue 13 on the
        // same bus keep reading such events during a rolling upgrade.
        let version = flags & ~flagKey == 0 ? 1 : formatVersion
        withUnsafeMutableBytes(of: &fixed) { f in
            f[0] = version
            f[1] = flags
            f.storeBytes(of: UInt16(keyCount).littleEndian, toByteOffset: 2, as: UInt16.self)
            f[4] = UInt8(contentType.count)
            f[5] = UInt8(origin.count)
            f.storeBytes(of: UInt16(headerBytes.count).littleEndian, toByteOffset: 6, as: UInt16.self)
            f.storeBytes(of: UInt64(bitPattern: wallClockNanoseconds(event.timestamp)).littleEndian, toByteOffset: 8,
                         as: UInt64.self)
        }
        withUnsafeBytes(of: &fixed) { out.append(contentsOf: $0) }
        if let source {
            appendLittleEndian(source.incarnation, to: &out)
            appendLittleEndian(UInt32(truncatingIfNeeded: source.stream), to: &out)
            appendLittleEndian(UInt32(0), to: &out)
            appendLittleEndian(source.sequence, to: &out)
        }
        if let key = event.idempotencyKey { out.append(contentsOf: key.utf8) }
        out += contentType
        out += origin
        out += headerBytes
    }

    static func isVisibleASCII(_ b: UInt8) -> Bool { b > 0x20 && b < 0x7f }
    /// What a header name and value may hold: the one rule, for the encoder and the decoder.
    static func isHeaderNameByte(_ b: UInt8) -> Bool { isVisibleASCII(b) && b != UInt8(ascii: ":") }
    static func isForbiddenInHeaderValue(_ b: UInt8) -> Bool { b == 0 || b == 0x0A || b == 0x0D }

    /// True when `body` starts like an envelope (long enough, a version this build reads): an invalid one
    /// is an event gone wrong (dead-lettered); anything else is not an event at all (a zero-copy publish
    /// of other bytes on the same bus) and is only counted.
    static func isEnvelope(_ body: UnsafeRawBufferPointer) -> Bool {
        body.count >= fixedSize && (body[0] == 1 || body[0] == 2)
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
        var storage: PayloadBytes? = nil
        return try decode(topicText: topicText, body: body, identity: identity, reusing: &storage)
    }

    /// ``decode(topicText:body:identity:)`` that copies the payload into `storage` when the caller holds
    /// its only reference (a subscriber's pool: no allocation per event), else into a new object that it
    /// leaves in `storage`.
    static func decode(topicText: String, body: UnsafeRawBufferPointer, identity: EventIdentity,
                       reusing storage: inout PayloadBytes?) throws(EventRecordError) -> Event
    {
        guard body.count >= fixedSize else {
            throw EventRecordError(offset: body.count, reason: "body of \(body.count) bytes is shorter than \(fixedSize)")
        }
        let version = body[0]
        guard version == 1 || version == 2 else {
            throw EventRecordError(offset: 0, reason: "envelope version \(version), this build reads 1 and 2")
        }
        let flags = body[1]
        let allowed = version == 1 ? flagKey : knownFlags
        guard flags & ~allowed == 0 else { throw EventRecordError(offset: 1, reason: "unknown flags \(flags)") }
        let keyLength = Int(readLittleEndian(UInt16.self, body, at: 2))
        let contentTypeLength = Int(body[4]), originLength = Int(body[5])
        let headersLength = Int(readLittleEndian(UInt16.self, body, at: 6))
        if version == 1, readLittleEndian(UInt32.self, body, at: 4) != 0 {
            throw EventRecordError(offset: 4, reason: "reserved bytes are not 0")
        }
        // Each length is 0 exactly when its flag is clear (four checks, no array: this runs per event).
        // The key: a set flag with length 0 is the empty key (version 1 wrote it so); a length without
        // the flag is refused.
        if flags & flagKey == 0, keyLength != 0 {
            throw EventRecordError(offset: 2, reason: "the key length \(keyLength) disagrees with the flags \(flags)")
        }
        try lengthAgrees(flags, flagContentType, contentTypeLength, at: 4, "content type")
        try lengthAgrees(flags, flagOrigin, originLength, at: 5, "origin")
        try lengthAgrees(flags, flagHeaders, headersLength, at: 6, "headers")
        guard keyLength <= maxKeyLength else {
            throw EventRecordError(offset: 2, reason: "key length \(keyLength) exceeds \(maxKeyLength)")
        }
        let nanos = Int64(bitPattern: readLittleEndian(UInt64.self, body, at: 8))
        var at = fixedSize
        var source: EventIdentity? = nil
        if flags & flagSource != 0 {
            guard body.count - at >= sourceIdentitySize else {
                throw EventRecordError(offset: at, reason: "the source identity runs past the body (\(body.count) bytes)")
            }
            guard readLittleEndian(UInt32.self, body, at: at + 12) == 0 else {
                throw EventRecordError(offset: at + 12, reason: "reserved bytes of the source identity are not 0")
            }
            source = EventIdentity(incarnation: readLittleEndian(UInt64.self, body, at: at),
                                   stream: Int(readLittleEndian(UInt32.self, body, at: at + 8)),
                                   sequence: readLittleEndian(UInt64.self, body, at: at + 16))
            at += sourceIdentitySize
        }
        /// The next `length` bytes, or an error naming the field that runs past the body.
        func field(_ length: Int, _ name: String) throws(EventRecordError) -> UnsafeRawBufferPointer {
            guard body.count - at >= length else {
                throw EventRecordError(offset: at, reason: "the \(name) (\(length) bytes) runs past the body (\(body.count) bytes)")
            }
            defer { at += length }
            return UnsafeRawBufferPointer(rebasing: body[at ..< at + length])
        }
        func text(_ bytes: UnsafeRawBufferPointer, _ name: String, from start: Int) throws(EventRecordError) -> String {
            guard let s = try? JSONParser.validUTF8(bytes, at: start) else {
                throw EventRecordError(offset: start, reason: "the \(name) is not UTF-8")
            }
            return s
        }
        var key: String? = nil
        if flags & flagKey != 0 { let start = at; key = try text(try field(keyLength, "key"), "idempotency key", from: start) }
        var contentType: String? = nil
        if contentTypeLength > 0 {
            let start = at
            let ct = try field(contentTypeLength, "content type")
            guard ct.allSatisfy(isVisibleASCII) else {
                throw EventRecordError(offset: start, reason: "the content type is not visible ASCII")
            }
            contentType = String(decoding: ct, as: UTF8.self)
        }
        var origin: String? = nil
        if originLength > 0 { let start = at; origin = try text(try field(originLength, "origin"), "origin", from: start) }
        var headers: [String: String] = [:]
        if headersLength > 0 {
            let block = try field(headersLength, "headers")
            headers = try decodeHeaders(block, at: at - headersLength)
        }
        let payloadStart = at
        let payload = UnsafeRawBufferPointer(rebasing: body[payloadStart...])
        let isJSON = contentType == nil
        if isJSON {
            do { try JSONValidation.validate(payload) } catch {
                throw EventRecordError(offset: payloadStart + error.offset, reason: "payload: \(error.reason)")
            }
        }
        // Reused when only the caller holds it, and not far larger than needed (one huge payload must not
        // pin its size in every place of a subscriber's pool).
        if storage != nil, isKnownUniquelyReferenced(&storage!), storage!.bytes.capacity <= max(64 << 10, 4 * payload.count) {
            storage!.refill(payload, isJSON: isJSON)
        } else {
            storage = PayloadBytes(validated: Array(payload), isJSON: isJSON)
        }
        return Event(topic: topicText, body: .bytes(storage!), timestamp: date(wallClockNanoseconds: nanos),
                     identity: identity, idempotencyKey: key, contentType: contentType,
                     extras: EventExtras.make(contentType: nil, origin: origin, headers: headers, sourceIdentity: source))
    }

    @inline(__always)
    private static func lengthAgrees(_ flags: UInt8, _ flag: UInt8, _ length: Int, at offset: Int, _ name: StaticString)
        throws(EventRecordError)
    {
        if (flags & flag != 0) != (length != 0) {
            throw EventRecordError(offset: offset, reason: "the \(name) length \(length) disagrees with the flags \(flags)")
        }
    }

    /// The headers block: entries of name length, name, value length, value (see the table above).
    private static func decodeHeaders(_ block: UnsafeRawBufferPointer, at base: Int) throws(EventRecordError) -> [String: String] {
        var headers: [String: String] = [:]
        var i = 0
        while i < block.count {
            let nameLength = Int(block[i])
            guard nameLength > 0, block.count - i - 1 >= nameLength + 2 else {
                throw EventRecordError(offset: base + i, reason: "a header name of \(nameLength) bytes runs past the headers")
            }
            let name = UnsafeRawBufferPointer(rebasing: block[(i + 1) ..< (i + 1 + nameLength)])
            guard name.allSatisfy(isHeaderNameByte) else {
                throw EventRecordError(offset: base + i + 1, reason: "a header name is not visible ASCII without ':'")
            }
            i += 1 + nameLength
            let valueLength = Int(readLittleEndian(UInt16.self, block, at: i))
            i += 2
            guard block.count - i >= valueLength else {
                throw EventRecordError(offset: base + i, reason: "a header value of \(valueLength) bytes runs past the headers")
            }
            let value = UnsafeRawBufferPointer(rebasing: block[i ..< (i + valueLength)])
            guard !value.contains(where: isForbiddenInHeaderValue),
                  let v = try? JSONParser.validUTF8(value, at: 0) else {
                throw EventRecordError(offset: base + i, reason: "a header value is not UTF-8 without CR, LF and NUL")
            }
            let n = String(decoding: name, as: UTF8.self)
            guard headers.updateValue(v, forKey: n) == nil else {
                throw EventRecordError(offset: base + i, reason: "header '\(n)' appears twice")
            }
            i += valueLength
        }
        return headers
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
