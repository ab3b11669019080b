// SnapshotProcessTests.swift: liveness in a snapshot is the owner's lock: a producer process and a
// consumer process show as alive with their pids, and as dead the moment SIGKILL ends them (their
// claim words still say active: only the lock tells).

import Foundation
import RingBus
import Testing

@Suite("bus snapshot across processes")
struct SnapshotProcessTests {
    @Test("killed producer and consumer processes show as not alive, with their last pids")
    func killedParticipants() throws {
        let bus = try ProcessTestBus("snapshot")
        let producer = try Peer(["crash-produce", bus.name, "64"])
        let consumer = try Peer(["sleepy", bus.name, "1000000000", String(Int(testDeadline))])
        #expect(producer.waitForLine(containing: "next_seq"))
        #expect(consumer.waitForLine(containing: "ready"))

        let live = try BusSnapshot.take(bus: bus.name)
        let stream = try #require(live.streams.first { $0.pid == producer.process.processIdentifier })
        #expect(stream.alive && stream.state == .active)
        let slot = try #require(live.consumers.first { $0.pid == consumer.process.processIdentifier })
        #expect(slot.alive && slot.mode == .lossy)

        producer.kill9()
        consumer.kill9()
        _ = producer.wait()
        _ = consumer.wait()
        let dead = try BusSnapshot.take(bus: bus.name)
        let deadStream = try #require(dead.streams.first { $0.stream == stream.stream })
        #expect(!deadStream.alive && deadStream.state == .active && deadStream.pid == stream.pid)
        #expect(deadStream.published >= stream.published)
        let deadSlot = try #require(dead.consumers.first { $0.slot == slot.slot })
        #expect(!deadSlot.alive && deadSlot.pid == slot.pid)
    }
}
