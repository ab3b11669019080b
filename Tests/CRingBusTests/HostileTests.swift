// HostileTests.swift: the threat model. A corrupt segment yields a status in bounded time, never a
// crash, a hang, or a read outside the mapping (run also under --sanitize=address in CI).

import CRingBus
import Glibc
import Testing

/// Maps a bus's file directly, as a buggy peer would, to corrupt it.
final class RawMapping {
    let base: UnsafeMutableRawPointer
    let size: Int
    let fd: Int32

    init(bus: String) throws {
        fd = shm_open("/ringbus.\(bus)", O_RDWR, 0)
        try #require(fd >= 0)
        var st = stat()
        fstat(fd, &st)
        size = Int(st.st_size)
        let m = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        try #require(m != MAP_FAILED)
        base = m!
    }

    deinit {
        munmap(base, size)
        close(fd)
    }

    var header: UnsafeMutablePointer<rbus_bus_hdr> { base.assumingMemoryBound(to: rbus_bus_hdr.self) }
}

func attachStatus(_ name: String) -> rbus_status {
    var b = rbus_bus()
    let s = rbus_bus_attach(name, 1, &b, nil)
    if s == RBUS_OK { rbus_bus_detach(&b) }
    return s
}

@Suite("hostile segments")
struct HostileTests {
    @Test("each header corruption has its own attach status", arguments: [
        "magic", "version", "hash", "capacity", "total", "streams", "slot_stride", "clock", "owner", "grow", "shrink",
    ])
    func headerCorruption(field: String) throws {
        let bus = try TestBus("hdr")
        let raw = try RawMapping(bus: bus.name)
        let h = raw.header
        let expected: rbus_status
        switch field {
        case "magic": h.pointee.magic ^= 1; expected = RBUS_E_MAGIC
        case "version": h.pointee.layout_version = 99; expected = RBUS_E_VERSION
        case "hash": h.pointee.layout_hash ^= 0x5555; expected = RBUS_E_LAYOUT_HASH
        case "capacity": h.pointee.capacity = 3 << 20; expected = RBUS_E_GEOMETRY
        case "total": h.pointee.total_size += 8; expected = RBUS_E_GEOMETRY
        case "streams": h.pointee.stream_count = 0; expected = RBUS_E_GEOMETRY
        case "slot_stride": h.pointee.slot_stride = 64; expected = RBUS_E_GEOMETRY
        case "clock": h.pointee.clock_kind = 7; expected = RBUS_E_GEOMETRY
        case "owner": h.pointee.creator_uid &+= 4242; expected = RBUS_E_OWNER
        case "grow": ftruncate(raw.fd, off_t(raw.size + 4096)); expected = RBUS_E_SIZE
        default: ftruncate(raw.fd, 100); expected = RBUS_E_TOO_SMALL
        }
        #expect(attachStatus(bus.name) == expected)
    }

