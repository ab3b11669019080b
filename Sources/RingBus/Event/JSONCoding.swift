// JSONCoding.swift: JSONValue to and from UTF-8 bytes, without Foundation.
//
// The encoder writes compact JSON with object keys sorted, so equal values encode to equal bytes. The
// decoder is strict (RFC 8259: one value, no trailing garbage, valid UTF-8, no leading zeros, no NaN)
// and treats its input as untrusted: nesting is limited, every index is bounds-checked, and errors say
// where and why.

#if canImport(Glibc)
import Glibc
#endif

/// Why bytes are not a JSON document.
public struct JSONDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Byte offset where decoding failed.
    public var offset: Int
    /// What was wrong there.
    public var reason: String

    /// An error at byte `offset`.
    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

extension JSONValue {
    /// The deepest nesting the decoder accepts (arrays and objects), so hostile input cannot exhaust
    /// the stack.
    public static let maximumDepth = 512

    /// True when arrays and objects nest deeper than `limit` (the value itself is depth 1 when it is
    /// an array or object). Looks no deeper than `limit + 1`, so it cannot exhaust the stack itself.
    func nestsDeeper(than limit: Int) -> Bool {
        switch self {
        case .array(let a): limit <= 0 || a.contains { $0.nestsDeeper(than: limit - 1) }
        case .object(let o): limit <= 0 || o.values.contains { $0.nestsDeeper(than: limit - 1) }
        default: false
        }
    }

