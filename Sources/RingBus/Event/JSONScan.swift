// JSONScan.swift: the one loop that touches every byte of a JSON string, in the C shim.
//
// Encoding a string, validating one that arrived, and decoding it all ask the same question of each
// byte: is it a quote, a backslash or a control character (it ends the plain run), and is it beyond
// ASCII (then the run needs UTF-8 validation)? Byte by byte that loop was a third of a 1 KiB event's
// cost on each side; eight bytes a step in Swift (SWAR) it was still a quarter of each side's time on
// 64 KiB events (perf, issue 13). CSupport/CRingBus/json.c asks it of 16 bytes at once (SSE2) or 32
// (AVX2, chosen at run time), with the eight-byte word loop on other CPUs.

internal import CRingBus

enum JSONScan {
    /// The length of the run at the start of `bytes` with no quote, backslash or control byte, and
    /// whether the run holds a byte beyond ASCII.
    @inline(__always)
    static func plainRun(_ bytes: UnsafeRawBufferPointer) -> (length: Int, nonASCII: Bool) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return (0, false) }
        var nonASCII = false
        let n = rbus_json_plain_run(base.assumingMemoryBound(to: UInt8.self), bytes.count, &nonASCII)
        return (n, nonASCII)
    }

    /// True when every byte is ASCII.
    static func isASCII(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return true }
        return rbus_json_is_ascii(base.assumingMemoryBound(to: UInt8.self), bytes.count)
    }
}
