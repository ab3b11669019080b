// OwnershipTests.swift: rule O. Streams and slots are owned by OFD locks; a dead owner's stream is
// reclaimed and its sequence continues from committed state; durable names find their place again;
// handles inherited across fork() refuse to act.

import CRingBus
import Glibc
import Testing

@Suite("ownership and liveness (rule O)")
struct OwnershipTests {
    @Test("a producer that dies is replaced by one that continues the sequence from committed state")
    func reclaimContinuesSequence() throws {
        let bus = try TestBus("reclaim")
        let cons = try TestConsumer(bus, mode: RBUS_MODE_GATING)
        do {
            let dying = try TestProducer(bus)
            for i in 0..<100 { dying.publish(index: UInt64(i), size: 64) }
            // Claimed but never committed: the successor must not count these.
            var dst: UnsafeMutablePointer<UInt8>? = nil
            #expect(rbus_producer_claim(dying.p, dying.topic, 10, dying.hash, 64, 0, 0, &dst) == RBUS_OK)
            #expect(rbus_stream_alive(bus.b, 0) == 1)
            close(dying.p.pointee.lock_fd) // "killed": no state change, the kernel drops the lock
            dying.p.pointee.lock_fd = -1
        }
        #expect(rbus_stream_alive(bus.b, 0) == 0)
        let next = try TestProducer(bus)
        #expect(next.p.pointee.stream == 0)
        #expect(next.p.pointee.next_seq == 100)
        for i in 100..<150 { next.publish(index: UInt64(i), size: 64) }
        var seqs = [UInt64]()
        let (n, bad) = cons.drain { seqs.append($0.sequence) }
        #expect(n == 150 && bad == 0 && seqs.elementsEqual(0..<150))
    }

    @Test("a live producer's stream is never taken; a full bus says so")
    func liveStreamNotTaken() throws {
        let bus = try TestBus("live")
        let a = try TestProducer(bus)
        _ = a
        let p = UnsafeMutablePointer<rbus_producer>.allocate(capacity: 1)
        defer { p.deallocate() }
        #expect(rbus_producer_open(bus.b, nil, p, nil) == RBUS_E_NO_SLOT)
    }

    @Test("a durable producer finds its own stream again, and its name is exclusive while alive")
    func durableProducer() throws {
        let bus = try TestBus("dprod", streams: 2)
        var s0: UInt32 = 0
        do {
            let alpha = try TestProducer(bus, name: "alpha")
            s0 = alpha.p.pointee.stream
            for i in 0..<10 { alpha.publish(index: UInt64(i), size: 32) }
            let p = UnsafeMutablePointer<rbus_producer>.allocate(capacity: 1)
            defer { p.deallocate() }
            #expect(rbus_producer_open(bus.b, "alpha", p, nil) == RBUS_E_NAME_IN_USE)
            let anon = try TestProducer(bus)
            #expect(anon.p.pointee.stream != s0)
        }
        let again = try TestProducer(bus, name: "alpha")
        #expect(again.p.pointee.stream == s0)
        #expect(again.p.pointee.next_seq == 10)
    }

    @Test("a killed reader's slot is freed by its lock and can be taken again")
    func slotFreedByLock() throws {
        let bus = try TestBus("slot", consumers: 1)
        let first = try TestConsumer(bus, mode: RBUS_MODE_LOSSY)
        #expect(rbus_slot_alive(bus.b, 0) == 1)
        #expect(consumerOpenStatus(bus) == RBUS_E_NO_SLOT)
        close(first.c.pointee.lock_fd)
        first.c.pointee.lock_fd = -1
        #expect(rbus_slot_alive(bus.b, 0) == 0)
        let second = try TestConsumer(bus, mode: RBUS_MODE_LOSSY)
        #expect(second.c.pointee.slot == 0)
    }

    @Test("a durable reader resumes at its committed cursor")
    func durableReaderResumes() throws {
        let bus = try TestBus("dread")
        let prod = try TestProducer(bus)
        do {
            let r = try TestConsumer(bus, mode: RBUS_MODE_GATING, start: RBUS_START_COMMITTED, name: "audit")
            for i in 0..<20 { prod.publish(index: UInt64(i), size: 32) }
            #expect(r.drain(limit: 12).0 == 12)
        }
        for i in 20..<30 { prod.publish(index: UInt64(i), size: 32) }
        let r = try TestConsumer(bus, mode: RBUS_MODE_GATING, start: RBUS_START_COMMITTED, name: "audit")
        #expect(r.info.resumed == 1 && r.info.was_evicted == 0)
        var seqs = [UInt64]()
        _ = r.drain { seqs.append($0.sequence) }
        #expect(seqs.elementsEqual(12..<30))
    }

    @Test("handles inherited across fork() refuse to act in the child")
    func forkInvalidatesHandles() throws {
        let bus = try TestBus("fork")
        let prod = try TestProducer(bus)
        let cons = try TestConsumer(bus, mode: RBUS_MODE_LOSSY)
        let pid = fork()
        if pid == 0 { // child: C calls only, then _exit
            var dst: UnsafeMutablePointer<UInt8>? = nil
            let a = rbus_producer_claim(prod.p, prod.topic, 10, prod.hash, 8, 0, 0, &dst)
            var v = rbus_event_view()
            let b = rbus_consumer_next(cons.c, &v)
            _exit(a == RBUS_E_FORKED && b == RBUS_E_FORKED ? 0 : 1)
        }
        var status: Int32 = 0
        #expect(waitpid(pid, &status, 0) == pid)
        #expect((status >> 8) & 0xff == 0 && status & 0x7f == 0)
        #expect(prod.publish(index: 0, size: 16) == RBUS_OK) // the parent's handles still work
    }
}
