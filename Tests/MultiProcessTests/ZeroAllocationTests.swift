// ZeroAllocationTests.swift: the zero-copy path allocates nothing per event in steady state, counted
// in both processes. The peers count every malloc-family call (PeerAllocCounter interposes them) over
// a window after a warm-up: a producer claiming, writing in place and committing batches, and a gating
// consumer polling borrowed views, through a ring small enough that it laps many times.

import Foundation
import RingBus
import Testing

@Suite("zero allocations per event")
struct ZeroAllocationTests {
    @Test("200,000 events: 0 heap allocations in the producer process and in the consumer process")
    func steadyState() throws {
        let bus = try ProcessTestBus("zeroalloc", capacity: 256 << 10)
        let warm = 20_000, count = 200_000
        let consumer = try Peer(["alloc-consume", bus.name, String(warm), String(count), String(Int(testDeadline))])
        #expect(consumer.waitForLine(containing: "ready"))
        let producer = try Peer(["alloc-produce", bus.name, String(warm), String(count), "64"])
        #expect(producer.wait() == 0)
        #expect(consumer.wait() == 0)
        let p = producer.result, c = consumer.result
        #expect(p["allocations"] != UInt64.max && c["allocations"] != UInt64.max,
                "the allocation counter is not installed (a sanitizer build): this test needs a plain build")
        // Each window starts at the first batch edge at or after the warm-up.
        #expect(p["events"].map { $0 > UInt64(count) - 16 } == true, "producer: \(p)")
        #expect(c["events"].map { $0 > UInt64(count) - 256 } == true, "consumer: \(c)")
        #expect(c["out_of_order"] == 0)
        #expect(p["allocations"] == 0, "producer: \(p)")
        #expect(c["allocations"] == 0, "consumer: \(c)")
    }
}
