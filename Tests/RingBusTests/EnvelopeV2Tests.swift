// EnvelopeV2Tests.swift: envelope version 2 (Docs/LAYOUT.md §9): content type, origin, headers and the
// source identity round-trip; version-1 bodies are still read; each new field's corruption is refused
// with its offset; payload bytes are kept as they arrived and decoded only when read (issue 13).

import Foundation
@testable import RingBus
import Testing

private func decode(_ topic: String, _ body: [UInt8], _ identity: EventIdentity = .unassigned) throws -> Event {
    try Array(topic.utf8).withUnsafeBytes { tp in
        try body.withUnsafeBytes { bp in try EventRecord.decode(topic: tp, body: bp, identity: identity) }
    }
}

private func offset(_ body: [UInt8]) -> Int? {
    do { _ = try decode("t", body); return nil } catch let e as EventRecordError { return e.offset } catch { return -1 }
}

struct Order: Codable, Equatable { var id: Int; var total: Double; var note: String }

@Suite("envelope version 2 and payload bytes")
struct EnvelopeV2Tests {
    static func full() -> Event {
        var e = Event(topic: "camera.frame", bytes: [0xFF, 0xD8, 0x00, 0x0A], contentType: "image/jpeg", idempotencyKey: "k-1")
        e.origin = "host-a/orders"
        e.headers = ["trace-id": "abc", "x-tenant": "ünï"]
        e.sourceIdentity = EventIdentity(incarnation: 0x1234_5678_9ABC, stream: 5, sequence: 77)
        return e
    }

    @Test("every field of version 2 round-trips; the identity of the first commit survives")
    func roundTrip() throws {
        let e = Self.full()
        let body = try EventRecord.body(of: e)
        #expect(body[0] == 2 && body[1] == 31)
        let id = EventIdentity(incarnation: 9, stream: 1, sequence: 3)
        let back = try decode("camera.frame", body, id)
        #expect(back.contentType == "image/jpeg" && back.payloadBytes == [0xFF, 0xD8, 0x00, 0x0A])
        #expect(back.payload == .null && !back.isJSON)
        #expect(back.origin == "host-a/orders" && back.headers == ["trace-id": "abc", "x-tenant": "ünï"])
        #expect(back.sourceIdentity == e.sourceIdentity && back.originalIdentity == e.sourceIdentity && back.identity == id)
        #expect(back.idempotencyKey == "k-1")

        // A committed event published again (a replay, a forward) records its identity as the source.
        var committed = Event(topic: "t", payload: 1)
        committed.identity = EventIdentity(incarnation: 2, stream: 0, sequence: 10)
        let again = try decode("t", try EventRecord.body(of: committed), EventIdentity(incarnation: 3, stream: 0, sequence: 0))
        #expect(again.sourceIdentity == committed.identity && again.originalIdentity == committed.identity)

        // Found by an outside attack: `.unassigned` as a source identity travelled as 0:0:0.
        var unassigned = Event(topic: "t", payload: 1)
        unassigned.sourceIdentity = .unassigned
        #expect(unassigned.sourceIdentity == nil)
        let fresh = try decode("t", try EventRecord.body(of: unassigned), id)
        #expect(fresh.sourceIdentity == nil && fresh.originalIdentity == id)
    }

