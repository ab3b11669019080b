// PayloadEncoder.swift: Codable values to JSON bytes without Foundation's JSONEncoder.
//
// `Event(topic:encoding:)` with Foundation's JSONEncoder cost 2.2–2.8 µs for a two-field struct on this
// VM, four times the rest of a 64-byte publish (issue 13). This encoder builds a small tree of the
// containers as the value encodes itself (a class per object or array, so nested containers may be
// filled in any order, as the Encoder protocol allows) and writes it with the codec's own byte writer.
// The output is what Foundation's JSONEncoder would decode back the same way with its defaults:
// `Data` as base64, `URL` as its absolute string, `Decimal` as a number, `Date` as its own encoding (the
// seconds since 2001, JSONEncoder's `.deferredToDate`), a non-finite Float or Double an
// `EncodingError.invalidValue`, and a key encoded twice in one object keeps its last value. Object
// members are written in the order they were encoded (a struct's declaration order), not sorted.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Encodes `value` as compact JSON bytes (see the file header for what it writes).
func encodePayload<T: Encodable>(_ value: T) throws -> [UInt8] {
    let node = try PayloadEncoder.node(for: value, at: [])
    var out = [UInt8]()
    out.reserveCapacity(64)
    try node.write(into: &out, depth: 0)
    return out
}

/// A value in the tree: a leaf, or a container filled through a reference.
private enum PayloadNode {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    /// A number written as it is (a `Decimal`'s description).
    case numberText(String)
    case string(String)
    case object(PayloadObject)
    case array(PayloadArray)
    /// A nested encoder's result (a `superEncoder`, or a value that encodes itself through a container).
    case deferred(PayloadEncoder)

    func write(into out: inout [UInt8], depth: Int) throws {
        switch self {
        case .null: out.append(contentsOf: JSONBytes.null)
        case .bool(let b): out.append(contentsOf: b ? JSONBytes.true : JSONBytes.false)
        case .int(let i): JSONBytes.appendInteger(i, to: &out)
        case .uint(let u):
            if u <= UInt64(Int64.max) { JSONBytes.appendInteger(Int64(u), to: &out) } else { out.append(contentsOf: String(u).utf8) }
        case .double(let d): out.append(contentsOf: d.description.utf8) // finite: checked when encoded
        case .numberText(let t): out.append(contentsOf: t.utf8)
        case .string(let s): JSONBytes.appendString(s, to: &out)
        case .object(let o):
            guard depth < JSONValue.maximumDepth else { throw PayloadEncoder.tooDeep() }
            out.append(UInt8(ascii: "{"))
            for (i, member) in o.members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONBytes.appendString(member.key, to: &out)
                out.append(UInt8(ascii: ":"))
                try member.value.write(into: &out, depth: depth + 1)
            }
            out.append(UInt8(ascii: "}"))
        case .array(let a):
            guard depth < JSONValue.maximumDepth else { throw PayloadEncoder.tooDeep() }
            out.append(UInt8(ascii: "["))
            for (i, item) in a.items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                try item.write(into: &out, depth: depth + 1)
            }
            out.append(UInt8(ascii: "]"))
        case .deferred(let e): try (e.root ?? .object(PayloadObject())).write(into: &out, depth: depth)
        }
    }
}

private final class PayloadObject {
    var members: [(key: String, value: PayloadNode)] = []

    /// A key encoded again replaces its value (as Foundation's JSONEncoder does).
    func set(_ key: String, _ value: PayloadNode) {
        if let i = members.firstIndex(where: { $0.key == key }) { members[i].value = value } else { members.append((key, value)) }
    }
}

private final class PayloadArray {
    var items: [PayloadNode] = []
}

private final class PayloadEncoder: Encoder {
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    /// What this encoder's value encoded as: set by the first container or single value asked for.
    var root: PayloadNode?

    init(codingPath: [any CodingKey]) { self.codingPath = codingPath }

    static func tooDeep() -> EncodingError {
        EncodingError.invalidValue(0, .init(codingPath: [], debugDescription:
            "the value nests deeper than \(JSONValue.maximumDepth) arrays and objects"))
    }

    /// The node of one value: the special cases Foundation's JSONEncoder makes by default, then the
    /// value's own encoding.
    static func node<T: Encodable>(for value: T, at path: [any CodingKey]) throws -> PayloadNode {
        switch value {
        case let s as String: return .string(s)
        case let i as Int: return .int(Int64(i))
        case let b as Bool: return .bool(b)
        case let d as Double: return try finite(d, path)
        case let data as Data: return .string(data.base64EncodedString())
        case let url as URL: return .string(url.absoluteString)
        case let decimal as Decimal: return .numberText(decimal.description)
        default:
            let e = PayloadEncoder(codingPath: path)
            try value.encode(to: e)
            return e.root ?? .object(PayloadObject()) // a value that encoded nothing: {} as JSONEncoder writes
        }
    }

