// UTF8Validation.swift: strict UTF-8 checking (RFC 3629) that names where the bytes go wrong.
//
// Swift's `String(decoding:as:)` repairs invalid bytes to U+FFFD, so text that arrives as bytes (from
// another process, a server, a command line, standard input) is checked here first: overlong forms
// (C0 AF), encoded surrogates (ED A0 80), code points past U+10FFFF and truncated sequences are refused.

/// Strict UTF-8 validation.
public enum UTF8Validation {
    /// The byte offset where the first ill-formed UTF-8 sequence starts in `bytes`, or `nil` when every
    /// byte belongs to a well-formed sequence.
    public static func firstInvalidOffset(in bytes: some Collection<UInt8>) -> Int? {
        if let r = bytes.withContiguousStorageIfAvailable({ firstInvalidOffset(UnsafeRawBufferPointer($0)) }) { return r }
        return Array(bytes).withUnsafeBytes { firstInvalidOffset($0) }
    }

    static func firstInvalidOffset(_ b: UnsafeRawBufferPointer) -> Int? {
        let n = b.count
        var i = 0
        while i < n {
            let c = b[i]
            if c < 0x80 {
                i += 1
                continue
            }
            // The lead byte fixes the length and the range of the first continuation byte (which is
            // what excludes overlong forms, surrogates and code points past U+10FFFF).
            let need: Int, low: UInt8, high: UInt8
            switch c {
            case 0xC2...0xDF: (need, low, high) = (1, 0x80, 0xBF)
            case 0xE0: (need, low, high) = (2, 0xA0, 0xBF)
            case 0xE1...0xEC, 0xEE...0xEF: (need, low, high) = (2, 0x80, 0xBF)
            case 0xED: (need, low, high) = (2, 0x80, 0x9F)
            case 0xF0: (need, low, high) = (3, 0x90, 0xBF)
            case 0xF1...0xF3: (need, low, high) = (3, 0x80, 0xBF)
            case 0xF4: (need, low, high) = (3, 0x80, 0x8F)
            default: return i
            }
            guard i + need < n else { return i }
            let first = b[i + 1]
            if first < low || first > high { return i }
            for k in stride(from: 2, through: need, by: 1) where b[i + k] & 0xC0 != 0x80 { return i }
            i += need + 1
        }
        return nil
    }

    /// The bytes as a `String`, or `nil` when they are not well-formed UTF-8 (never repaired).
    public static func string(from bytes: some Collection<UInt8>) -> String? {
        firstInvalidOffset(in: bytes) == nil ? String(decoding: bytes, as: UTF8.self) : nil
    }
}

extension Topic {
    /// Why topic or filter bytes (from a command line, a file, another process) are invalid, or `nil`.
    /// Unlike ``problem(with:allowWildcards:)``, whose `String` is already valid Unicode, this also
    /// refuses bytes that are not well-formed UTF-8, naming the byte offset.
    public static func problem(withBytes bytes: some Collection<UInt8>, allowWildcards: Bool) -> String? {
        if let at = UTF8Validation.firstInvalidOffset(in: bytes) {
            return "Topic is not valid UTF-8 (byte offset \(at))"
        }
        return problem(with: String(decoding: bytes, as: UTF8.self), allowWildcards: allowWildcards)
    }
}
