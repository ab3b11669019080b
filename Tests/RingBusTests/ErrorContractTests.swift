// ErrorContractTests.swift: each operation throws the SegmentError cases its documentation lists
// (Docs/API.md, "Errors, per operation"), and each message names the bus (issue 12: "errors per
// operation"). Every failure is provoked for real: a name that is a directory, a file with another magic,
// a stream held by a writer of this process (an OFD lock conflicts within one process too).
//
// Cases that need another user (permissionDenied) are covered by the CLI tests that run as nobody
// (CLIRegressionTests); a full /dev/shm is reached through the size check create makes before building.

import Foundation
@testable import RingBus
import Testing

private func params(streams: Int = 1, slots: Int = 1) -> SegmentParameters {
    var p = SegmentParameters()
    p.streams = streams
    p.consumerSlots = slots
    p.capacity = 64 << 10
    p.maxEventSize = 1024
    return p
}

/// Runs `body`, which must throw a SegmentError; returns it.
private func segmentError(_ body: () throws -> Void) -> SegmentError? {
    do { try body() } catch let e as SegmentError { return e } catch { Issue.record("not a SegmentError: \(error)") }
    return nil
}

@Suite("each operation throws its documented errors, naming the bus", .serialized)
struct ErrorContractTests {
    @Test("create: invalid name, invalid parameter, exists, no space (with the bytes it needs)")
    func create() throws {
        let name = uniqueBusName("errc")
        #expect(segmentError { _ = try SharedSegment.create(name: "bad/name") } == .invalidName("bad/name"))
        var zero = params()
        zero.streams = 0
        guard case .invalidParameter(let why) = segmentError({ _ = try SharedSegment.create(name: name, parameters: zero) })
        else { Issue.record("streams 0 was accepted"); return }
        #expect(why.contains("streams"))

        let seg = try SharedSegment.create(name: name, parameters: params())
        defer { try? SharedSegment.remove(name: name) }
        _ = seg
        #expect(segmentError { _ = try SharedSegment.create(name: name, parameters: params()) } == .alreadyExists(bus: name))

        // 64 streams of 4 GiB: more than this machine's /dev/shm, refused before anything is built.
        var huge = params()
        huge.streams = SegmentParameters.streamsRange.upperBound
        huge.capacity = SegmentParameters.capacityRange.upperBound
        let big = uniqueBusName("errc-big")
        guard case .noSpace(let bus, let bytes) = segmentError({ _ = try SharedSegment.create(name: big, parameters: huge) })
        else { Issue.record("a segment larger than /dev/shm was not refused as noSpace"); return }
        let needed = try huge.segmentSize()
        #expect(bus == big && bytes == needed)
        #expect("\(SegmentError.noSpace(bus: bus, bytes: bytes))".contains("needs \(bytes) bytes"))
        #expect(!FileManager.default.fileExists(atPath: "/dev/shm/ringbus.\(big)"))
    }

    @Test("attach and remove: not found, not a regular file, another layout, too small to be a bus")
    func attachAndRemove() throws {
        let missing = uniqueBusName("errc-missing")
        #expect(segmentError { _ = try SharedSegment.attach(name: missing) } == .notFound(bus: missing))
        #expect(segmentError { try SharedSegment.remove(name: missing) } == .notFound(bus: missing))

        let dir = uniqueBusName("errc-dir")
        try FileManager.default.createDirectory(atPath: "/dev/shm/ringbus.\(dir)", withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: "/dev/shm/ringbus.\(dir)") }
        #expect(segmentError { _ = try SharedSegment.attach(name: dir) } == .notARegularFile(bus: dir))
        #expect(segmentError { try SharedSegment.remove(name: dir) } == .notARegularFile(bus: dir))

