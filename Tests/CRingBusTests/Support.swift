// Support.swift: helpers for the ring tests. Every bus gets a unique name and is removed at the end;
// every wait has a deadline (scaled ×4 under sanitizers, see RINGBUS_SANITIZER in .ci/run).

import CRingBus
import Glibc
import Testing

let sanitizerScale: UInt64 = getenv("RINGBUS_SANITIZER") != nil ? 4 : 1
/// The deadline of any wait in these tests.
let testDeadlineNs: UInt64 = 60_000_000_000 * sanitizerScale

nonisolated(unsafe) private var busCounter = 0
private let counterLock = NSLockLike()

/// A process-unique bus name for one test.
func uniqueBusName(_ tag: String) -> String {
    counterLock.lock()
    defer { counterLock.unlock() }
    busCounter += 1
    return "t-\(tag)-\(getpid())-\(busCounter)"
}

/// A tiny pthread mutex (Foundation-free).
final class NSLockLike: @unchecked Sendable {
    private var m = pthread_mutex_t()
    init() { pthread_mutex_init(&m, nil) }
    func lock() { pthread_mutex_lock(&m) }
    func unlock() { pthread_mutex_unlock(&m) }
}

/// A created bus, removed (and its mapping released) when the object goes away.
final class TestBus {
    let name: String
    let b: UnsafeMutablePointer<rbus_bus>

    init(_ tag: String, capacity: UInt64 = 1 << 20, streams: UInt32 = 1, consumers: UInt32 = 8,
         maxEvent: UInt32 = 64 << 10, graceNs: UInt64 = 10_000_000_000) throws {
        name = uniqueBusName(tag)
        b = .allocate(capacity: 1)
        var p = rbus_create_params()
        rbus_create_params_default(&p)
        p.capacity = capacity
        p.streams = streams
        p.consumers = consumers
        p.max_event_size = maxEvent
        p.eviction_grace_ns = graceNs
        var err = rbus_error()
        let s = rbus_bus_create(name, &p, b, &err)
        try #require(s == RBUS_OK, "create \(name): \(String(cString: rbus_status_describe(s.rawValue))) errno \(err.sys_errno)")
    }

    deinit {
        rbus_bus_detach(b)
        _ = rbus_bus_remove(name, nil)
        b.deallocate()
    }

    var ring: UnsafeMutablePointer<UInt8> { rbus_bus_ring(b, 0) }
    var stream0: UnsafeMutablePointer<rbus_stream_hdr> { rbus_bus_stream(b, 0) }
}

/// A producer handle over the C API.
final class TestProducer {
    let p = UnsafeMutablePointer<rbus_producer>.allocate(capacity: 1)
    let topic: [UInt8]
    let hash: UInt32

    init(_ bus: TestBus, name: String? = nil, topic: String = "test.topic") throws {
        self.topic = Array(topic.utf8)
        hash = self.topic.withUnsafeBufferPointer { rbus_topic_hash($0.baseAddress, $0.count) }
        p.pointee.lock_fd = -1 // closed until open succeeds
        var err = rbus_error()
        let s = rbus_producer_open(bus.b, name, p, &err)
        try #require(s == RBUS_OK, "producer open: \(String(cString: rbus_status_describe(s.rawValue)))")
    }

    deinit {
        rbus_producer_close(p)
        p.deallocate()
    }

    /// Publishes a checksummed payload of `size` bytes whose content derives from `index`.
    @discardableResult
    func publish(index: UInt64, size: Int) -> rbus_status {
        var dst: UnsafeMutablePointer<UInt8>? = nil
        let s = topic.withUnsafeBufferPointer {
            rbus_producer_claim(p, $0.baseAddress, UInt32($0.count), hash, UInt32(size), 0, 0, &dst)
        }
        guard s == RBUS_OK else { return s }
        fillChecked(dst!, size: size, index: index)
        rbus_producer_commit(p)
        return s
    }