    @Test("a version-1 body (as the build before issue 13 wrote it) is still read")
    func versionOne() throws {
        var v1: [UInt8] = [1, 1, 3, 0, 0, 0, 0, 0]
        withUnsafeBytes(of: Int64(1_700_000_000_000_000_000).littleEndian) { v1 += $0 }
        v1 += Array("key".utf8) + Array(#"{"a":1}"#.utf8)
        let e = try decode("t", v1)
        #expect(e.idempotencyKey == "key" && e.payload == ["a": 1] && e.contentType == nil && e.extras == nil)
        v1[5] = 1 // version 1 had these bytes reserved
        #expect(offset(v1) == 4)
    }

    @Test("each new field's corruption is refused with its own offset")
    func corruptions() throws {
        let good = try EventRecord.body(of: Self.full())
        func corrupt(_ edit: (inout [UInt8]) -> Void) -> Int? {
            var b = good
            edit(&b)
            return offset(b)
        }
        #expect(offset(good) == nil)
        #expect(corrupt { $0[1] = 0x20 | 31 } == 1) // unknown flag
        #expect(corrupt { $0[1] &= ~2 } == 4) // content type without its flag
        #expect(corrupt { $0[5] = 0 } == 5) // origin flag without a length
        #expect(corrupt { $0[16 + 12] = 1 } == 28) // reserved word of the source identity
        let ctStart = 16 + 24 + 3
        #expect(corrupt { $0[ctStart] = 0x20 } == ctStart) // a space in the content type
        let originStart = ctStart + "image/jpeg".utf8.count
        #expect(corrupt { $0[originStart] = 0xC3 } == originStart) // the origin is not UTF-8
        let headersStart = originStart + "host-a/orders".utf8.count
        #expect(corrupt { $0[headersStart] = 0 } == headersStart) // a header name of 0 bytes
        #expect(corrupt { $0[headersStart + 1] = UInt8(ascii: ":") } == headersStart + 1) // ':' in a name
        #expect(corrupt { $0[6] = 0xFF; $0[7] = 0xFF } != nil) // headers length past the body
        // The two headers with equal names: the second name made equal to the first.
        var twice = good
        let second = headersStart + 1 + "trace-id".utf8.count + 2 + 3
        twice.replaceSubrange((second + 1)..<(second + 1 + 8), with: Array("trace-id".utf8))
        #expect(offset(twice) != nil)
    }

    @Test("limits are checked when encoding: content type, origin, header names and values")
    func encodingLimits() {
        var e = Event(topic: "t", bytes: [1], contentType: "has space")
        #expect(throws: EventRecordError.self) { try EventRecord.body(of: e) }
        e = Event(topic: "t", payload: 1)
        e.origin = String(repeating: "o", count: 256)
        #expect(throws: EventRecordError.self) { try EventRecord.body(of: e) }
        e.origin = nil
        e.headers = ["a:b": "v"]
        #expect(throws: EventRecordError.self) { try EventRecord.body(of: e) }
        e.headers = ["a": "line\nbreak"]
        #expect(throws: EventRecordError.self) { try EventRecord.body(of: e) }
    }

    @Test("payload bytes are kept as they arrived and decoded once, at the first read")
    func lazyPayload() throws {
        let spaced = Array(#"{ "b" : [1, 2.5, "x"], "a" : null }"#.utf8) // not our canonical spelling
        let e = try Event(topic: "t", jsonBytes: spaced)
        #expect(e.payloadBytes == spaced) // forwarded as they are, never re-encoded
        guard case .bytes(let storage) = e.body else { Issue.record("not stored as bytes"); return }
        #expect(storage.decoded.withLock { $0 } == nil) // nothing decoded yet
        #expect(e.payload == ["a": nil, "b": [1, 2.5, "x"]])
        #expect(storage.decoded.withLock { $0 } != nil) // decoded once, kept
        // Equality is on the decoded value: the canonical encoding of the same value is equal.
        var canonical = e
        canonical.payload = ["a": nil, "b": [1, 2.5, "x"]]
        #expect(canonical == e && canonical.hashValue == e.hashValue)
        #expect(throws: JSONDecodingError.self) { _ = try Event(topic: "t", jsonBytes: Array("{1}".utf8)) }
    }

    @Test("Codable values: encoded once to JSON bytes, decoded back; raw payloads refuse to decode as JSON")
    func typedPayloads() throws {
        let order = Order(id: 7, total: 12.5, note: "ünï \"q\"")
        let e = try Event(topic: "orders", encoding: order)
        #expect(try e.decode(Order.self) == order)
        #expect(e.payload["id"] == 7 && e.isJSON)
        #expect(throws: DecodingError.self) { _ = try Self.full().decode(Order.self) }
        #expect(throws: DecodingError.self) { _ = try Event(topic: "t", payload: ["id": "x"]).decode(Order.self) }
    }
    @Test("the two bodies printed in Docs/LAYOUT.md §8.4 decode to the fields the doc names")
    func layoutDocExamples() throws {
        func hex(_ s: String) -> [UInt8] {
            let digits = Array(s.filter(\.isHexDigit))
            return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
        }
        let one = try decode("order.created", hex("01010700000000002" + "4a013e3ba82ec186f726465722d377b226964223a377d"))
        #expect(one.idempotencyKey == "order-7" && one.payload == ["id": 7])
        #expect(EventRecord.wallClockNanoseconds(one.timestamp) / 1000 == 1_795_954_090_599_227) // 2026-11-29T12:08:10.599227Z
        let two = try decode("t", hex("""
            021e000016060e0024a013e3ba82ec18887766554433221103000000000000002a00000000000000
            6170706c69636174696f6e2f782d70726f746f627566686f73742d610874726163652d696403006162630807
            """))
        #expect(two.contentType == "application/x-protobuf" && two.origin == "host-a" && two.headers == ["trace-id": "abc"])
        #expect(two.sourceIdentity == EventIdentity(incarnation: 0x1122_3344_5566_7788, stream: 3, sequence: 42))
        #expect(two.payloadBytes == [0x08, 0x07] && two.idempotencyKey == nil)
    }
    @Test("an empty idempotency key round-trips (a set flag with length 0), in both versions")
    func emptyKey() throws {
        let body = try EventRecord.body(of: Event(topic: "t", payload: 1, idempotencyKey: ""))
        #expect(body[0] == 1 && body[1] == 1 && body[2] == 0)
        #expect(try decode("t", body).idempotencyKey == "")
        var v2 = body
        v2[0] = 2
        #expect(try decode("t", v2).idempotencyKey == "")
    }

    @Test("version 1 is written when it says it all (a key at most), so older readers keep reading")
    func writesVersionOneWhenItCan() throws {
        #expect(try EventRecord.body(of: Event(topic: "t", payload: 1))[0] == 1)
        #expect(try EventRecord.body(of: Event(topic: "t", payload: 1, idempotencyKey: "k"))[0] == 1)
        var e = Event(topic: "t", payload: 1)
        e.origin = "o"
        #expect(try EventRecord.body(of: e)[0] == 2)
    }

    @Test("the content type and the payload's bytes always agree")
    func contentTypeAgreesWithBytes() throws {
        var json = Event(topic: "t", payload: ["a": 1])
        json.timestamp = Date(timeIntervalSince1970: 1_700_000_000.5) // exact through nanoseconds and back
        json.contentType = "application/json+custom" // relabelled: its JSON text becomes raw bytes
        #expect(!json.isJSON && json.payloadBytes == Array(#"{"a":1}"#.utf8) && json.payload == .null)
        var back = try decode("t", try EventRecord.body(of: json))
        #expect(back == json)
        back.contentType = nil // the bytes are JSON: a JSON payload again
        #expect(back.isJSON && back.payload == ["a": 1])
        var raw = Event(topic: "t", bytes: [0xFF], contentType: "application/octet-stream")
        raw.contentType = nil // not JSON: stays raw, and publishing refuses it
        #expect(!raw.isJSON)
        #expect(throws: EventRecordError.self) { try EventRecord.body(of: raw) }
    }
}
