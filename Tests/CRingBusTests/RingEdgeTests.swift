// RingEdgeTests.swift: wrap and padding, a record exactly filling the ring's end, size limits, empty
// payloads, and the record bytes as Docs/LAYOUT.md defines them.

import CRingBus
import Glibc
import Testing

@Suite("ring edges")
struct RingEdgeTests {
    static let topicLen = 10 // "test.topic"

    /// Payload size whose record stride is exactly `stride` bytes.
    static func payload(forStride stride: Int) -> Int { stride - Int(RBUS_REC_HEADER_SIZE) - topicLen }

    @Test("a record that does not fit before the ring end is preceded by an 8-byte padding record")
    func wrapWithEightBytePadding() throws {
        let bus = try TestBus("wrap8")
        let cap = Int(bus.b.pointee.capacity)
        let prod = try TestProducer(bus)
        let cons = try TestConsumer(bus, mode: RBUS_MODE_GATING)
        // Fill to exactly 8 bytes before the end with 1 KiB records, then one sized record.
        let big = 1024
        var index: UInt64 = 0
        var pos = 0
        while cap - pos - big >= 2048 {
            #expect(prod.publish(index: index, size: Self.payload(forStride: big)) == RBUS_OK)
            index += 1; pos += big
        }
        let last = cap - pos - 8
        #expect(prod.publish(index: index, size: Self.payload(forStride: last)) == RBUS_OK)
        index += 1; pos += last
        #expect(bus.stream0.pointee.tail == UInt64(cap - 8))
        var seqs = [UInt64]()
        let (n1, bad1) = cons.drain { seqs.append($0.sequence) } // gating: the wrap needs the space back
        #expect(n1 == Int(index) && bad1 == 0)
        // The next record needs padding: 8 bytes at cap - 8, then the record at 0 of the next lap.
        #expect(prod.publish(index: index, size: 100) == RBUS_OK)
        index += 1
        let padWords = UnsafeRawPointer(bus.ring + cap - 8)
        #expect(padWords.load(as: UInt32.self) == 8)
        #expect(padWords.load(fromByteOffset: 4, as: UInt32.self) == UInt32(RBUS_REC_PADDING))
        #expect(bus.stream0.pointee.tail == UInt64(cap) + rbus_align8(UInt64(RBUS_REC_HEADER_SIZE) + 10 + 100))
        let (n2, bad2) = cons.drain { seqs.append($0.sequence) }
        #expect(n2 == 1 && bad2 == 0)
        #expect(seqs.elementsEqual(0..<index), "sequences out of order")
    }