    func publishRaw(_ bytes: [UInt8]) -> rbus_status {
        topic.withUnsafeBufferPointer { t in
            bytes.withUnsafeBufferPointer { b in
                rbus_producer_publish(p, t.baseAddress, UInt32(t.count), hash, b.baseAddress, UInt32(b.count), 0, 0)
            }
        }
    }
}

/// Payload format: [u64 index][u64 checksum][pattern]; at least 16 bytes.
func fillChecked(_ dst: UnsafeMutablePointer<UInt8>, size: Int, index: UInt64) {
    precondition(size >= 16)
    let sum = rbus_test_fill(dst + 16, UInt32(size - 16), index)
    UnsafeMutableRawPointer(dst).storeBytes(of: index, as: UInt64.self)
    UnsafeMutableRawPointer(dst + 8).storeBytes(of: sum, as: UInt64.self)
}

func checkPayload(_ v: rbus_event_view) -> Bool {
    guard v.payload_len >= 16, let p = v.payload else { return false }
    let sum = UnsafeRawPointer(p + 8).loadUnaligned(as: UInt64.self)
    return rbus_test_checksum(p + 16, v.payload_len - 16) == sum
}

/// A consumer handle over the C API.
final class TestConsumer {
    let c = UnsafeMutablePointer<rbus_consumer>.allocate(capacity: 1)
    let scratch: UnsafeMutablePointer<UInt8>
    var info = rbus_open_info()

    init(_ bus: TestBus, mode: Int, start: rbus_start = RBUS_START_EARLIEST, name: String? = nil,
         positions: [UInt64]? = nil) throws {
        scratch = .allocate(capacity: Int(bus.b.pointee.max_record))
        c.pointee.lock_fd = -1 // closed until open succeeds
        var err = rbus_error()
        let s = (positions ?? []).withUnsafeBufferPointer {
            rbus_consumer_open(bus.b, name, UInt32(mode), start, $0.baseAddress, scratch, c, &info, &err)
        }
        try #require(s == RBUS_OK, "consumer open: \(String(cString: rbus_status_describe(s.rawValue)))")
    }

    deinit {
        rbus_consumer_close(c)
        c.deallocate()
        scratch.deallocate()
    }

    /// Drains everything available; returns (delivered, bad checksums, sequences seen in order).
    @discardableResult
    func drain(limit: Int = .max, _ each: (rbus_event_view) -> Void = { _ in }) -> (Int, Int) {
        var v = rbus_event_view()
        var n = 0, bad = 0
        for _ in 0..<1_000_000 where n < limit {
            let s = rbus_consumer_next(c, &v)
            if s == RBUS_EMPTY { break }
            if s != RBUS_OK { continue }
            if !checkPayload(v) { bad += 1 }
            each(v)
            n += 1
        }
        rbus_consumer_commit(c)
        return (n, bad)
    }
}

/// The status of opening a consumer that the test expects to be refused (nothing is kept open).
func consumerOpenStatus(_ bus: TestBus, name: String? = nil, mode: Int = RBUS_MODE_LOSSY,
                        start: rbus_start = RBUS_START_LATEST) -> rbus_status {
    let c = UnsafeMutablePointer<rbus_consumer>.allocate(capacity: 1)
    defer { c.deallocate() }
    let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: Int(bus.b.pointee.max_record))
    defer { scratch.deallocate() }
    let s = rbus_consumer_open(bus.b, name, UInt32(mode), start, nil, scratch, c, nil, nil)
    if s == RBUS_OK { rbus_consumer_close(c) }
    return s
}

/// Runs `body` on a new pthread and returns a join function (Foundation-free, works under TSan).
func spawnThread(_ body: @escaping @Sendable () -> Void) -> () -> Void {
    final class Box: @unchecked Sendable { let f: @Sendable () -> Void; init(_ f: @escaping @Sendable () -> Void) { self.f = f } }
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var t = pthread_t()
    pthread_create(&t, nil, { raw in
        let b = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
        b.f()
        return nil
    }, box)
    return { pthread_join(t, nil) }
}

func monotonicNs() -> UInt64 { rbus_clock_monotonic_ns() }
