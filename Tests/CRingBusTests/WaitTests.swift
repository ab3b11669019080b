// WaitTests.swift: rule W. Every interleaving of the waiter's steps with the producer's commit either
// lets the waiter see the data or moves the doorbell it sleeps on; the real steps raced on two threads
// never lose a wakeup (deleting the P2 fence, or the consumer's fence before its space check, makes the
// litmus tests fail on x86); publishing while nobody sleeps never rings.

import CRingBus
import Glibc
import Testing

@Suite("waiting and wakeups (rule W)")
struct WaitTests {
    enum Step { case w12, w3, p1, p23 }

    /// Every order of (W1+W2, W3) and (P1, P2+P3) that keeps each side's program order.
    static let interleavings: [[Step]] = {
        var out: [[Step]] = []
        func go(_ w: [Step], _ p: [Step], _ acc: [Step]) {
            if w.isEmpty && p.isEmpty { out.append(acc); return }
            if let f = w.first { go(Array(w.dropFirst()), p, acc + [f]) }
            if let f = p.first { go(w, Array(p.dropFirst()), acc + [f]) }
        }
        go([.w12, .w3], [.p1, .p23], [])
        return out
    }()

    @Test("every interleaving of W1-W3 with P1-P3 wakes or shows the data", arguments: interleavings.indices)
    func everyInterleavingIsSafe(index: Int) throws {
        let bus = try TestBus("inter")
        let prod = try TestProducer(bus)
        let cons = try TestConsumer(bus, mode: RBUS_MODE_LOSSY, start: RBUS_START_LATEST)
        var dst: UnsafeMutablePointer<UInt8>? = nil
        #expect(rbus_producer_claim(prod.p, prod.topic, 10, prod.hash, 16, 0, 0, &dst) == RBUS_OK)
        fillChecked(dst!, size: 16, index: 0)
        var v: UInt32 = 0, saw = false
        for step in Self.interleavings[index] {
            switch step {
            case .w12: v = rbus_wait_register(cons.c)
            case .w3: saw = rbus_wait_has_data(cons.c) != 0
            case .p1: rbus_producer_publish_tail(prod.p)
            case .p23: rbus_producer_wake(prod.p)
            }
        }
        if !saw {
            // W4 must not sleep through the event: the doorbell moved, so futex_wait returns at once.
            let t0 = monotonicNs()
            let r = rbus_wait_sleep(cons.c, v, 2_000_000_000)
            #expect(r == -EAGAIN || r == 0, "futex_wait returned \(r)")
            #expect(monotonicNs() - t0 < 1_000_000_000, "slept through a committed event")
        }
        rbus_wait_unregister(cons.c)
        #expect(cons.drain().0 == 1)
    }

    @Test("publishing while nobody sleeps never rings the doorbell")
    func noWakeWithoutSleepers() throws {
        let bus = try TestBus("nowake")
        let prod = try TestProducer(bus)
        let cons = try TestConsumer(bus, mode: RBUS_MODE_LOSSY)
        for i in 0..<10_000 { prod.publish(index: UInt64(i), size: 32) }
        #expect(bus.stream0.pointee.wakes == 0)
        #expect(rbus_bus_header(bus.b).pointee.doorbell == 0)
        // One sleep episode costs exactly one wake, however many commits follow it.
        _ = cons.drain()
        _ = rbus_wait_register(cons.c)
        for i in 0..<100 { prod.publish(index: UInt64(i), size: 32) }
        #expect(bus.stream0.pointee.wakes == 1)
        rbus_wait_unregister(cons.c)
    }

    @Test("the real commit and wait steps raced on two threads never lose a wakeup")
    func wakeupLitmus() throws {
        let bus = try TestBus("litmus-w")
        let lost = rbus_test_wakeup_litmus(bus.b, 1_200_000 / sanitizerScale)
        #expect(lost == 0, "\(lost) lost wakeups: the P2 fence (or W1's full barrier) is missing")
    }

    @Test("the real cursor commit and ring-full wait steps raced on two threads never lose a wakeup")
    func spaceLitmus() throws {
        let bus = try TestBus("litmus-s")
        let lost = rbus_test_space_litmus(bus.b, 200_000 / sanitizerScale)
        #expect(lost == 0, "\(lost) lost space wakeups: the fence in rbus_consumer_commit is missing")
    }

    @Test("a sleeping reader is woken by a publish from another thread, many times")
    func sleepingReaderIsWoken() throws {
        let bus = try TestBus("sleep")
        let prod = try TestProducer(bus)
        let cons = try TestConsumer(bus, mode: RBUS_MODE_LOSSY, start: RBUS_START_LATEST)
        let rounds: UInt64 = 300
        nonisolated(unsafe) let p = prod
        let join = spawnThread {
            for i in 0..<rounds {
                usleep(300) // long enough for the reader to fall asleep
                p.publish(index: i, size: 16)
            }
        }
        var got: UInt64 = 0
        let deadline = monotonicNs() + testDeadlineNs
        while got < rounds && monotonicNs() < deadline {
            got += UInt64(cons.drain().0)
            if got < rounds { _ = rbus_consumer_wait(cons.c, 5_000_000_000, RBUS_WAIT_BLOCK, 0) }
        }
        join()
        #expect(got == rounds)
        #expect(cons.c.pointee.wakeups_by_timeout == 0)
        #expect(cons.c.pointee.futex_waits >= rounds / 2, "the reader should have slept most rounds")
    }

    @Test("adaptive waiting spins only while a CPU is spare")
    func spinBudget() throws {
        let bus = try TestBus("spin")
        let a = try TestConsumer(bus, mode: RBUS_MODE_LOSSY)
        #expect(rbus_bus_spinners(bus.b) == 0)
        rbus_bus_slot(bus.b, UInt32(a.c.pointee.slot)).pointee.spinning = 1
        #expect(rbus_bus_spinners(bus.b) == 1)
        let b = try TestConsumer(bus, mode: RBUS_MODE_LOSSY)
        // With one spinner on a 2-CPU machine, an adaptive wait sleeps at once instead of spinning.
        let t0 = monotonicNs()
        #expect(rbus_consumer_wait(b.c, 20_000_000, RBUS_WAIT_ADAPTIVE, 10_000_000_000) == RBUS_TIMEOUT)
        #expect(monotonicNs() - t0 < 5_000_000_000)
        if bus.b.pointee.online_cpus <= 2 { #expect(b.c.pointee.futex_waits >= 1) }
        rbus_bus_slot(bus.b, UInt32(a.c.pointee.slot)).pointee.spinning = 0
    }
}