        let alien = uniqueBusName("errc-alien")
        let path = "/dev/shm/ringbus.\(alien)"
        #expect(FileManager.default.createFile(atPath: path, contents: Data(repeating: 0x5a, count: 64 << 10),
                                               attributes: [.posixPermissions: 0o600]))
        defer { try? FileManager.default.removeItem(atPath: path) }
        guard case .incompatibleLayout(let bus, _) = segmentError({ _ = try SharedSegment.attach(name: alien) })
        else { Issue.record("a file of another magic attached"); return }
        #expect(bus == alien)

        let tiny = uniqueBusName("errc-tiny")
        #expect(FileManager.default.createFile(atPath: "/dev/shm/ringbus.\(tiny)", contents: Data([1, 2, 3]),
                                               attributes: [.posixPermissions: 0o600]))
        defer { try? FileManager.default.removeItem(atPath: "/dev/shm/ringbus.\(tiny)") }
        guard case .corrupt(let tinyBus, _) = segmentError({ _ = try SharedSegment.attach(name: tiny) })
        else { Issue.record("a 3-byte file attached"); return }
        #expect(tinyBus == tiny)
    }

    @Test("writers and readers: no free stream or slot, durable name in use, too large, bus removed")
    func writersAndReaders() throws {
        let name = uniqueBusName("errc-rw")
        let seg = try SharedSegment.create(name: name, parameters: params())
        defer { try? SharedSegment.remove(name: name) }

        let writer = try StreamWriter(segment: seg, durableName: "w")
        #expect(segmentError { _ = try StreamWriter(segment: seg) } == .noFreeSlot(bus: name, what: "stream"))
        #expect(segmentError { _ = try StreamWriter(segment: seg, durableName: "w") }
            == .durableNameInUse(bus: name, name: "w"))
        let topic = try PreparedTopic("t")
        #expect(segmentError { _ = try writer.claim(topic: topic, payloadLength: 4096) }
            == .payloadTooLarge(size: 4096, limit: seg.maxEventSize))

        let reader = try StreamReader(segment: seg, mode: .gating, durableName: "r")
        #expect(segmentError { _ = try StreamReader(segment: seg, mode: .lossy) } == .noFreeSlot(bus: name, what: "consumer slot"))
        #expect(segmentError { try seg.forgetConsumer(named: "r") } == .durableNameInUse(bus: name, name: "r"))
        guard case .invalidParameter(let why) = segmentError({ try seg.forgetConsumer(named: "nobody") })
        else { Issue.record("forgetting an unknown name succeeded"); return }
        #expect(why.contains(name) && why.contains("nobody"))
        reader.close()
        writer.close()

        try SharedSegment.remove(name: name)
        #expect(segmentError { _ = try StreamWriter(segment: seg) } == .busRemoved(bus: name))
        #expect(segmentError { _ = try StreamReader(segment: seg, mode: .lossy) } == .busRemoved(bus: name))
    }

    @Test("createEventBus passes the segment's own error through (not subscribeError)")
    func factory() throws {
        var config = EventBusConfig()
        config.busType = .sharedMemory(name: "bad/name")
        #expect(throws: SegmentError.invalidName("bad/name")) { _ = try createEventBus(config) }
        config.busType = .sharedMemory(name: "ok")
        config.bufferSize = 0
        #expect(throws: EventBusError.self) { _ = try createEventBus(config) }
    }

    @Test("every message names the bus it is about")
    func messagesNameTheBus() {
        let sys = SystemCallError(call: "shm_open", errno: EACCES)
        let cases: [SegmentError] = [
            .alreadyExists(bus: "b1"), .notFound(bus: "b1"), .permissionDenied(bus: "b1", sys), .noSpace(bus: "b1", bytes: 8),
            .incompatibleLayout(bus: "b1", reason: "r"), .corrupt(bus: "b1", reason: "r"), .busRemoved(bus: "b1"),
            .notARegularFile(bus: "b1"), .noFreeSlot(bus: "b1", what: "stream"), .durableNameInUse(bus: "b1", name: "n"),
            .busy(bus: "b1"), .forked(bus: "b1"), .system(bus: "b1", sys),
        ]
        for e in cases { #expect("\(e)".contains("b1"), "\(e)") }
        #expect("\(SegmentError.system(bus: "b1", sys))".contains("shm_open") && "\(sys)".contains("errno \(EACCES)"))
    }
}
