// GatingTests.swift: rule G. A gating reader holds the producer back (fail-fast or wait), a reader
// joining below the gate limit reports `missed` instead of reading torn data, and a dead gating reader
// is evicted after its grace while a live one never is.

import CRingBus
import Glibc
import Testing

@Suite("gating readers (rule G)")
struct GatingTests {
    @Test("publish fails fast when full, and succeeds again once the reader commits")
    func failFastThenResume() throws {
        let bus = try TestBus("full")
        let cap = bus.b.pointee.capacity
        let prod = try TestProducer(bus)
        let cons = try TestConsumer(bus, mode: RBUS_MODE_GATING)
        var n: UInt64 = 0
        while prod.publish(index: n, size: 1000) == RBUS_OK { n += 1 }
        #expect(prod.publish(index: n, size: 1000) == RBUS_FULL)
        let tail = bus.stream0.pointee.tail
        #expect(tail <= cap && tail > cap - 1100)
        #expect(bus.stream0.pointee.full_events > 0)
        let (got, bad) = cons.drain(limit: 10)
        #expect(got == 10 && bad == 0)
        #expect(prod.publish(index: n, size: 1000) == RBUS_OK)
        let (rest, bad2) = cons.drain()
        #expect(UInt64(got + rest) == n + 1 && bad2 == 0)
    }

    @Test("publish waits when full and resumes as the reader advances; a wait with nobody reading times out")
    func waitWhenFull() throws {
        let bus = try TestBus("wait")
        let prod = try TestProducer(bus)
        let cons = try TestConsumer(bus, mode: RBUS_MODE_GATING)
        // Nobody reads: the wait ends at its timeout.
        var n: UInt64 = 0
        while prod.publish(index: n, size: 1000) == RBUS_OK { n += 1 }
        let payload = [UInt8](repeating: 1, count: 1000)
        let t0 = monotonicNs()
        let s = prod.topic.withUnsafeBufferPointer { t in
            rbus_producer_publish_wait(prod.p, t.baseAddress, 10, prod.hash, payload, 1000, 0, 0, 30_000_000)
        }
        #expect(s == RBUS_TIMEOUT)
        #expect(monotonicNs() - t0 >= 30_000_000)
        _ = cons.drain()
        // A reader thread that reads slowly: the producer waits for room and loses nothing.
        let total: UInt64 = 20_000
        nonisolated(unsafe) let c = cons
        nonisolated(unsafe) var seqs = [UInt64]()
        nonisolated(unsafe) var bad = 0
        let join = spawnThread {
            let deadline = monotonicNs() + testDeadlineNs
            while UInt64(seqs.count) < total && monotonicNs() < deadline {
                let (_, b) = c.drain(limit: 50) { seqs.append($0.sequence) }
                bad += b
                if rbus_consumer_wait(c.c, 100_000_000, RBUS_WAIT_BLOCK, 0) == RBUS_TIMEOUT { continue }
            }
        }
        var buf = [UInt8](repeating: 0, count: 500)
        for i in 0..<total {
            buf.withUnsafeMutableBufferPointer { fillChecked($0.baseAddress!, size: 500, index: i) }
            let r = prod.topic.withUnsafeBufferPointer { t in
                rbus_producer_publish_wait(prod.p, t.baseAddress, 10, prod.hash, buf, 500, 0, 0, Int64(testDeadlineNs))
            }
            #expect(r == RBUS_OK)
            if r != RBUS_OK { break }
        }
        join()
        #expect(bad == 0)
        #expect(UInt64(seqs.count) == total)
        #expect(seqs.elementsEqual(n..<(n + total)), "gating reader saw a gap or a reordering")
    }

