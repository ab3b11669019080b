// InitFailureTests.swift: every Swift type that wraps a C handle or a mapping releases it exactly once
// when its initialiser fails after the acquisition (issue 11 item 1: a failing StreamWriter.init closed
// and freed its producer twice). A fault point armed through @testable makes each initialiser throw
// right after it acquired; the test then shows the resource came back (the only stream or slot can be
// claimed again, the mapping is gone from /proc/self/maps) and the process is still alive (a double
// free aborts; AddressSanitizer in .ci/run reports it too).
//
// Types and their resources: SharedSegment (rbus_bus mapping + fd), StreamWriter (rbus_producer: stream
// lock), StreamReader (rbus_consumer: slot lock, scratch buffer), BusSnapshot.take (a read-only
// SharedSegment), SharedSubscription (its StreamReader), SharedMemoryEventBus (its SharedSegment; its
// BusWaiter is created last, after everything that can throw). BusWaiter's own init cannot fail.

import Foundation
@testable import RingBus
import Testing

/// Mappings of `/dev/shm/ringbus.<bus>` in this process.
private func mappings(of bus: String) -> Int {
    // Read to the end (the file's size reads as 0, so a size-based read sees nothing).
    let data = (try? FileHandle(forReadingAtPath: "/proc/self/maps")?.readToEnd()) ?? nil
    let maps = String(decoding: data ?? Data(), as: UTF8.self)
    return maps.split(separator: "\n").filter { $0.hasSuffix("/dev/shm/ringbus.\(bus)") }.count
}

private func segment(streams: Int = 1, slots: Int = 1) throws -> (String, SharedSegment) {
    let name = uniqueBusName("initfail")
    var p = SegmentParameters()
    p.streams = streams
    p.consumerSlots = slots
    p.capacity = 64 << 10
    p.maxEventSize = 1024
    return (name, try SharedSegment.create(name: name, parameters: p))
}

@Suite("initialisers that fail after acquiring release exactly once", .serialized)
struct InitFailureTests {
    /// Arms `point`, runs `attempt` on a fresh bus (it must throw), and checks the bus's mapping is gone.
    private func expectUnmappedAfterFailure(at point: FaultPoint, _ attempt: (String) throws -> Void) throws {
        let (name, seg) = try segment()
        defer { try? SharedSegment.remove(name: name) }
        let before = mappings(of: name)
        FaultInjection.arm(point)
        #expect(throws: SegmentError.self) { try attempt(name) }
        #expect(before >= 1, "the bus's own mapping is seen")
        #expect(mappings(of: name) == before, "the failed initialiser left its mapping behind")
        withExtendedLifetime(seg) {}
    }

    @Test("SharedSegment: attach then fail unmaps once")
    func segmentInit() throws {
        try expectUnmappedAfterFailure(at: .segmentAttached) { _ = try SharedSegment.attach(name: $0) }
    }

    @Test("StreamWriter: the only stream is free again after an open that failed")
    func writerInit() throws {
        let (name, seg) = try segment(streams: 1)
        defer { try? SharedSegment.remove(name: name) }
        FaultInjection.arm(.streamWriterOpened)
        #expect(throws: SegmentError.self) { _ = try StreamWriter(segment: seg) }
        let w = try StreamWriter(segment: seg) // would be noFreeSlot if the failed init kept the stream
        #expect(w.stream == 0)
        w.close()
        w.close() // idempotent
    }

    @Test("StreamWriter: a refused open (every stream taken) throws a typed error and frees nothing twice")
    func writerRefused() throws {
        let (name, seg) = try segment(streams: 1)
        defer { try? SharedSegment.remove(name: name) }
        let holder = try StreamWriter(segment: seg)
        for _ in 0..<3 {
            #expect(throws: SegmentError.noFreeSlot(bus: name, what: "stream")) { _ = try StreamWriter(segment: seg) }
        }
        holder.close()
    }

    @Test("StreamReader: the only consumer slot is free again after an open that failed")
    func readerInit() throws {
        let (name, seg) = try segment(slots: 1)
        defer { try? SharedSegment.remove(name: name) }
        FaultInjection.arm(.streamReaderOpened)
        #expect(throws: SegmentError.self) { _ = try StreamReader(segment: seg, mode: .gating, durableName: "d") }
        let r = try StreamReader(segment: seg, mode: .gating, durableName: "d")
        #expect(r.slot == 0 && r.resumed) // the failed open had closed the name cleanly
        r.close()
    }

    @Test("BusSnapshot.take: attach then fail unmaps once")
    func snapshotInit() throws {
        try expectUnmappedAfterFailure(at: .snapshotAttached) { _ = try BusSnapshot.take(bus: $0) }
    }

    @Test("SharedSubscription: the slot is free again after a subscribe that failed")
    func subscriptionInit() async throws {
        let name = uniqueBusName("initfail-sub")
        var options = SharedMemoryBusOptions()
        options.segment.consumerSlots = 1
        let bus = try SharedMemoryEventBus(name: name, config: config { $0.deliveryGuarantee = .atLeastOnce }, options: options)
        FaultInjection.arm(.subscriptionOpened)
        await #expect(throws: SegmentError.self) { try await bus.subscribe(toTopics: ["t"], ClosureHandler { _ in }) }
        let sub = try await bus.subscribe(toTopics: ["t"], ClosureHandler { _ in })
        await sub.cancel()
        #expect(await closed(bus))
        try? SharedMemoryEventBus.remove(name: name)
    }

    @Test("SharedMemoryEventBus: attach then fail unmaps once and starts no thread")
    func eventBusInit() throws {
        try expectUnmappedAfterFailure(at: .eventBusAttached) { _ = try SharedMemoryEventBus(name: $0) }
    }
}