    /// Compact UTF-8 JSON, object keys sorted. Non-finite doubles (which `JSONValue` does not allow)
    /// encode as `null`.
    public func encodedBytes() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(64)
        encode(into: &out)
        return out
    }

    /// Appends this value's compact JSON to `out`.
    public func encode(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: JSONBytes.null)
        case .bool(let b): out.append(contentsOf: b ? JSONBytes.true : JSONBytes.false)
        case .int(let i): JSONBytes.appendInteger(i, to: &out)
        case .double(let d):
            if d.isFinite { out.append(contentsOf: d.description.utf8) } else { out.append(contentsOf: JSONBytes.null) }
        case .string(let s): JSONBytes.appendString(s, to: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                v.encode(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            if o.count <= 1 {
                for (key, value) in o { Self.appendMember(key, value, to: &out) } // nothing to sort
            } else {
                // Sorted keys without a heap allocation: the dictionary's indices, sorted on the stack
                // (insertion sort: objects of events are small), then each member by its index.
                withUnsafeTemporaryAllocation(of: Dictionary<String, JSONValue>.Index.self, capacity: o.count) { idx in
                    var n = 0
                    var i = o.startIndex
                    while i != o.endIndex {
                        var j = n
                        let key = o[i].key
                        while j > 0 && o[idx[j - 1]].key > key { j -= 1 }
                        if j < n { idx.baseAddress!.advanced(by: j + 1).moveInitialize(from: idx.baseAddress!.advanced(by: j), count: n - j) }
                        (idx.baseAddress! + j).initialize(to: i)
                        n += 1
                        o.formIndex(after: &i)
                    }
                    for k in 0..<n {
                        if k > 0 { out.append(UInt8(ascii: ",")) }
                        let member = o[idx[k]]
                        Self.appendMember(member.key, member.value, to: &out)
                    }
                    idx.baseAddress!.deinitialize(count: n)
                }
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static func appendMember(_ key: String, _ value: JSONValue, to out: inout [UInt8]) {
        JSONBytes.appendString(key, to: &out)
        out.append(UInt8(ascii: ":"))
        value.encode(into: &out)
    }

    /// Decodes one JSON document (surrounding whitespace allowed).
    public init(decoding bytes: some Collection<UInt8>) throws(JSONDecodingError) {
        let result: Result<JSONValue, JSONDecodingError>? = bytes.withContiguousStorageIfAvailable { buf in
            do throws(JSONDecodingError) { return .success(try JSONValue(decoding: UnsafeRawBufferPointer(buf))) }
            catch { return .failure(error) }
        }
        if let result { self = try result.get(); return }
        let copy = Array(bytes) // not contiguous: copy once
        self = try copy.withUnsafeBufferPointer { (buf) throws(JSONDecodingError) -> JSONValue in
            try JSONValue(decoding: UnsafeRawBufferPointer(buf))
        }
    }

    /// Decodes one JSON document from raw bytes (for example a payload view); the bytes are not kept.
    public init(decoding bytes: UnsafeRawBufferPointer) throws(JSONDecodingError) {
        var p = JSONParser(bytes: bytes)
        p.skipWhitespace()
        let v = try p.parseValue(depth: 0)
        p.skipWhitespace()
        guard p.index == bytes.count else { throw p.error("unexpected data after the value") }
        self = v
    }

    /// Decodes JSON text.
    public init(parsing text: String) throws(JSONDecodingError) {
        try self.init(decoding: Array(text.utf8))
    }
}

/// Checking bytes are one strict JSON document without decoding them: what a bus does with bytes that
/// arrive from another party before it hands them on (decoding waits until someone reads `payload`).
enum JSONValidation {
    /// Throws the error decoding would throw, at the same byte; allocates nothing (but for a string
    /// with escapes, which is checked the way it is decoded).
    static func validate(_ bytes: UnsafeRawBufferPointer) throws(JSONDecodingError) {
        var p = JSONParser(bytes: bytes, building: false)
        p.skipWhitespace()
        _ = try p.parseValue(depth: 0)
        p.skipWhitespace()
        guard p.index == bytes.count else { throw p.error("unexpected data after the value") }
    }
}

/// Byte-level helpers of the encoder.
enum JSONBytes {
    static let null = Array("null".utf8), `true` = Array("true".utf8), `false` = Array("false".utf8)
    private static let hex = Array("0123456789abcdef".utf8)

    static func appendInteger(_ value: Int64, to out: inout [UInt8]) {
        if value == 0 { out.append(UInt8(ascii: "0")); return }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0) // 24 bytes of scratch for 20 digits
        let count = withUnsafeMutableBytes(of: &digits) { raw -> Int in
            var n = 0
            while magnitude > 0 {
                raw[23 - n] = UInt8(truncatingIfNeeded: magnitude % 10) + UInt8(ascii: "0")
                magnitude /= 10
                n += 1
            }
            return n
        }
        if value < 0 { out.append(UInt8(ascii: "-")) }
        withUnsafeBytes(of: &digits) { raw in out.append(contentsOf: raw[(24 - count)...]) }
    }

    static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Fast path: nothing to escape (the common case), one copy of the contiguous UTF-8.
        var str = s
        let copied = str.withUTF8 { u -> Bool in
            let raw = UnsafeRawBufferPointer(u)
            guard JSONScan.plainRun(raw).length == raw.count else { return false } // eight bytes a step
            out.append(contentsOf: u)
            return true
        }
        if copied {
            out.append(UInt8(ascii: "\""))
            return
        }
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(b)
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(b)
            case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0..<0x20:
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                        hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// A strict recursive-descent JSON parser over untrusted bytes.
struct JSONParser {
    let bytes: UnsafeRawBufferPointer
    var index = 0
    /// False: only validate (the same checks, in the same order, with the same errors), building no
    /// values: no array, dictionary or String is made, so validating allocates nothing.
    let building: Bool

    init(bytes: UnsafeRawBufferPointer, building: Bool = true) {
        self.bytes = bytes
        self.building = building
    }

    func error(_ reason: String) -> JSONDecodingError { JSONDecodingError(offset: index, reason: reason) }

    var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func expect(_ literal: [UInt8], _ value: JSONValue) throws(JSONDecodingError) -> JSONValue {
        guard bytes.count - index >= literal.count else { throw error("truncated literal") }
        for (k, b) in literal.enumerated() where bytes[index + k] != b { throw error("invalid literal") }
        index += literal.count
        return value
    }

    mutating func parseValue(depth: Int) throws(JSONDecodingError) -> JSONValue {
        guard let c = peek else { throw error("expected a value, found the end") }
        switch c {
        case UInt8(ascii: "n"): return try expect(JSONBytes.null, .null)
        case UInt8(ascii: "t"): return try expect(JSONBytes.true, .bool(true))
        case UInt8(ascii: "f"): return try expect(JSONBytes.false, .bool(false))
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("unexpected byte 0x\(String(c, radix: 16))")
        }
    }

    mutating func parseArray(depth: Int) throws(JSONDecodingError) -> JSONValue {
        guard depth <= JSONValue.maximumDepth else { throw error("nested deeper than \(JSONValue.maximumDepth)") }
        index += 1
        var items = [JSONValue]()
        skipWhitespace()
        if peek == UInt8(ascii: "]") { index += 1; return .array(items) }
        while true {
            skipWhitespace()
            let item = try parseValue(depth: depth)
            if building { items.append(item) }
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"): index += 1; return .array(items)
            default: throw error("expected ',' or ']' in an array")
            }
        }
    }

    mutating func parseObject(depth: Int) throws(JSONDecodingError) -> JSONValue {
        guard depth <= JSONValue.maximumDepth else { throw error("nested deeper than \(JSONValue.maximumDepth)") }
        index += 1
        // Room for 8 members at once: an event's object usually has a few, and growing from empty
        // reallocated at the second member (one heap allocation per decoded event more, issue 13).
        var members = building ? [String: JSONValue](minimumCapacity: 8) : [:]
        skipWhitespace()
        if peek == UInt8(ascii: "}") { index += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard peek == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let key = try parseString()
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { throw error("expected ':' after a key") }
            index += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            if building { members[key] = value }
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"): index += 1; return .object(members)
            default: throw error("expected ',' or '}' in an object")
            }
        }
    }

    mutating func parseNumber() throws(JSONDecodingError) -> JSONValue {
        let start = index
        if peek == UInt8(ascii: "-") { index += 1 }
        guard let first = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            throw error("expected a digit")
        }
        if first == UInt8(ascii: "0") {
            index += 1
            if let n = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(n) { throw error("leading zero") }
        } else {
            while let d = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(d) { index += 1 }
        }
        var integral = true
        if peek == UInt8(ascii: ".") {
            integral = false
            index += 1
            guard let d = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(d) else {
                throw error("expected a digit after '.'")
            }
            while let d = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(d) { index += 1 }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            integral = false
            index += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
            guard let d = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(d) else {
                throw error("expected a digit in the exponent")
            }
            while let d = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(d) { index += 1 }
        }
        if integral, let i = Self.int64(bytes[start..<index]) { return .int(i) }
        guard let d = Self.double(bytes[start..<index]), d.isFinite else {
            throw JSONDecodingError(offset: start, reason: "number out of range")
        }
        return .double(d)
    }

    /// Parses a validated integer token; nil on 64-bit overflow (the caller then makes it a Double).
    static func int64(_ token: Slice<UnsafeRawBufferPointer>) -> Int64? {
        var negative = false
        var value: Int64 = 0
        for b in token {
            if b == UInt8(ascii: "-") { negative = true; continue }
            let digit = Int64(b - UInt8(ascii: "0"))
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = negative ? m.subtractingReportingOverflow(digit) : m.addingReportingOverflow(digit)
            if o1 || o2 { return nil }
            value = s
        }
        return value
    }

    /// Parses a validated number token with strtod on a NUL-terminated stack copy (no String).
    static func double(_ token: Slice<UnsafeRawBufferPointer>) -> Double? {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: token.count + 1) { buf in
            for (i, b) in token.enumerated() { buf[i] = CChar(bitPattern: b) }
            buf[token.count] = 0
            var end: UnsafeMutablePointer<CChar>? = nil
            let d = strtod(buf.baseAddress!, &end)
            return end == buf.baseAddress! + token.count ? d : nil
        }
    }

    mutating func parseString() throws(JSONDecodingError) -> String {
        index += 1 // opening quote
        let start = index
        // Fast path: a plain run (no quote, backslash or control byte), found eight bytes a step; UTF-8 is
        // validated only when the run has bytes beyond ASCII.
        let run = JSONScan.plainRun(UnsafeRawBufferPointer(rebasing: bytes[start...]))
        index = start + run.length
        if index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                let chars = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
                if run.nonASCII, let bad = UTF8Validation.firstInvalidOffset(chars) {
                    throw JSONDecodingError(offset: start + bad, reason: "invalid UTF-8 in a string")
                }
                index += 1
                return building ? String(decoding: chars, as: UTF8.self) : ""
            }
            if b < 0x20 { throw error("control character in a string") }
            // else a backslash: the slow path below goes on from it
        }
        var out = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                index += 1
                return try Self.validUTF8(out[...], at: start)
            }
            if b < 0x20 { throw error("control character in a string") }
            if b != UInt8(ascii: "\\") { out.append(b); index += 1; continue }
            index += 1
            guard let e = peek else { break }
            index += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try parseHex4()
                if (0xD800..<0xDC00).contains(scalar) { // a high surrogate must pair with a low one
                    guard bytes.count - index >= 6, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
                    else { throw error("unpaired surrogate") }
                    index += 2
                    let low = try parseHex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw error("unpaired surrogate")
                }
                out.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
            default: throw error("invalid escape")
            }
        }
        throw error("unterminated string")
    }

    mutating func parseHex4() throws(JSONDecodingError) -> UInt32 {
        guard bytes.count - index >= 4 else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[index]
            let d: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = b - UInt8(ascii: "A") + 10
            default: throw error("invalid hex digit in \\u escape")
            }
            v = v << 4 | UInt32(d)
            index += 1
        }
        return v
    }

    static func validUTF8<C: Collection<UInt8>>(_ bytes: C, at offset: Int) throws(JSONDecodingError) -> String {
        if bytes.withContiguousStorageIfAvailable({ JSONScan.isASCII(UnsafeRawBufferPointer($0)) }) ?? bytes.allSatisfy({ $0 < 0x80 }) {
            return String(decoding: bytes, as: UTF8.self) // ASCII is valid UTF-8
        }
        if let bad = UTF8Validation.firstInvalidOffset(in: bytes) {
            throw JSONDecodingError(offset: offset + bad, reason: "invalid UTF-8 in a string")
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
