// PayloadEncoderTests.swift: RingBus's Codable encoder (Event(topic:encoding:)) writes what Foundation's
// JSONEncoder writes, as JSON values (member order aside): every kind of value a Codable type meets
// (integers at their limits, floats, strings with escapes and non-ASCII, optionals, arrays, nested and
// keyed-by-Int dictionaries, enums with associated values, Data, Date, URL, Decimal, a class hierarchy
// with superEncoder), read back by Foundation's JSONDecoder as the same value; NaN and infinity and
// nesting past 512 are errors, as they are for JSONEncoder and the bus's decoder.

import Foundation
@testable import RingBus
import Testing

private struct Everything: Codable, Equatable {
    enum Kind: Codable, Equatable { case plain, tagged(String), pair(a: Int, b: [Int8]) }
    struct Inner: Codable, Equatable { var name: String; var tags: [String]; var score: Double? }
    var i: Int = -42, i8: Int8 = .min, i16: Int16 = .max, i32: Int32 = .min, i64: Int64 = .max
    var u: UInt = 7, u8: UInt8 = .max, u16: UInt16 = .max, u32: UInt32 = .max, u64: UInt64 = .max
    var f: Float = 1.5, d: Double = -0.1, tiny: Double = 5e-324, big: Double = 1.7976931348623157e308
    var b = true, s = "a \"quoted\" \\ line\nnext\ttab \u{1} ünï 🎉", empty = ""
    var none: Int? = nil, some: String? = "x"
    var list = [1, 2, 3], nested = [[1], [], [2, 3]], inners = [Inner(name: "n", tags: ["a", "b"], score: nil)]
    var byName = ["b": 2, "a": 1], byNumber = [10: "ten", -1: "minus one"]
    var kinds: [Kind] = [.plain, .tagged("t"), .pair(a: 1, b: [-1, 2])]
    var data = Data([0, 1, 2, 250, 255]), date = Date(timeIntervalSinceReferenceDate: 123_456.789)
    var url = URL(string: "https://example.com/a%20b?q=1#f")!, decimal = Decimal(string: "12345.678901234567890")!
}

private class Base: Codable { var id = 1 }
private final class Derived: Base {
    var extra = "e"
    private enum Keys: CodingKey { case extra }
    override init() { super.init() }
    required init(from decoder: any Decoder) throws {
        extra = try decoder.container(keyedBy: Keys.self).decode(String.self, forKey: .extra)
        try super.init(from: decoder.container(keyedBy: Keys.self).superDecoder())
    }
    override func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(extra, forKey: .extra)
        try super.encode(to: c.superEncoder())
    }
}

@Suite("Codable payloads without Foundation's encoder")
struct PayloadEncoderTests {
    @Test("every kind of value reads back through JSONDecoder, and equals JSONEncoder's output as JSON")
    func everything() throws {
        let value = Everything()
        let ours = try encodePayload(value)
        #expect(try JSONDecoder().decode(Everything.self, from: Data(ours)) == value)
        let theirs = try JSONEncoder().encode(value)
        #expect(try JSONValue(decoding: ours) == JSONValue(decoding: Array(theirs)))
        let e = try Event(topic: "t", encoding: value)
        #expect(try e.decode(Everything.self) == value)
        #expect(e.payload["u64"]?.doubleValue == Double(UInt64.max)) // beyond Int64: written exactly, read as a double
    }

    @Test("top-level single values, a class hierarchy through superEncoder, members in encoding order")
    func shapes() throws {
        #expect(try encodePayload(7) == Array("7".utf8))
        #expect(try encodePayload("s") == Array("\"s\"".utf8))
        #expect(try encodePayload([Int?.none, 1]) == Array("[null,1]".utf8))
        #expect(try encodePayload(Everything.Inner(name: "n", tags: [], score: 2)) == Array(#"{"name":"n","tags":[],"score":2.0}"#.utf8))
        let d = try encodePayload(Derived())
        #expect(String(decoding: d, as: UTF8.self) == #"{"extra":"e","super":{"id":1}}"#)
        #expect(try JSONDecoder().decode(Derived.self, from: Data(d)).extra == "e")
    }

    @Test("NaN, infinity and nesting past 512 are errors; exactly 512 is accepted")
    func refusals() throws {
        #expect(throws: EncodingError.self) { _ = try encodePayload(Double.nan) }
        #expect(throws: EncodingError.self) { _ = try encodePayload(["x": Float.infinity]) }
        #expect(throws: EncodingError.self) { _ = try Event(topic: "t", encoding: [-Double.infinity]) }
        struct Deep: Encodable {
            let levels: Int
            func encode(to encoder: any Encoder) throws {
                var c = encoder.unkeyedContainer()
                if levels > 1 { try c.encode(Deep(levels: levels - 1)) }
            }
        }
        #expect(throws: EncodingError.self) { _ = try encodePayload(Deep(levels: JSONValue.maximumDepth + 1)) }
        let ok = try encodePayload(Deep(levels: JSONValue.maximumDepth))
        #expect(throws: Never.self) { _ = try JSONValue(decoding: ok) }
    }
}