    static func finite(_ d: Double, _ path: [any CodingKey]) throws -> PayloadNode {
        guard d.isFinite else {
            throw EncodingError.invalidValue(d, .init(codingPath: path, debugDescription:
                "\(d) is not a JSON number (JSON has no spelling for NaN or infinity)"))
        }
        return .double(d)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let object: PayloadObject
        if case .object(let o) = root { object = o } else { // asked again: the same object
            object = PayloadObject()
            root = .object(object)
        }
        return KeyedEncodingContainer(KeyedPayloadContainer<Key>(object: object, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let array: PayloadArray
        if case .array(let a) = root { array = a } else {
            array = PayloadArray()
            root = .array(array)
        }
        return UnkeyedPayloadContainer(array: array, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SinglePayloadContainer(encoder: self) }
}

private struct KeyedPayloadContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let object: PayloadObject
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws { object.set(key.stringValue, .null) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { object.set(key.stringValue, .bool(value)) }
    mutating func encode(_ value: String, forKey key: Key) throws { object.set(key.stringValue, .string(value)) }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        object.set(key.stringValue, try PayloadEncoder.finite(value, codingPath + [key]))
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        object.set(key.stringValue, try PayloadEncoder.finite(Double(value), codingPath + [key]))
    }
    mutating func encode(_ value: Int, forKey key: Key) throws { object.set(key.stringValue, .int(Int64(value))) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { object.set(key.stringValue, .int(Int64(value))) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { object.set(key.stringValue, .int(Int64(value))) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { object.set(key.stringValue, .int(Int64(value))) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { object.set(key.stringValue, .int(value)) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { object.set(key.stringValue, .uint(UInt64(value))) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { object.set(key.stringValue, .uint(UInt64(value))) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { object.set(key.stringValue, .uint(UInt64(value))) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { object.set(key.stringValue, .uint(UInt64(value))) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { object.set(key.stringValue, .uint(value)) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        object.set(key.stringValue, try PayloadEncoder.node(for: value, at: codingPath + [key]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
        -> KeyedEncodingContainer<NestedKey>
    {
        let nested = PayloadObject()
        object.set(key.stringValue, .object(nested))
        return KeyedEncodingContainer(KeyedPayloadContainer<NestedKey>(object: nested, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = PayloadArray()
        object.set(key.stringValue, .array(nested))
        return UnkeyedPayloadContainer(array: nested, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { superEncoder(named: "super") }
    mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder(named: key.stringValue) }

    private func superEncoder(named name: String) -> any Encoder {
        let e = PayloadEncoder(codingPath: codingPath)
        object.set(name, .deferred(e))
        return e
    }
}

private struct UnkeyedPayloadContainer: UnkeyedEncodingContainer {
    let array: PayloadArray
    let codingPath: [any CodingKey]
    var count: Int { array.items.count }

    private var nextKey: any CodingKey { IndexKey(intValue: array.items.count) }

    mutating func encodeNil() throws { array.items.append(.null) }
    mutating func encode(_ value: Bool) throws { array.items.append(.bool(value)) }
    mutating func encode(_ value: String) throws { array.items.append(.string(value)) }
    mutating func encode(_ value: Double) throws { array.items.append(try PayloadEncoder.finite(value, codingPath + [nextKey])) }
    mutating func encode(_ value: Float) throws {
        array.items.append(try PayloadEncoder.finite(Double(value), codingPath + [nextKey]))
    }
    mutating func encode(_ value: Int) throws { array.items.append(.int(Int64(value))) }
    mutating func encode(_ value: Int64) throws { array.items.append(.int(value)) }
    mutating func encode(_ value: UInt64) throws { array.items.append(.uint(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        array.items.append(try PayloadEncoder.node(for: value, at: codingPath + [nextKey]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = PayloadObject()
        let path = codingPath + [nextKey]
        array.items.append(.object(nested))
        return KeyedEncodingContainer(KeyedPayloadContainer<NestedKey>(object: nested, codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = PayloadArray()
        let path = codingPath + [nextKey]
        array.items.append(.array(nested))
        return UnkeyedPayloadContainer(array: nested, codingPath: path)
    }

    mutating func superEncoder() -> any Encoder {
        let e = PayloadEncoder(codingPath: codingPath + [nextKey])
        array.items.append(.deferred(e))
        return e
    }
}

private struct SinglePayloadContainer: SingleValueEncodingContainer {
    let encoder: PayloadEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    mutating func encodeNil() throws { encoder.root = .null }
    mutating func encode(_ value: Bool) throws { encoder.root = .bool(value) }
    mutating func encode(_ value: String) throws { encoder.root = .string(value) }
    mutating func encode(_ value: Double) throws { encoder.root = try PayloadEncoder.finite(value, codingPath) }
    mutating func encode(_ value: Float) throws { encoder.root = try PayloadEncoder.finite(Double(value), codingPath) }
    mutating func encode(_ value: Int) throws { encoder.root = .int(Int64(value)) }
    mutating func encode(_ value: Int8) throws { encoder.root = .int(Int64(value)) }
    mutating func encode(_ value: Int16) throws { encoder.root = .int(Int64(value)) }
    mutating func encode(_ value: Int32) throws { encoder.root = .int(Int64(value)) }
    mutating func encode(_ value: Int64) throws { encoder.root = .int(value) }
    mutating func encode(_ value: UInt) throws { encoder.root = .uint(UInt64(value)) }
    mutating func encode(_ value: UInt8) throws { encoder.root = .uint(UInt64(value)) }
    mutating func encode(_ value: UInt16) throws { encoder.root = .uint(UInt64(value)) }
    mutating func encode(_ value: UInt32) throws { encoder.root = .uint(UInt64(value)) }
    mutating func encode(_ value: UInt64) throws { encoder.root = .uint(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { encoder.root = try PayloadEncoder.node(for: value, at: codingPath) }
}

/// An array element's place in a coding path.
private struct IndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { "Index \(intValue ?? 0)" }
    init(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { nil }
}
