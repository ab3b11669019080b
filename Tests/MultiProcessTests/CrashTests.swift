// CrashTests.swift: processes killed with SIGKILL at random points. Consumers never see a torn record,
// a new producer reclaims the stream and continues the sequence, a killed consumer's slot is freed by
// its lock, and a dead gating consumer stops holding the producer back.

import CRingBus
import Foundation
import RingBus
import Testing

@Suite("crashes", .serialized)
struct CrashTests {
    @Test("producers killed with SIGKILL at random points: no torn record, the sequence continues")
    func producerKills() throws {
        let bus = try ProcessTestBus("kill", capacity: 1 << 20)
        let reader = try StreamReader(segment: bus.segment, mode: .gating, start: .earliest)
        var expected: UInt64 = 0
        var bad = 0, gaps = 0, received = 0
        func drain() {
            while true {
                let n = reader.poll(max: 4096) { v in
                    if !payloadIsIntact(v.payload) { bad += 1 }
                    if v.sequence != expected { gaps += 1 }
                    expected = v.sequence + 1
                    received += 1
                }
                if n == 0 { break }
            }
        }
        let kills = 60
        var continued = 0
        for _ in 0..<kills {
            drain() // everything the dead producer committed
            let before = expected
            let p = try Peer(["crash-produce", bus.name, String(Int.random(in: 16...600))])
            #expect(p.waitForLine(containing: "next_seq"))
            // The new producer resumed from committed state: its first sequence follows the last one read.
            if p.result["next_seq"] == before { continued += 1 }
            usleep(UInt32.random(in: 1_000...30_000))
            for _ in 0..<Int.random(in: 0...3) { drain(); usleep(UInt32.random(in: 100...3_000)) }
            p.kill9()
            _ = p.wait()
        }
        drain()
        #expect(continued == kills, "a reclaiming producer did not continue the sequence")
        #expect(bad == 0, "torn records delivered")
        #expect(gaps == 0, "sequence gaps across producer restarts")
        #expect(received > kills)
        #expect(reader.counters.corrupt == 0 && reader.counters.missed == 0)
    }

    @Test("a consumer process killed mid-stream frees its slot, and no longer gates the producer")
    func consumerKills() throws {
        let bus = try ProcessTestBus("ckill", capacity: 1 << 20, consumers: 1)
        let writer = try StreamWriter(segment: bus.segment)
        let topic = try PreparedTopic("test.events")
        var payload = [UInt8](repeating: 0, count: 200)
        for round in 0..<10 {
            let c = try Peer(["consume", bus.name, "gating", "1000000000", "latest", "60", "-", String(1000 + round * 77)])
            #expect(c.waitForLine(containing: "ready"))
            // Publish until the consumer process has killed itself (the ring fills while it is gone).
            var published = 0
            let deadline = Date().addingTimeInterval(testDeadline)
            while c.process.isRunning && Date() < deadline {
                payload.withUnsafeMutableBytes { fill($0, index: UInt64(published)) }
                if case .published = try payload.withUnsafeBytes({ try writer.publish(topic: topic, payload: $0) }) {
                    published += 1
                } else {
                    usleep(200)
                }
            }
            c.process.waitUntilExit()
            #expect(c.process.terminationReason == .uncaughtSignal)
            // Its lock is gone: the dead anonymous gating consumer is evicted and the producer goes on
            // for more than a ring's worth.
            var more = 0
            let until = Date().addingTimeInterval(testDeadline)
            while more < 20_000 && Date() < until {
                if case .published = try payload.withUnsafeBytes({ try writer.publish(topic: topic, payload: $0) }) {
                    more += 1
                } else { usleep(500) }
            }
            #expect(more == 20_000)
            // And the only slot can be taken again.
            let again = try StreamReader(segment: bus.segment, mode: .lossy)
            again.close()
        }
    }
}

func payloadIsIntact(_ p: UnsafeRawBufferPointer) -> Bool {
    guard p.count >= 16 else { return false }
    let sum = p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
    let rest = UnsafeRawBufferPointer(rebasing: p[16...])
    return rbus_test_checksum(rest.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt32(rest.count)) == sum
}

func fill(_ buf: UnsafeMutableRawBufferPointer, index: UInt64) {
    let rest = UnsafeMutableRawBufferPointer(rebasing: buf[16...])
    let sum = rbus_test_fill(rest.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt32(rest.count), index)
    buf.storeBytes(of: index, toByteOffset: 0, as: UInt64.self)
    buf.storeBytes(of: sum, toByteOffset: 8, as: UInt64.self)
}
