// JSONValueTests.swift: literals, exact numbers, deterministic encoding, strict decoding of untrusted
// bytes, and agreement with Foundation's JSONSerialization on what both accept.

import Foundation
import RingBus
import Testing

@Suite("JSONValue")
struct JSONValueTests {
    @Test("literals build the expected values, and integers stay integers")
    func literals() {
        let v: JSONValue = ["user_id": 123, "ratio": 0.5, "ok": true, "tags": ["a", "b"], "none": nil]
        #expect(v["user_id"] == .int(123))
        #expect(v["ratio"] == .double(0.5))
        #expect(v["ok"]?.boolValue == true)
        #expect(v["tags"]?[1] == .string("b"))
        #expect(v["none"]?.isNull == true)
        #expect(v["missing"] == nil && v[0] == nil)
        #expect(JSONValue.int(1) != JSONValue.double(1))
        #expect(v["user_id"]?.doubleValue == 123)
    }

    @Test("encoding is compact with sorted keys, so equal values give equal bytes")
    func deterministicEncoding() {
        let a: JSONValue = ["b": 1, "a": [true, nil, "x"], "c": ["z": 1, "y": 2.5]]
        var reordered = [String: JSONValue]()
        for k in ["c", "a", "b"] { reordered[k] = a[k] }
        #expect(a.description == #"{"a":[true,null,"x"],"b":1,"c":{"y":2.5,"z":1}}"#)
        #expect(JSONValue.object(reordered).encodedBytes() == a.encodedBytes())
    }

    @Test("objects of 0 to 40 random keys encode every member once, keys in String order (the stack sort)")
    func sortedKeysRandomObjects() throws {
        var rng = SystemRandomNumberGenerator()
        for size in 0...40 {
            var members: [String: JSONValue] = [:]
            while members.count < size {
                let key = String((0..<Int.random(in: 1...6, using: &rng)).map { _ in "abcXYZ_.é".randomElement(using: &rng)! })
                members[key] = .int(Int64(members.count))
            }
            let text = String(decoding: JSONValue.object(members).encodedBytes(), as: UTF8.self)
            let back = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Int]
            #expect(back == members.mapValues { Int($0.intValue!) }, "size \(size)")
            // Keys appear in the encoding in String order (each is delimited by quotes, so found exactly).
            let order = members.keys.sorted { text.range(of: "\"\($0)\"")!.lowerBound < text.range(of: "\"\($1)\"")!.lowerBound }
            #expect(order == members.keys.sorted(), "size \(size)")
        }
    }

    @Test("strings escape quotes, backslashes and control characters, and keep Unicode")
    func stringEscapes() throws {
        let s: JSONValue = .string("q\"b\\n\n\t\u{01}é😀")
        #expect(s.description == #""q\"b\\n\n\t\u0001é😀""#)
        #expect(try JSONValue(parsing: s.description) == s)
    }

    @Test("numbers: exact 64-bit integers, doubles that round-trip, the extremes", arguments: [
        ("0", JSONValue.int(0)), ("-0", .int(0)), ("9223372036854775807", .int(.max)),
        ("-9223372036854775808", .int(.min)), ("9223372036854775808", .double(9223372036854775808)),
        ("1.5", .double(1.5)), ("1e3", .double(1000)), ("-2.5E-3", .double(-0.0025)),
        ("0.1", .double(0.1)), ("123456789012", .int(123456789012)),
    ])
    func numbers(text: String, value: JSONValue) throws {
        #expect(try JSONValue(parsing: text) == value)
        #expect(try JSONValue(decoding: value.encodedBytes()) == value)
    }

    @Test("the decoder rejects what is not one strict JSON document", arguments: [
        "", " ", "nul", "tru", "01", "-", "1.", ".5", "1e", "+1", "[1,]", "[1 2]", "{\"a\" 1}", "{\"a\":}",
        "{1:2}", "{\"a\":1,}", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00x\"", "NaN",
        "Infinity", "[1]]", "1 2", "\"tab\there\"", "1e400",
    ])
    func rejectsInvalid(text: String) {
        #expect(throws: JSONDecodingError.self) { try JSONValue(parsing: text) }
    }

    @Test("invalid UTF-8 in a string is an error with the offset of the bad byte itself")
    func invalidUTF8() {
        let bytes: [UInt8] = [0x22, 0x61, 0xC3, 0x28, 0x22]
        #expect(throws: JSONDecodingError(offset: 2, reason: "invalid UTF-8 in a string")) {
            try JSONValue(decoding: bytes)
        }
    }

    @Test("nesting deeper than the limit is refused instead of exhausting the stack")
    func depthLimit() throws {
        let ok = String(repeating: "[", count: JSONValue.maximumDepth) + String(repeating: "]", count: JSONValue.maximumDepth)
        #expect(try JSONValue(parsing: ok).arrayValue != nil)
        let deep = String(repeating: "[", count: 100_000)
        #expect(throws: JSONDecodingError.self) { try JSONValue(parsing: deep) }
    }

    @Test("surrogate pairs decode to one scalar")
    func surrogates() throws {
        #expect(try JSONValue(parsing: #""\ud83d\ude00""#) == .string("😀"))
    }

    @Test("random values round-trip through bytes and agree with Foundation's JSONSerialization")
    func roundTripAndFoundationAgreement() throws {
        var rng = SystemRandomNumberGenerator()
        func random(_ depth: Int) -> JSONValue {
            switch Int.random(in: 0...(depth > 3 ? 4 : 6), using: &rng) {
            case 0: return .null
            case 1: return .bool(Bool.random(using: &rng))
            case 2: return .int(Int64.random(in: -1_000_000_000_000...1_000_000_000_000, using: &rng))
            case 3: return .double(Double.random(in: -1e6...1e6, using: &rng))
            case 4: return .string(String((0..<Int.random(in: 0...12, using: &rng)).map { _ in
                    "aZ9 \"\\\n\u{1}é😀".randomElement(using: &rng)! }))
            case 5: return .array((0..<Int.random(in: 0...4, using: &rng)).map { _ in random(depth + 1) })
            default:
                var o = [String: JSONValue]()
                for i in 0..<Int.random(in: 0...4, using: &rng) { o["k\(i)\(Int.random(in: 0...9, using: &rng))"] = random(depth + 1) }
                return .object(o)
            }
        }
        for _ in 0..<500 {
            let v = random(0)
            let bytes = v.encodedBytes()
            #expect(try JSONValue(decoding: bytes) == v)
            // Foundation parses our bytes, and its output parses back to the same value.
            let f = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
            let again = try JSONSerialization.data(withJSONObject: f, options: [.fragmentsAllowed, .sortedKeys])
            let back = try JSONValue(decoding: [UInt8](again))
            #expect(back.encodedBytes().count > 0)
            #expect(numbersLoose(back) == numbersLoose(v))
        }
    }

    @Test("Codable works inside other Codable types")
    func codable() throws {
        struct Envelope: Codable, Equatable { var id: Int; var body: JSONValue }
        let e = Envelope(id: 7, body: ["a": [1, 2.5, "x", nil, true]])
        let data = try JSONEncoder().encode(e)
        #expect(try JSONDecoder().decode(Envelope.self, from: data) == e)
    }
}

/// Foundation may turn 2.0 into 2 and back: compare numbers by value only.
func numbersLoose(_ v: JSONValue) -> JSONValue {
    switch v {
    case .int(let i): return .double(Double(i))
    case .double: return v
    case .array(let a): return .array(a.map(numbersLoose))
    case .object(let o): return .object(o.mapValues(numbersLoose))
    default: return v
    }
}
