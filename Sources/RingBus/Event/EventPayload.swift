// EventPayload.swift: what an Event's payload is made of: a JSONValue the application built, or the
// bytes it arrived as (from another process, a server, a file), decoded only when someone reads them.
//
// The bytes are the truth: forwarding, recording or bridging an event writes its bytes as they are and
// never decodes them. `Event.payload` decodes them at its first read and keeps the result, so every
// further read (by the same handler, or by another subscriber holding a copy of the event) costs a lock
// and a reference count, not a parse. Bytes that arrive from outside are validated as they arrive (a
// non-allocating pass of the strict decoder), so the decode behind `payload` cannot fail.

/// The bytes of a payload and, once read, their decoded JSON.
///
/// One object per event that arrived as bytes. A subscriber reuses its objects from event to event: when
/// the handler did not keep the event, the object is uniquely referenced again after the handler and is
/// refilled in place (no allocation). An event that escapes its handler keeps its object; the subscriber
/// then makes a new one for that place, so an escaped event never sees its bytes change.
final class PayloadBytes: @unchecked Sendable { // `bytes` changes only while uniquely referenced (refill)
    private(set) var bytes: [UInt8]
    /// True when `bytes` are one valid JSON document (checked by whoever made this object).
    private(set) var isJSON: Bool
    /// `payload`'s decoded value, set at the first read (under its lock: one decode however many readers).
    let decoded = LockedState<JSONValue?>(nil)

    /// Bytes already validated as JSON (`isJSON`), or raw bytes of another content type.
    init(validated bytes: [UInt8], isJSON: Bool) {
        self.bytes = bytes
        self.isJSON = isJSON
    }

    /// An empty object for a subscriber's pool (filled by `refill`).
    init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
        isJSON = false
    }

    /// Replaces the bytes (keeping the array's capacity) and forgets the decoded value. Only while the
    /// caller holds the only reference (`isKnownUniquelyReferenced`): nobody else can be reading.
    func refill(_ source: UnsafeRawBufferPointer, isJSON: Bool) {
        bytes.removeAll(keepingCapacity: true)
        bytes.append(contentsOf: source)
        self.isJSON = isJSON
        decoded.withLock { $0 = nil }
    }

    /// The decoded JSON (decoding at the first call); `.null` for bytes that are not JSON.
    var value: JSONValue {
        guard isJSON else { return .null }
        return decoded.withLock { cached in
            if let cached { return cached }
            // Validated when they arrived, so this cannot fail; `.null` rather than a trap if it did.
            let v = bytes.withUnsafeBytes { (try? JSONValue(decoding: $0)) ?? .null }
            cached = v
            return v
        }
    }
}

/// The storage of `Event.payload`: a value, or bytes. Internal: users see `payload`, `payloadBytes`
/// and `contentType`.
enum EventPayload: Sendable {
    /// Built by the application (or decoded and then set): encoded at publish, once per publish.
    case value(JSONValue)
    /// Arrived or was given as bytes: written as they are; decoded at the first read of `payload`.
    case bytes(PayloadBytes)

    var json: JSONValue {
        switch self {
        case .value(let v): v
        case .bytes(let b): b.value
        }
    }

    /// True for a JSON payload (a value, or bytes that are JSON).
    var isJSON: Bool {
        switch self {
        case .value: true
        case .bytes(let b): b.isJSON
        }
    }

    /// Appends the payload's bytes to `out`: the bytes as they are, or the value's encoding.
    func append(to out: inout [UInt8]) {
        switch self {
        case .value(let v): v.encode(into: &out)
        case .bytes(let b): out.append(contentsOf: b.bytes)
        }
    }

    /// The payload's bytes (encoding a value).
    var encoded: [UInt8] {
        switch self {
        case .value(let v): v.encodedBytes()
        case .bytes(let b): b.bytes
        }
    }

    /// Equal payloads: both JSON and equal as decoded values (equal bytes first: the encoder's output is
    /// canonical, but JSON from elsewhere need not be), or both raw with equal bytes.
    static func same(_ a: EventPayload, _ b: EventPayload) -> Bool {
        if case .bytes(let x) = a, case .bytes(let y) = b, x === y || (x.isJSON == y.isJSON && x.bytes == y.bytes) {
            return true
        }
        guard a.isJSON == b.isJSON else { return false }
        return a.isJSON ? a.json == b.json : a.encoded == b.encoded
    }

    /// Hashes what `same` compares: the decoded value of JSON, the bytes of anything else.
    func hash(into h: inout Hasher) {
        h.combine(isJSON)
        if isJSON { h.combine(json) } else { h.combine(encoded) }
    }
}
