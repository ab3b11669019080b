// LossyTests.swift: rule L. A lapped lossy reader never delivers an overwritten record (payloads are
// checksummed), and received + dropped == published exactly (drops counted from sequence gaps).

import CRingBus
import Glibc
import Testing

@Suite("lossy readers (rule L)")
struct LossyTests {
    @Test("a reader lapped in one thread counts every loss exactly")
    func lappedReaderCountsExactly() throws {
        let bus = try TestBus("lap1")
        let prod = try TestProducer(bus)
        let cons = try TestConsumer(bus, mode: RBUS_MODE_LOSSY)
        var published: UInt64 = 0, received = 0, bad = 0
        var last: UInt64? = nil
        var rng = SystemRandomNumberGenerator()
        // Publish ~10 rings' worth with varying sizes, reading a little now and then.
        while published < 60_000 {
            for _ in 0..<Int.random(in: 1...3000, using: &rng) {
                #expect(prod.publish(index: published, size: Int.random(in: 16...400, using: &rng)) == RBUS_OK)
                published += 1
            }
            let (n, b) = cons.drain(limit: Int.random(in: 0...200, using: &rng)) { v in
                if let l = last { #expect(v.sequence > l, "sequence went backwards") }
                last = v.sequence
            }
            received += n; bad += b
        }
        let (n, b) = cons.drain { v in
            if let l = last { #expect(v.sequence > l) }
            last = v.sequence
        }
        received += n; bad += b
        let k = cons.c.pointee
        #expect(bad == 0)
        #expect(k.dropped > 0, "the reader must have been lapped for this test to mean anything")
        #expect(k.laps > 0)
        #expect(UInt64(received) + k.dropped == published)
        #expect(k.corrupt == 0)
    }

    @Test("a lapped reader reaches the last event when the producer stops just below a lap boundary")
    func lappedReaderReachesTheEndBelowALapBoundary() throws {
        let bus = try TestBus("lapend")
        let cap = bus.b.pointee.capacity
        let prod = try TestProducer(bus)
        let cons = try TestConsumer(bus, mode: RBUS_MODE_LOSSY)
        // 1,000-byte records until the tail sits within capacity/16 below the second lap boundary, where
        // an unbounded intent reservation would reach past the boundary.
        var n: UInt64 = 0
        // A gate rescan just past the first lap boundary (with nobody gating, the gate is the producer's
        // own position), so gate + capacity lies past the second boundary and does not cap intent.
        while bus.stream0.pointee.tail < cap + 2000 {
            #expect(prod.publish(index: n, size: 1000 - 40 - 10) == RBUS_OK)
            n += 1
        }
        rbus_producer_rescan(prod.p, prod.p.pointee.pending)
        #expect(prod.p.pointee.gate > cap)
        while bus.stream0.pointee.tail < 2 * cap - cap / 32 {
            #expect(prod.publish(index: n, size: 1000 - 40 - 10) == RBUS_OK)
            n += 1
        }
        // Make the next claim declare its intent (L1) here, just below the boundary: the producer's
        // local copy says nothing is declared past its tail yet.
        prod.p.pointee.intent = prod.p.pointee.pending
        #expect(prod.publish(index: n, size: 1000 - 40 - 10) == RBUS_OK)
        n += 1
        #expect(bus.stream0.pointee.tail < 2 * cap)
        #expect(bus.stream0.pointee.intent <= 2 * cap, "intent declared past the lap boundary")
        var last: UInt64 = 0, got = 0
        var v = rbus_event_view()
        for _ in 0..<10_000 {
            let st = rbus_consumer_next(cons.c, &v)
            if st == RBUS_EMPTY { break }
            if st == RBUS_OK { last = v.sequence; got += 1; #expect(checkPayload(v)) }
        }
        #expect(last == n - 1, "the lapped reader never reached the last event")
        #expect(UInt64(got) + cons.c.pointee.dropped == n)
    }

    @Test("a reader racing a faster producer thread never delivers a torn record")
    func racingReaderNeverTorn() throws {
        let bus = try TestBus("lap2")
        let prod = try TestProducer(bus)
        let cons = try TestConsumer(bus, mode: RBUS_MODE_LOSSY)
        let total: UInt64 = 400_000
        nonisolated(unsafe) let p = prod
        let join = spawnThread {
            var i: UInt64 = 0
            while i < total {
                if p.publish(index: i, size: 16 + Int(i % 200)) == RBUS_OK { i += 1 }
            }
        }
        var received: UInt64 = 0, bad = 0, backwards = 0
        var last: UInt64? = nil
        let deadline = monotonicNs() + testDeadlineNs
        var v = rbus_event_view()
        while monotonicNs() < deadline {
            let s = rbus_consumer_next(cons.c, &v)
            if s == RBUS_OK {
                if !checkPayload(v) { bad += 1 }
                // The payload's index must be the record's sequence (a torn mix would not match).
                if UnsafeRawPointer(v.payload!).loadUnaligned(as: UInt64.self) != v.sequence { bad += 1 }
                if let l = last, v.sequence <= l { backwards += 1 }
                last = v.sequence
                received += 1
                if received % 64 == 0 { for _ in 0..<2000 { _ = rbus_clock_ticks(UInt32(RBUS_CLOCK_TSC)) } } // fall behind
            } else if s == RBUS_EMPTY {
                if (last ?? 0) + 1 >= total { break }
            }
        }
        join()
        rbus_consumer_commit(cons.c)
        let k = cons.c.pointee
        #expect(bad == 0)
        #expect(backwards == 0)
        #expect(last == total - 1)
        #expect(received + k.dropped == total, "received \(received) dropped \(k.dropped)")
    }
}