    @Test("a reader joining below the gate limit reports missed events instead of torn data")
    func joinBelowGateLimitReportsMissed() throws {
        let bus = try TestBus("join")
        let prod = try TestProducer(bus)
        let fast = try TestConsumer(bus, mode: RBUS_MODE_GATING)
        var n: UInt64 = 0
        var starts = [UInt64]() // record positions the fast reader saw
        /// Publishes until `count` events went out or the ring stays full although `fast` drained.
        func pump(_ count: Int) -> Int {
            var sent = 0
            while sent < count {
                if prod.publish(index: n, size: 900) == RBUS_OK { n += 1; sent += 1; continue }
                if fast.drain({ starts.append($0.position) }).0 == 0 { break } // another reader holds the ring
            }
            fast.drain { starts.append($0.position) }
            return sent
        }
        #expect(pump(2_500) == 2_500) // more than two rings
        // Join at a record 0.6 rings behind the tail: everything below the producer's last gate limit is
        // read with lossy validation, because the producer may overwrite it before it next rescans.
        let tail = bus.stream0.pointee.tail
        let target = tail - bus.b.pointee.capacity * 6 / 10
        let joinAt = starts.first { $0 >= target }!
        let late = try TestConsumer(bus, mode: RBUS_MODE_GATING, start: RBUS_START_POSITION, positions: [joinAt])
        #expect(late.c.pointee.s.0.position < late.c.pointee.s.0.lossy_until,
                "the late reader must start below the gate limit")
        // The producer writes up to its cached gate + capacity, lapping the late reader's unread range,
        // then its rescan sees the late reader and it stops.
        let sent = pump(5_000)
        #expect(sent < 5_000, "the late reader must gate the producer once seen")
        let first = late.c.pointee.s.0.expected // the sequence at joinAt, peeked at open
        #expect(late.c.pointee.s.0.have_expected == 1)
        var last: UInt64 = 0
        let (got, bad) = late.drain { last = $0.sequence }
        let k = late.c.pointee
        #expect(bad == 0)
        #expect(k.corrupt == 0)
        #expect(k.missed > 0, "the producer overwrote the range below the gate limit")
        #expect(last == n - 1)
        #expect(UInt64(got) + k.missed == last - first + 1)
        // From now on the late reader gates and misses nothing.
        var more = 0, bad2 = 0
        for _ in 0..<10_000 where more < 3_000 {
            if prod.publish(index: n, size: 900) == RBUS_OK { n += 1; more += 1; continue }
            fast.drain()
            let (g, b) = late.drain()
            bad2 += b
        }
        fast.drain()
        let missedBefore = late.c.pointee.missed
        _ = late.drain()
        #expect(bad2 == 0 && more == 3_000 && late.c.pointee.missed == missedBefore)
    }

    @Test("a dead anonymous gating reader is evicted at once; a live one never is")
    func deadReaderEvicted() throws {
        let bus = try TestBus("evict", graceNs: 0)
        let prod = try TestProducer(bus)
        let live = try TestConsumer(bus, mode: RBUS_MODE_GATING)
        let dead = try TestConsumer(bus, mode: RBUS_MODE_GATING)
        close(dead.c.pointee.lock_fd) // dies without a word: the kernel drops its lock
        dead.c.pointee.lock_fd = -1
        var n: UInt64 = 0
        // The live reader holds the ring: FULL, and it is not evicted however long we try.
        while prod.publish(index: n, size: 1000) == RBUS_OK { n += 1 }
        let until = monotonicNs() + 20_000_000
        while monotonicNs() < until { #expect(prod.publish(index: n, size: 1000) == RBUS_FULL); usleep(2000) }
        #expect(rbus_claim_state(rbus_bus_slot(bus.b, UInt32(live.c.pointee.slot)).pointee.claim) == UInt32(RBUS_STATE_ACTIVE))
        // Once the live reader drains, only the dead one blocks: it is evicted and publishing goes on.
        live.drain()
        var ok = false
        for _ in 0..<1000 where !ok {
            ok = prod.publish(index: n, size: 1000) == RBUS_OK
            if !ok { usleep(2000) }
        }
        #expect(ok)
        #expect(bus.stream0.pointee.evictions == 1)
        let deadSlot = rbus_bus_slot(bus.b, UInt32(dead.c.pointee.slot)).pointee
        #expect(rbus_claim_state(deadSlot.claim) == UInt32(RBUS_STATE_FREE))
    }

    @Test("a dead durable gating reader keeps its place for its grace, then is evicted and learns what it missed")
    func durableReaderGraceThenEviction() throws {
        let bus = try TestBus("grace", graceNs: 150_000_000)
        let prod = try TestProducer(bus)
        var n: UInt64 = 0
        do {
            let durable = try TestConsumer(bus, mode: RBUS_MODE_GATING, start: RBUS_START_LATEST, name: "billing")
            while prod.publish(index: n, size: 1000) == RBUS_OK { n += 1 }
            let (got, _) = durable.drain(limit: 100)
            #expect(got == 100)
        } // closed cleanly: DETACHED, still gating
        #expect(prod.publish(index: n, size: 1000) == RBUS_OK) // room for the 100 it committed
        n += 1
        while prod.publish(index: n, size: 1000) == RBUS_OK { n += 1 }
        let t0 = monotonicNs()
        var status = RBUS_FULL
        while status == RBUS_FULL && monotonicNs() - t0 < testDeadlineNs {
            status = prod.publish(index: n, size: 1000)
            if status == RBUS_FULL { usleep(5000) }
        }
        #expect(status == RBUS_OK)
        #expect(monotonicNs() - t0 >= 150_000_000, "evicted before its grace")
        n += 1
        for _ in 0..<2000 { if prod.publish(index: n, size: 1000) == RBUS_OK { n += 1 } }
        // The durable reader returns: it was evicted, resumes, and counts what it missed.
        let back = try TestConsumer(bus, mode: RBUS_MODE_GATING, start: RBUS_START_COMMITTED, name: "billing")
        #expect(back.info.resumed == 1 && back.info.was_evicted == 1)
        var last: UInt64 = 0
        let (got, bad) = back.drain { last = $0.sequence }
        #expect(bad == 0 && last == n - 1)
        #expect(UInt64(got) + back.c.pointee.missed == n - 100)
        #expect(back.c.pointee.missed > 0)
    }

    @Test("a second live reader cannot take a durable name")
    func durableNameIsExclusive() throws {
        let bus = try TestBus("excl")
        let a = try TestConsumer(bus, mode: RBUS_MODE_GATING, name: "orders-db")
        _ = a
        #expect(consumerOpenStatus(bus, name: "orders-db", mode: RBUS_MODE_GATING, start: RBUS_START_COMMITTED)
                == RBUS_E_NAME_IN_USE)
    }
}
