// MultiProcessRingTests.swift: real processes over real shared memory. Producers and consumers are
// RingBusTestPeer processes; payloads are checksummed; every wait has a deadline.

import CRingBus
import Foundation
import RingBus
import Testing

@Suite("multi-process rings", .serialized)
struct MultiProcessRingTests {
    @Test("1 producer and 3 consumer processes (2 gating, 1 lossy) over 1,000,000 checksummed events")
    func oneProducerThreeConsumers() throws {
        let bus = try ProcessTestBus("1p3c", capacity: 1 << 20)
        let count = 1_000_000
        let consumers = try ["gating", "gating", "lossy"].map {
            try Peer(["consume", bus.name, $0, String(count), "earliest", String(Int(testDeadline * 4))])
        }
        for c in consumers { #expect(c.waitForLine(containing: "ready")) }
        let producer = try Peer(["produce", bus.name, String(count), "64", "1", "1"])
        #expect(producer.wait(timeout: testDeadline * 4) == 0)
        #expect(producer.result["published"] == UInt64(count))
        for (i, c) in consumers.enumerated() {
            #expect(c.wait(timeout: testDeadline * 4) == 0)
            let r = c.result
            #expect(r["bad"] == 0, "consumer \(i): torn or corrupt payloads")
            #expect(r["dups"] == 0 && r["corrupt"] == 0)
            #expect(r["done"] == 1, "consumer \(i) did not reach the last event: \(r)")
            if i < 2 {
                #expect(r["received"] == UInt64(count) && r["gaps"] == 0 && r["missed"] == 0, "gating consumer \(i): \(r)")
            } else {
                #expect((r["received"] ?? 0) + (r["dropped"] ?? 0) == UInt64(count), "lossy: \(r)")
                #expect(r["gaps"] == r["dropped"])
            }
        }
    }

    @Test("2 producer processes on one bus: each stream keeps its order and the counts add up")
    func twoProducers() throws {
        let bus = try ProcessTestBus("2p", streams: 2, capacity: 1 << 20)
        let count = 200_000
        let gating = try Peer(["consume", bus.name, "gating", String(count), "earliest", String(Int(testDeadline * 2))])
        let lossy = try Peer(["consume", bus.name, "lossy", String(count), "earliest", String(Int(testDeadline * 2))])
        #expect(gating.waitForLine(containing: "ready") && lossy.waitForLine(containing: "ready"))
        let producers = try (0..<2).map { _ in try Peer(["produce", bus.name, String(count), "100", "8", "1"]) }
        var streams = Set<UInt64>()
        for p in producers {
            #expect(p.wait(timeout: testDeadline * 2) == 0)
            #expect(p.result["published"] == UInt64(count))
            streams.insert(p.result["stream"] ?? 99)
        }
        #expect(streams == [0, 1])
        #expect(gating.wait(timeout: testDeadline * 2) == 0)
        let g = gating.result
        #expect(g["received"] == UInt64(2 * count) && g["gaps"] == 0 && g["dups"] == 0 && g["bad"] == 0, "\(g)")
        #expect(lossy.wait(timeout: testDeadline * 2) == 0)
        let l = lossy.result
        #expect(l["bad"] == 0 && l["dups"] == 0 && (l["received"] ?? 0) + (l["dropped"] ?? 0) == UInt64(2 * count), "\(l)")
    }

    @Test("10,000 bursts to a sleeping consumer process: every wake arrives, none by timeout")
    func noLostWakeupsAcrossProcesses() throws {
        let bus = try ProcessTestBus("wake", capacity: 1 << 20)
        let bursts = 10_000, burst = 4
        let sleepy = try Peer(["sleepy", bus.name, String(bursts * burst), String(Int(testDeadline * 2))])
        #expect(sleepy.waitForLine(containing: "ready"))
        let producer = try Peer(["paced-produce", bus.name, String(bursts), String(burst), "300"])
        #expect(producer.wait(timeout: testDeadline * 2) == 0)
        #expect(sleepy.wait(timeout: testDeadline * 2) == 0)
        let r = sleepy.result
        #expect(r["received"] == UInt64(bursts * burst), "\(r)")
        #expect(r["dropped"] == 0)
        #expect(r["wakeups_by_timeout"] == 0, "a wait ended by its safety timeout: a lost wakeup")
        #expect(r["over_100ms"] == 0, "a burst took over 100 ms to arrive: \(r)")
        #expect((r["futex_waits"] ?? 0) >= UInt64(Double(bursts) * 0.9), "the consumer did not really sleep: \(r)")
    }
}
