// HostilePeerTests.swift: another process flips random bytes of the segment while this one publishes,
// polls and attaches. Every call returns in bounded time, nothing crashes, no view leaves its buffer.

import CRingBus
import Foundation
import Testing

@Suite("hostile peer", .serialized)
struct HostilePeerTests {
    @Test("a peer flipping bytes while we publish and poll: statuses, no crash, views in bounds")
    func flippingPeer() throws {
        let name = "mp-flip-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let b = UnsafeMutablePointer<rbus_bus>.allocate(capacity: 1)
        defer { b.deallocate() }
        var params = rbus_create_params()
        rbus_create_params_default(&params)
        params.consumers = 4
        params.eviction_grace_ns = 0
        try #require(rbus_bus_create(name, &params, b, nil) == RBUS_OK)
        defer { rbus_bus_detach(b); _ = rbus_bus_remove(name, nil) }
        let p = UnsafeMutablePointer<rbus_producer>.allocate(capacity: 1)
        defer { rbus_producer_close(p); p.deallocate() }
        try #require(rbus_producer_open(b, nil, p, nil) == RBUS_OK)
        let maxRecord = Int(b.pointee.max_record)
        var consumers: [(UnsafeMutablePointer<rbus_consumer>, UnsafeMutablePointer<UInt8>)] = []
        for mode in [RBUS_MODE_LOSSY, RBUS_MODE_GATING] {
            let c = UnsafeMutablePointer<rbus_consumer>.allocate(capacity: 1)
            let s = UnsafeMutablePointer<UInt8>.allocate(capacity: maxRecord)
            try #require(rbus_consumer_open(b, nil, UInt32(mode), RBUS_START_LATEST, nil, s, c, nil, nil) == RBUS_OK)
            consumers.append((c, s))
        }
        defer { for (c, s) in consumers { rbus_consumer_close(c); c.deallocate(); s.deallocate() } }

        let flipper = try Peer(["flip", name, "2", String(UInt64.random(in: 1...UInt64.max))])
        let ringLo = UnsafeRawPointer(b.pointee.base!), ringHi = ringLo + Int(b.pointee.size)
        let topic = Array("flip.test".utf8)
        let payload = [UInt8](repeating: 0xab, count: 300)
        var outOfBounds = 0, delivered = 0, statuses = Set<Int32>(), attachStatuses = Set<Int32>()
        let deadline = Date().addingTimeInterval(testDeadline)
        while flipper.process.isRunning && Date() < deadline {
            for _ in 0..<50 {
                let st = rbus_producer_publish(p, topic, UInt32(topic.count), 0, payload, UInt32(payload.count), 0, 0)
                statuses.insert(st.rawValue)
            }
            for (c, scratch) in consumers {
                var v = rbus_event_view()
                for _ in 0..<200 {
                    let st = rbus_consumer_next(c, &v)
                    statuses.insert(st.rawValue)
                    if st == RBUS_EMPTY { break }
                    guard st == RBUS_OK else { continue }
                    delivered += 1
                    let lo = v.copied != 0 ? UnsafeRawPointer(scratch) : ringLo
                    let hi = v.copied != 0 ? lo + maxRecord : ringHi
                    let t = UnsafeRawPointer(v.topic!), pl = UnsafeRawPointer(v.payload!)
                    if t < lo || t + Int(v.topic_len) > hi || pl < lo || pl + Int(v.payload_len) > hi { outOfBounds += 1 }
                }
                rbus_consumer_commit(c)
                _ = rbus_consumer_wait(c, 0, RBUS_WAIT_BLOCK, 0)
            }
            var other = rbus_bus()
            let a = rbus_bus_attach(name, 0, &other, nil)
            attachStatuses.insert(a.rawValue)
            if a == RBUS_OK { rbus_bus_detach(&other) }
        }
        #expect(flipper.wait() == 0)
        #expect((flipper.result["flips"] ?? 0) > 1000)
        #expect(outOfBounds == 0)
        #expect(delivered > 0)
        #expect(statuses.isSubset(of: [RBUS_OK, RBUS_EMPTY, RBUS_FULL, RBUS_E_CORRUPT].map(\.rawValue)), "\(statuses)")
    }
}
