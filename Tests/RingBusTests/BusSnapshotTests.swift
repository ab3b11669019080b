// BusSnapshotTests.swift: the read-only snapshot names who publishes and who reads, with modes, lags,
// counters and liveness, as participants come and go; and it never joins the bus.

import Foundation
import RingBus
import Testing

@Suite("bus snapshot")
struct BusSnapshotTests {
    @Test("producers and consumers as they open, read and close, seen without joining")
    func lifecycle() throws {
        let name = "snap-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var p = SegmentParameters()
        p.streams = 2
        p.consumerSlots = 8
        let segment = try SharedSegment.create(name: name, parameters: p)
        defer { try? SharedSegment.remove(name: name) }

        let empty = try BusSnapshot.take(bus: name)
        #expect(empty.name == name && empty.sizeBytes == segment.size)
        #expect(empty.streams.count == 2 && empty.streams.allSatisfy { !$0.alive && $0.state == .free })
        #expect(empty.consumers.isEmpty)

        let writer = try StreamWriter(segment: segment, durableName: "orders-writer")
        let durable = try StreamReader(segment: segment, mode: .gating, durableName: "billing", start: .latest)
        let lossy = try StreamReader(segment: segment, mode: .lossy)
        let topic = try PreparedTopic("orders.created")
        let payload = [UInt8](repeating: 7, count: 32)
        for _ in 0..<10 { _ = try payload.withUnsafeBytes { try writer.publish(topic: topic, payload: $0) } }
        #expect(durable.poll(max: 4) { _ in } == 4)

        let s = try BusSnapshot.take(bus: name)
        let stream = try #require(s.streams.first { $0.stream == writer.stream })
        #expect(stream.alive && stream.state == .active && stream.pid == getpid())
        #expect(stream.durableName == "orders-writer" && stream.published == 10)
        #expect(s.published == 10)
        #expect(s.consumers.count == 2)
        let billing = try #require(s.consumers.first { $0.durableName == "billing" })
        #expect(billing.alive && billing.mode == .gating && billing.pid == getpid())
        #expect(billing.lag == 6 && billing.received == 4)
        let anonymous = try #require(s.consumers.first { $0.durableName == nil })
        #expect(anonymous.alive && anonymous.mode == .lossy && anonymous.lag == 10)

        durable.close()
        lossy.close()
        writer.close()
        let after = try BusSnapshot.take(bus: name)
        // A durable consumer keeps its place (and still gates) while away; an anonymous one is gone.
        #expect(after.consumers.count == 1)
        let away = try #require(after.consumers.first)
        #expect(away.durableName == "billing" && !away.alive && away.state == .detached && away.lag == 6)
        let closed = try #require(after.streams.first { $0.stream == stream.stream })
        #expect(!closed.alive && closed.state == .detached && closed.published == 10)
    }

    @Test("a slot written by a hostile process: unterminated name, unknown mode and state, huge cursor")
    func hostileSlot() throws {
        let name = "snaph-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let segment = try SharedSegment.create(name: name)
        defer { try? SharedSegment.remove(name: name) }
        let reader = try StreamReader(segment: segment, mode: .lossy)
        defer { reader.close() }
        // The bus header's consumers_offset (byte 56) and slot_stride (byte 28), Docs/LAYOUT.md.
        let file = try #require(FileHandle(forUpdatingAtPath: "/dev/shm/ringbus.\(name)"))
        defer { try? file.close() }
        func read<T: FixedWidthInteger>(_: T.Type, at offset: UInt64) throws -> T {
            try file.seek(toOffset: offset)
            let d = try #require(try file.read(upToCount: MemoryLayout<T>.size))
            return d.withUnsafeBytes { $0.loadUnaligned(as: T.self) }
        }
        func write(_ bytes: [UInt8], at offset: UInt64) throws {
            try file.seek(toOffset: offset)
            try file.write(contentsOf: bytes)
        }
        let consumers = try read(UInt64.self, at: 56)
        let stride = UInt64(try read(UInt32.self, at: 28))
        let before = try #require(try BusSnapshot.take(bus: name).consumers.first)
        let meta = consumers + UInt64(before.slot) * stride
        try write([0x07], at: meta) // claim state 7: no such state
        try write([9, 0, 0, 0], at: meta + 8) // mode 9: no such mode
        try write([UInt8](repeating: 0xFF, count: 64), at: meta + 40) // 64 bytes, no NUL, not UTF-8
        try write([UInt8](repeating: 0xFF, count: 16), at: meta + 128) // stream 0 cursor: position, next_seq
        let s = try BusSnapshot.take(bus: name)
        let slot = try #require(s.consumers.first { $0.slot == before.slot })
        #expect(slot.state == .unknown(7) && slot.mode == nil)
        #expect(slot.durableName?.unicodeScalars.count == 64) // cut at 64 bytes, decoded with replacement
        #expect(slot.lag == 0) // a cursor past the tail is no lag, not a wrapped huge one
        #expect(slot.alive) // liveness is the lock, which the scribbler did not touch
    }

    @Test("an unknown bus is an error, not an empty snapshot")
    func unknownBus() {
        #expect(throws: SegmentError.notFound(bus: "no-such-bus-\(getpid())")) {
            try BusSnapshot.take(bus: "no-such-bus-\(getpid())")
        }
    }
}