    @Test("random files named like a bus are refused without a crash")
    func randomFiles() throws {
        var rng = SystemRandomNumberGenerator()
        let good = try TestBus("template")
        let template = try RawMapping(bus: good.name)
        for i in 0..<200 {
            let name = uniqueBusName("rnd\(i)")
            let fd = shm_open("/ringbus.\(name)", O_RDWR | O_CREAT | O_EXCL, 0o600)
            try #require(fd >= 0)
            defer { shm_unlink("/ringbus.\(name)") }
            let size = Int.random(in: 0...(80 << 10), using: &rng)
            var bytes = [UInt8](repeating: 0, count: size)
            for j in 0..<size { bytes[j] = UInt8.random(in: 0...255, using: &rng) }
            if i % 2 == 0 && size >= Int(RBUS_HEADER_SIZE) { // a valid header prefix, then mutations
                memcpy(&bytes, template.base, Int(RBUS_HEADER_SIZE))
                for _ in 0..<Int.random(in: 0...4, using: &rng) {
                    bytes[Int.random(in: 0..<Int(RBUS_HEADER_SIZE), using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            }
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, size) }
            close(fd)
            #expect(attachStatus(name) != RBUS_OK)
        }
    }

    @Test("the header validator survives 100,000 mutated headers and accepts only consistent ones")
    func validatorFuzz() throws {
        let good = try TestBus("fuzz")
        let size = Int(good.b.pointee.size)
        let raw = try RawMapping(bus: good.name)
        let image = UnsafeMutableRawPointer.allocate(byteCount: Int(RBUS_HEADER_SIZE), alignment: 64)
        defer { image.deallocate() }
        var rng = SystemRandomNumberGenerator()
        var accepted = 0
        for _ in 0..<100_000 {
            memcpy(image, raw.base, Int(RBUS_HEADER_SIZE))
            let bytes = image.assumingMemoryBound(to: UInt8.self)
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                bytes[Int.random(in: 8..<200, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
            }
            var out = rbus_bus()
            // Only the header is readable here: a validator that reads past it fails under ASan.
            let s = rbus_bus_validate(bytes, UInt64(size), getuid(), &out)
            if s == RBUS_OK {
                accepted += 1
                #expect(out.size == UInt64(size) && out.streams_offset + UInt64(out.streams) * out.stream_stride == out.size)
            }
        }
        #expect(accepted < 100_000) // mutations of unchecked fields (timestamps, incarnation) may pass
    }

    enum RecordCorruption: String, CaseIterable {
        case hugeLength, zeroLength, unalignedOverEnd, unknownType, topicLongerThanRecord, badPadding,
             tailFarAhead, tailBackwards, hugeIntent, garbageCursor
    }

    @Test("corrupt records and words yield statuses in bounded time and no view outside the ring",
          arguments: RecordCorruption.allCases)
    func recordCorruption(kind: RecordCorruption) throws {
        let bus = try TestBus("rec")
        let prod = try TestProducer(bus)
        let lossy = try TestConsumer(bus, mode: RBUS_MODE_LOSSY)
        let gating = try TestConsumer(bus, mode: RBUS_MODE_GATING)
        for i in 0..<100 { prod.publish(index: UInt64(i), size: 200) }
        let ring = UnsafeMutableRawPointer(bus.ring)
        let cap = Int(bus.b.pointee.capacity)
        let stride = Int(rbus_align8(UInt64(RBUS_REC_HEADER_SIZE) + 10 + 200))
        let victim = ring + 10 * stride // the 11th record
        let s = bus.stream0
        switch kind {
        case .hugeLength: victim.storeBytes(of: UInt32.max, as: UInt32.self)
        case .zeroLength: victim.storeBytes(of: 0, as: UInt32.self)
        case .unalignedOverEnd: victim.storeBytes(of: UInt32(cap), as: UInt32.self)
        case .unknownType: victim.storeBytes(of: 77, toByteOffset: 4, as: UInt32.self)
        case .topicLongerThanRecord: victim.storeBytes(of: UInt16(250), toByteOffset: 28, as: UInt16.self)
        case .badPadding:
            victim.storeBytes(of: UInt32(16), as: UInt32.self)
            victim.storeBytes(of: UInt32(RBUS_REC_PADDING), toByteOffset: 4, as: UInt32.self)
        case .tailFarAhead: s.pointee.tail = UInt64(cap) * 1000 + 24
        case .tailBackwards: break // applied after a first read, below
        case .hugeIntent: s.pointee.intent = UInt64.max / 2
        case .garbageCursor: rbus_bus_cursors(bus.b, UInt32(gating.c.pointee.slot))[0].position = .max - 5
        }
        for consumer in [lossy, gating] {
            var v = rbus_event_view()
            var calls = 0, delivered = 0
            let scratch = UnsafeRawPointer(consumer.scratch)
            while calls < 100_000 {
                calls += 1
                let st = rbus_consumer_next(consumer.c, &v)
                if st == RBUS_EMPTY { break }
                if st != RBUS_OK { continue }
                delivered += 1
                let lo = v.copied != 0 ? scratch : UnsafeRawPointer(ring)
                let hi = lo + (v.copied != 0 ? Int(bus.b.pointee.max_record) : cap)
                let p = UnsafeRawPointer(v.payload!), t = UnsafeRawPointer(v.topic!)
                #expect(t >= lo && t + Int(v.topic_len) <= hi && p >= lo && p + Int(v.payload_len) <= hi,
                        "view outside its buffer")
                if kind == .tailBackwards && delivered == 5 { s.pointee.tail = 64 }
            }
            #expect(calls < 100_000, "polling did not come to rest")
            rbus_consumer_commit(consumer.c)
        }
        // The producer treats garbage cursors as protecting nothing and keeps publishing.
        if kind == .garbageCursor { #expect(prod.publish(index: 100, size: 200) == RBUS_OK) }
    }

    @Test("a producer refuses to resume a stream whose committed records are corrupt")
    func resumeOfCorruptStream() throws {
        let bus = try TestBus("resume")
        do {
            let p = try TestProducer(bus)
            for i in 0..<10 { p.publish(index: UInt64(i), size: 100) }
        }
        UnsafeMutableRawPointer(bus.ring).storeBytes(of: UInt32(3), as: UInt32.self) // first record's length
        bus.stream0.pointee.latest = 0
        let p = UnsafeMutablePointer<rbus_producer>.allocate(capacity: 1)
        defer { p.deallocate() }
        var err = rbus_error()
        #expect(rbus_producer_open(bus.b, nil, p, &err) == RBUS_E_CORRUPT) // never continue a sequence it cannot read
        #expect(rbus_stream_alive(bus.b, 0) == 0) // and the stream's lock was not kept
    }
}
