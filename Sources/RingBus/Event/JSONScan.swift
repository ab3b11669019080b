// JSONScan.swift: the one loop that touches every byte of a JSON string, eight bytes at a time.
//
// Encoding a string, validating one that arrived, and decoding it all ask the same question of each
// byte: is it a quote, a backslash or a control character (it ends the plain run), and is it beyond
// ASCII (then the run needs UTF-8 validation)? Asked byte by byte, that loop was a third of a 1 KiB
// event's cost on each side (perf, issue 13). Asked of a 64-bit word at once (SWAR: "SIMD within a
// register", the has-less / has-zero tricks of Bit Twiddling Hacks), a clean word costs a few
// instructions for eight bytes; only a word that has one of those bytes is looked at byte by byte.

enum JSONScan {
    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highs: UInt64 = 0x8080_8080_8080_8080

    /// True when some byte of `w` is zero (exact: no false positives for "some byte").
    @inline(__always)
    private static func hasZeroByte(_ w: UInt64) -> Bool { (w &- ones) & ~w & highs != 0 }

    /// True when some byte of `w` is a quote (0x22), a backslash (0x5C) or below 0x20. The below-0x20
    /// test (`(w - 0x20..) & ~w & 0x80..`) is exact for bytes under 0x80; bytes at or above 0x80 never
    /// set it falsely because `~w` clears their high bit.
    @inline(__always)
    private static func hasSpecialByte(_ w: UInt64) -> Bool {
        (w &- 0x2020_2020_2020_2020) & ~w & highs != 0
            || hasZeroByte(w ^ 0x2222_2222_2222_2222) || hasZeroByte(w ^ 0x5C5C_5C5C_5C5C_5C5C)
    }

    @inline(__always)
    private static func isSpecial(_ b: UInt8) -> Bool { b < 0x20 || b == 0x22 || b == 0x5C }

    /// The length of the run at the start of `bytes` with no quote, backslash or control byte, and
    /// whether the run holds a byte beyond ASCII.
    @inline(__always)
    static func plainRun(_ bytes: UnsafeRawBufferPointer) -> (length: Int, nonASCII: Bool) {
        guard let base = bytes.baseAddress else { return (0, false) }
        let n = bytes.count
        var i = 0
        var high: UInt64 = 0
        while n - i >= 8 {
            let w = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            if hasSpecialByte(w) { break }
            high |= w
            i += 8
        }
        var nonASCII = high & highs != 0
        while i < n {
            let b = base.load(fromByteOffset: i, as: UInt8.self)
            if isSpecial(b) { break }
            if b >= 0x80 { nonASCII = true }
            i += 1
        }
        return (i, nonASCII)
    }

    /// True when every byte is ASCII (eight at a time).
    static func isASCII(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let n = bytes.count
        var i = 0
        var acc: UInt64 = 0
        while n - i >= 8 {
            acc |= base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            i += 8
        }
        while i < n {
            acc |= UInt64(base.load(fromByteOffset: i, as: UInt8.self))
            i += 1
        }
        return acc & highs == 0
    }
}