    @Test("a record exactly filling the space to the ring end needs no padding")
    func exactFill() throws {
        let bus = try TestBus("exact")
        let cap = Int(bus.b.pointee.capacity)
        let prod = try TestProducer(bus)
        let cons = try TestConsumer(bus, mode: RBUS_MODE_GATING)
        let stride = cap / 16
        for i in 0..<16 { #expect(prod.publish(index: UInt64(i), size: Self.payload(forStride: stride)) == RBUS_OK) }
        #expect(bus.stream0.pointee.tail == UInt64(cap))
        #expect(cons.drain().0 == 16)
        #expect(prod.publish(index: 16, size: 64) == RBUS_OK)
        // The 17th record starts at offset 0 of the second lap: no padding record was written.
        #expect(UnsafeRawPointer(bus.ring).load(fromByteOffset: 8, as: UInt64.self) == 16)
        var seq: UInt64 = 0
        #expect(cons.drain { seq = $0.sequence }.0 == 1)
        #expect(seq == 16)
    }

    @Test("the maximum event size is accepted and one byte more is rejected")
    func maximumEventSize() throws {
        let bus = try TestBus("maxsize", capacity: 1 << 20, maxEvent: 128 << 10)
        let prod = try TestProducer(bus)
        let cons = try TestConsumer(bus, mode: RBUS_MODE_LOSSY)
        let limit = Int(bus.b.pointee.max_event_size)
        #expect(prod.publish(index: 1, size: limit) == RBUS_OK)
        #expect(prod.publish(index: 2, size: limit + 1) == RBUS_E_TOO_LARGE)
        let (n, bad) = cons.drain { #expect($0.payload_len == UInt32(limit)) }
        #expect(n == 1 && bad == 0)
        // Topics: 255 bytes accepted, 256 rejected.
        var dst: UnsafeMutablePointer<UInt8>? = nil
        let t255 = [UInt8](repeating: 0x61, count: 255), t256 = [UInt8](repeating: 0x61, count: 256)
        #expect(rbus_producer_claim(prod.p, t255, 255, 0, 8, 0, 0, &dst) == RBUS_OK)
        #expect(rbus_producer_claim(prod.p, t256, 256, 0, 8, 0, 0, &dst) == RBUS_E_TOO_LARGE)
        rbus_producer_commit(prod.p)
        var topicLen: UInt32 = 0
        _ = cons.drain { topicLen = $0.topic_len }
        #expect(topicLen == 255)
    }

    @Test("an empty payload is delivered as an empty payload with its topic and key")
    func emptyPayload() throws {
        let bus = try TestBus("empty")
        let prod = try TestProducer(bus, topic: "orders.created")
        let cons = try TestConsumer(bus, mode: RBUS_MODE_GATING)
        let t = Array("orders.created".utf8)
        #expect(rbus_producer_publish(prod.p, t, UInt32(t.count), prod.hash, nil, 0, 42, UInt32(RBUS_REC_FLAG_KEY)) == RBUS_OK)
        var v = rbus_event_view()
        #expect(rbus_consumer_next(cons.c, &v) == RBUS_OK)
        #expect(v.payload_len == 0)
        #expect(String(decoding: UnsafeRawBufferPointer(start: v.topic, count: Int(v.topic_len)), as: UTF8.self) == "orders.created")
        #expect(v.topic_hash == prod.hash)
        #expect(v.key == 42 && v.flags & UInt32(RBUS_REC_FLAG_KEY) != 0)
        #expect(v.copied == 0) // gating readers get a view into the ring
        #expect(rbus_consumer_next(cons.c, &v) == RBUS_EMPTY)
    }

    @Test("a batch of claims becomes visible with one commit, in order")
    func batchCommit() throws {
        let bus = try TestBus("batch")
        let prod = try TestProducer(bus)
        let cons = try TestConsumer(bus, mode: RBUS_MODE_LOSSY)
        for i in 0..<64 {
            var dst: UnsafeMutablePointer<UInt8>? = nil
            #expect(rbus_producer_claim(prod.p, prod.topic, 10, prod.hash, 64, 0, 0, &dst) == RBUS_OK)
            fillChecked(dst!, size: 64, index: UInt64(i))
        }
        #expect(cons.drain().0 == 0) // nothing visible before the commit
        #expect(rbus_producer_commit(prod.p) == 64)
        var seqs = [UInt64]()
        let (n, bad) = cons.drain { seqs.append($0.sequence) }
        #expect(n == 64 && bad == 0 && seqs == Array(0..<64))
        #expect(bus.stream0.pointee.published == 64)
    }

    @Test("timestamps convert to wall-clock time near now")
    func timestamps() throws {
        let bus = try TestBus("clock")
        let prod = try TestProducer(bus)
        let cons = try TestConsumer(bus, mode: RBUS_MODE_LOSSY)
        prod.publish(index: 0, size: 16)
        var ticks: UInt64 = 0
        _ = cons.drain { ticks = $0.timestamp }
        let ns = rbus_bus_timestamp_ns(bus.b, ticks)
        let now = rbus_clock_realtime_ns()
        #expect(ns <= now + 5_000_000 && now - ns < 5_000_000_000)
    }
}
