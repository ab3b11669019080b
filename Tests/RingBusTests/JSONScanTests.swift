// JSONScanTests.swift: the vector scanner (CSupport/CRingBus/json.c: 32-byte AVX2 blocks from 64 bytes
// on, 16-byte SSE2 blocks, 8-byte words, single bytes for the tail) agrees with a byte-by-byte loop on
// every position of every kind of byte in every one of those paths (a special byte in each lane,
// non-ASCII bytes before and after it, next to the limits of the compare tricks), so the fast encoder
// and decoder see exactly what the slow ones saw.

@testable import RingBus
import Testing

private func naive(_ b: [UInt8]) -> (Int, Bool) {
    var i = 0, high = false
    while i < b.count, !(b[i] < 0x20 || b[i] == 0x22 || b[i] == 0x5C) {
        if b[i] >= 0x80 { high = true }
        i += 1
    }
    return (i, high)
}

@Suite("JSON scanning in vector blocks")
struct JSONScanTests {
    @Test("each interesting byte in each position of 1 to 40 bytes")
    func everyPosition() {
        let interesting: [UInt8] = [0x00, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x5B, 0x5C, 0x5D, 0x7F, 0x80, 0xA2, 0xDC, 0xFF]
        for length in Array(1...40) + Array(60...100) + [127, 128, 129, 130, 161] {
            for position in 0..<length {
                for b in interesting {
                    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    bytes[position] = b
                    let fast = bytes.withUnsafeBytes { JSONScan.plainRun($0) }
                    let slow = naive(bytes)
                    #expect(fast.length == slow.0 && fast.nonASCII == slow.1, "byte \(b) at \(position) of \(length)")
                    #expect(bytes.withUnsafeBytes { JSONScan.isASCII($0) } == !bytes.contains { $0 >= 0x80 })
                }
            }
        }
    }

    @Test("a byte beyond ASCII before, in or after the block of the special byte")
    func highThenSpecial() {
        for length in [17, 40, 64, 96, 130] {
            for high in stride(from: 0, to: length, by: 3) {
                for special in stride(from: 0, to: length, by: 5) where special != high {
                    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    bytes[high] = 0xC3
                    bytes[special] = 0x22
                    let fast = bytes.withUnsafeBytes { JSONScan.plainRun($0) }
                    let slow = naive(bytes)
                    #expect(fast.length == slow.0 && fast.nonASCII == slow.1, "high \(high), quote \(special) of \(length)")
                }
            }
        }
    }

    @Test("random bytes agree with the byte loop")
    func random() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let bytes = (0..<Int.random(in: 0...200, using: &rng)).map { _ in
                Bool.random(using: &rng) ? UInt8.random(in: 0x23...0x5B, using: &rng) : UInt8.random(in: 0...255, using: &rng)
            }
            let fast = bytes.withUnsafeBytes { JSONScan.plainRun($0) }
            let slow = naive(bytes)
            #expect(fast.length == slow.0 && fast.nonASCII == slow.1, "\(bytes)")
        }
    }
}
