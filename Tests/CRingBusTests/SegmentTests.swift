// SegmentTests.swift: names, create / attach / remove, parameters, and creation that never leaves or
// exposes a half-built segment.

import CRingBus
import CRingBusUring
import Glibc
import Testing

@Suite("segment life cycle")
struct SegmentTests {
    @Test("bus names are validated", arguments: [
        ("orders", true), ("a.b-c_1", true), (String(repeating: "x", count: 64), true),
        ("", false), (".", false), ("..", false), ("../x", false), ("a/b", false), ("sp ace", false),
        (String(repeating: "x", count: 65), false), ("ünï", false),
    ])
    func namesAreValidated(name: String, ok: Bool) {
        #expect((rbus_name_validate(name) == RBUS_OK) == ok)
    }

    @Test("create refuses an existing bus, attach refuses a missing one")
    func createAndAttachStatuses() throws {
        let bus = try TestBus("exists")
        var other = rbus_bus()
        var p = rbus_create_params()
        rbus_create_params_default(&p)
        var err = rbus_error()
        #expect(rbus_bus_create(bus.name, &p, &other, &err) == RBUS_E_EXISTS)
        #expect(err.sys_errno == EEXIST)
        #expect(rbus_bus_attach(uniqueBusName("missing"), 1, &other, &err) == RBUS_E_NOT_FOUND)
        #expect(rbus_bus_attach("../etc", 1, &other, &err) == RBUS_E_NAME)
        #expect(rbus_bus_attach(bus.name, 1, &other, &err) == RBUS_OK)
        #expect(other.capacity == 1 << 20 && other.streams == 1 && other.incarnation == bus.b.pointee.incarnation)
        rbus_bus_detach(&other)
    }

    @Test("create parameters out of range are rejected without creating anything")
    func badParameters() {
        func attempt(_ edit: (inout rbus_create_params) -> Void) -> rbus_status {
            var p = rbus_create_params()
            rbus_create_params_default(&p)
            edit(&p)
            var b = rbus_bus()
            let name = uniqueBusName("param")
            let s = rbus_bus_create(name, &p, &b, nil)
            if s == RBUS_OK { rbus_bus_detach(&b); _ = rbus_bus_remove(name, nil) }
            return s
        }
        #expect(attempt { $0.capacity = 3 << 20 } == RBUS_E_PARAM)   // not a power of two
        #expect(attempt { $0.capacity = 2048 } == RBUS_E_PARAM)      // below the minimum
        #expect(attempt { $0.max_event_size = UInt32($0.capacity / 8) + 1 } == RBUS_E_PARAM)
        #expect(attempt { $0.max_event_size = UInt32($0.capacity / 8) } == RBUS_OK)
        #expect(attempt { $0.streams = 0 } == RBUS_E_PARAM)
        #expect(attempt { $0.streams = 65 } == RBUS_E_PARAM)
        #expect(attempt { $0.consumers = 257 } == RBUS_E_PARAM)
        #expect(attempt { $0.mode = 0o10000 } == RBUS_E_PARAM)
    }

    @Test("a segment larger than /dev/shm fails at create with NO_SPACE and leaves nothing behind")
    func fullShmFailsAtCreate() throws {
        var p = rbus_create_params()
        rbus_create_params_default(&p)
        p.streams = 64
        p.capacity = 1 << 32 // 64 x 4 GiB: more than any /dev/shm here
        var b = rbus_bus()
        let name = uniqueBusName("nospace")
        var err = rbus_error()
        let s = rbus_bus_create(name, &p, &b, &err)
        #expect(s == RBUS_E_NO_SPACE)
        #expect(err.sys_errno == ENOSPC)
        #expect(access("/dev/shm/ringbus.\(name)", F_OK) != 0)
        #expect(leftoverTemporaries(for: name) == 0)
    }

    @Test("the segment's mode is what was asked, whatever the umask")
    func modeIsHonoured() throws {
        let old = umask(0o077)
        defer { umask(old) }
        var p = rbus_create_params()
        rbus_create_params_default(&p)
        p.mode = 0o640
        var b = rbus_bus()
        let name = uniqueBusName("mode")
        #expect(rbus_bus_create(name, &p, &b, nil) == RBUS_OK)
        var st = stat()
        #expect(stat("/dev/shm/ringbus.\(name)", &st) == 0)
        #expect(st.st_mode & 0o7777 == 0o640)
        rbus_bus_detach(&b)
        #expect(rbus_bus_remove(name, nil) == RBUS_OK)
    }

    @Test("remove sets the removed flag that attached handles see, then unlinks")
    func removeIsSeenByAttached() throws {
        let bus = try TestBus("removed")
        var other = rbus_bus()
        #expect(rbus_bus_attach(bus.name, 1, &other, nil) == RBUS_OK)
        #expect(rbus_bus_is_removed(&other) == 0)
        let c = try TestConsumer(bus, mode: RBUS_MODE_LOSSY)
        #expect(rbus_bus_remove(bus.name, nil) == RBUS_OK)
        #expect(rbus_bus_is_removed(&other) == 1)
        #expect(rbus_bus_attach(bus.name, 1, &other, nil) == RBUS_E_NOT_FOUND)
        #expect(consumerOpenStatus(bus) == RBUS_E_REMOVED)
        #expect(rbus_consumer_wait(c.c, 10_000_000, RBUS_WAIT_BLOCK, 0) == RBUS_E_REMOVED)
        rbus_bus_detach(&other)
    }

    @Test("io_uring and its futex opcodes are probed at run time, never assumed")
    func uringProbe() {
        var support = rbus_uring_support()
        rbus_uring_probe(&support)
        // Either io_uring works here, or the probe says why not (e.g. EPERM under a seccomp profile).
        #expect(support.io_uring == 1 || support.setup_errno != 0)
        if support.io_uring == 0 { #expect(support.futex_wait == 0 && support.futex_waitv == 0) }
        // Where the futex opcodes exist, both come together (kernel 6.7 added them at once).
        #expect(support.futex_wait == support.futex_waitv)
    }

    @Test("the layout constants agree with the header structs")
    func layoutConstants() {
        #expect(MemoryLayout<rbus_bus_hdr>.size == Int(RBUS_HEADER_SIZE))
        #expect(MemoryLayout<rbus_stream_hdr>.size == Int(RBUS_STREAM_HEADER_SIZE))
        #expect(MemoryLayout<rbus_record_hdr>.size == Int(RBUS_REC_HEADER_SIZE))
        #expect(rbus_slot_stride_for(1) == 128 + 128 + 128)
        #expect(rbus_slot_stride_for(9) == 128 + 256 + 128)
        #expect(rbus_layout_hash() != 0)
        // FNV-1a 32 is the documented topic hash: check a known value.
        let h = Array("a".utf8).withUnsafeBufferPointer { rbus_topic_hash($0.baseAddress, 1) }
        #expect(h == 0xE40C292C)
    }
}

/// Counts `/dev/shm/.ringbus-tmp.<name>.*` files (temporaries a failed create must not leave).
func leftoverTemporaries(for name: String) -> Int {
    guard let dir = opendir("/dev/shm") else { return 0 }
    defer { closedir(dir) }
    var n = 0
    while let e = readdir(dir) {
        let entry = withUnsafePointer(to: e.pointee.d_name) {
            $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
        }
        if entry.hasPrefix(".ringbus-tmp.\(name).") { n += 1 }
    }
    return n
}
