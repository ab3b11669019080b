// RingBusTestPeer: a scripted participant for the multi-process tests. Each mode does one job on a
// named bus and prints one JSON line of results to standard output; exit status 0 means the job ran
// (the test judges the numbers), 2 means bad arguments, 3 a bus error.
//
// Payload format (checksummed): [u64 index][u64 checksum of the rest][bytes from rbus_test_fill(index)].
// Timed modes put the publisher's CLOCK_MONOTONIC ns in the index field instead.
//
//   produce BUS COUNT SIZE BATCH WAIT(0|1) [DURABLE]       publish COUNT events, BATCH per commit
//   consume BUS MODE(lossy|gating) COUNT START(earliest|latest|committed) TIMEOUT_S [DURABLE [KILL_AFTER]]
//                                                            read until every stream reached COUNT events
//   crash-produce BUS SIZE                                   publish forever (killed by the test)
//   flip BUS SECONDS SEED                                    flip random bytes of the segment
//   paced-produce BUS BURSTS BURST PAUSE_US                  bursts with pauses, monotonic stamps
//   sleepy BUS EVENTS TIMEOUT_S                              block-waiting consumer, reports latencies
//   alloc-produce BUS WARM COUNT SIZE                        zero-copy batches of 16 (claim, fill, commit);
//                                                            reports heap allocations over the last COUNT
//   bus-sub, bus-pub                                         the EventBus API: see BusModes.swift
//   alloc-event BUS WARM COUNT TIMEOUT_S READ(0|1)          the Event face: see AllocEventMode.swift
//   alloc-consume BUS WARM COUNT TIMEOUT_S                   gating reader polling borrowed views; reports
//                                                            heap allocations over events WARM..<WARM+COUNT

import CRingBus
import Glibc
import PeerAllocCounter
import RingBus
import Dispatch
import Synchronization

func fail(_ code: Int32, _ message: String) -> Never {
    let line = "RingBusTestPeer: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(code)
}

/// Writes one line to standard output unbuffered (the test reads it while we run).
func say(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(1, $0, strlen($0)) }
}

func emit(_ fields: [(String, UInt64)]) {
    say("{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}")
}

func monotonicNs() -> UInt64 { rbus_clock_monotonic_ns() }

/// Fills a checksummed payload for `index` into `buf`.
func fillPayload(_ buf: UnsafeMutableRawBufferPointer, index: UInt64) {
    precondition(buf.count >= 16)
    let rest = UnsafeMutableRawBufferPointer(rebasing: buf[16...])
    let sum = rbus_test_fill(rest.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt32(rest.count), index)
    buf.storeBytes(of: index, toByteOffset: 0, as: UInt64.self)
    buf.storeBytes(of: sum, toByteOffset: 8, as: UInt64.self)
}

/// True when a payload's checksum matches its bytes.
func checkPayload(_ p: UnsafeRawBufferPointer) -> Bool {
    guard p.count >= 16 else { return false }
    let sum = p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
    let rest = UnsafeRawBufferPointer(rebasing: p[16...])
    return rbus_test_checksum(rest.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt32(rest.count)) == sum
}

let args = CommandLine.arguments
if args.count >= 2, busModes.contains(args[1]) {
    // The EventBus modes are async: run them on the pool and block this (main, non-pool) thread.
    let status = Atomic<Int32>(0)
    let finished = DispatchSemaphore(value: 0)
    Task.detached {
        status.store(args[1] == "alloc-event" ? await allocEventMode(args) : await runBusMode(args), ordering: .relaxed)
        finished.signal()
    }
    finished.wait()
    exit(status.load(ordering: .relaxed))
}
guard args.count >= 3 else { fail(2, "usage: RingBusTestPeer MODE BUS ...") }
let mode = args[1]
let busName = args[2]
func arg(_ i: Int) -> String {
    guard i < args.count else { fail(2, "missing argument \(i) for \(mode)") }
    return args[i]
}
func num(_ i: Int) -> UInt64 {
    guard let v = UInt64(arg(i)) else { fail(2, "argument \(i) is not a number: \(arg(i))") }
    return v
}

do {
    switch mode {
    case "produce":
        let count = num(3), size = Int(num(4)), batch = max(1, num(5)), waitFull = num(6) == 1
        let durable = args.count > 7 && args[7] != "-" ? args[7] : nil
        let seg = try SharedSegment.attach(name: busName)
        let w = try StreamWriter(segment: seg, durableName: durable)
        let topic = try PreparedTopic("test.events")
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: max(16, size), alignment: 8)
        var sent: UInt64 = 0, fullCount: UInt64 = 0
        while sent < count {
            let n = min(batch, count - sent)
            var claimed: UInt64 = 0
            while claimed < n {
                if let dst = try w.claim(topic: topic, payloadLength: buf.count) {
                    fillPayload(dst, index: sent + claimed)
                    claimed += 1
                } else if claimed > 0 {
                    break // commit what we have, then wait for room
                } else if waitFull {
                    fillPayload(buf, index: sent)
                    fullCount += 1
                    guard case .published = try w.publish(topic: topic, payload: UnsafeRawBufferPointer(buf),
                                                          waitingUpTo: .seconds(240)) else {
                        fail(3, "publish timed out after 240 s at \(sent)")
                    }
                    claimed = 1
                    break
                } else {
                    fullCount += 1
                    sched_yield()
                }
            }
            w.commit()
            sent += claimed
        }
        emit([("published", sent), ("stream", UInt64(w.stream)), ("full", fullCount), ("next_seq", w.nextSequence)])

    case "consume":
        let readerMode: ReaderMode = arg(3) == "gating" ? .gating : .lossy
        let count = num(4)
        let start: StartPosition = switch arg(5) {
        case "earliest": .earliest
        case "committed": .committed
        default: .latest
        }
        let timeout = num(6)
        let durable = args.count > 7 && args[7] != "-" ? args[7] : nil
        let killAfter = args.count > 8 ? num(8) : UInt64.max
        let seg = try SharedSegment.attach(name: busName)
        let r = try StreamReader(segment: seg, mode: readerMode, durableName: durable, start: start)
        say("{\"ready\":1,\"slot\":\(r.slot)}")
        var last = [UInt64?](repeating: nil, count: seg.streams)
        var bad: UInt64 = 0, gaps: UInt64 = 0, dups: UInt64 = 0, got: UInt64 = 0
        let deadline = monotonicNs() + timeout * 1_000_000_000
        func done() -> Bool { last.allSatisfy { ($0 ?? 0) + 1 >= count && $0 != nil } }
        while !done() {
            let n = r.poll(max: 512) { v in
                if !checkPayload(v.payload) { bad += 1 }
                if let l = last[v.stream] {
                    if v.sequence <= l { dups += 1 } else if v.sequence != l + 1 { gaps += v.sequence - l - 1 }
                }
                last[v.stream] = max(last[v.stream] ?? 0, v.sequence)
                got += 1
                if got >= killAfter { kill(getpid(), SIGKILL) } // the kill tests: die between handler and commit
            }
            if n == 0 {
                if monotonicNs() > deadline { break }
                _ = try r.wait(timeout: .milliseconds(200), strategy: .block)
            }
        }
        let k = r.counters
        emit([("received", got), ("bad", bad), ("gaps", gaps), ("dups", dups), ("dropped", k.dropped),
              ("missed", k.missed), ("corrupt", k.corrupt), ("done", done() ? 1 : 0),
              ("resumed", r.resumed ? 1 : 0), ("evicted", r.wasEvicted ? 1 : 0)])

    case "crash-produce":
        let size = Int(num(3))
        let seg = try SharedSegment.attach(name: busName)
        let w = try StreamWriter(segment: seg)
        emit([("stream", UInt64(w.stream)), ("next_seq", w.nextSequence)])
        let topic = try PreparedTopic("crash.events")
        var i: UInt64 = 0
        var rng = SystemRandomNumberGenerator()
        while true {
            let batch = UInt64.random(in: 1...16, using: &rng)
            for _ in 0..<batch {
                guard let dst = try w.claim(topic: topic, payloadLength: size) else { break }
                fillPayload(dst, index: i)
                i += 1
            }
            w.commit()
        }

    case "flip":
        let seconds = num(3)
        var seed = num(4) | 1
        let fd = shm_open("/ringbus.\(busName)", O_RDWR, 0)
        guard fd >= 0 else { fail(3, "shm_open failed: errno \(errno)") }
        var st = stat()
        fstat(fd, &st)
        let size = Int(st.st_size)
        guard let m = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), m != MAP_FAILED else {
            fail(3, "mmap failed")
        }
        let bytes = m.assumingMemoryBound(to: UInt8.self)
        let until = monotonicNs() + seconds * 1_000_000_000
        var flips: UInt64 = 0
        while monotonicNs() < until {
            for _ in 0..<1000 {
                seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17
                bytes[Int(seed % UInt64(size))] ^= UInt8(truncatingIfNeeded: seed >> 32) | 1
                flips += 1
            }
            sched_yield()
        }
        emit([("flips", flips)])

    case "paced-produce":
        let bursts = num(3), burst = num(4), pauseUs = num(5)
        let seg = try SharedSegment.attach(name: busName)
        let w = try StreamWriter(segment: seg)
        let topic = try PreparedTopic("paced.events")
        var ts = timespec(tv_sec: 0, tv_nsec: Int(pauseUs) * 1000)
        for _ in 0..<bursts {
            for _ in 0..<burst {
                guard let dst = try w.claim(topic: topic, payloadLength: 16) else { fail(3, "ring full") }
                dst.storeBytes(of: monotonicNs(), toByteOffset: 0, as: UInt64.self)
                dst.storeBytes(of: 0, toByteOffset: 8, as: UInt64.self)
            }
            w.commit()
            nanosleep(&ts, nil)
        }
        emit([("published", bursts * burst)])

    case "sleepy":
        let events = num(3), timeout = num(4)
        let seg = try SharedSegment.attach(name: busName)
        let r = try StreamReader(segment: seg, mode: .lossy, start: .earliest)
        say("{\"ready\":1}")
        var got: UInt64 = 0, maxLatency: UInt64 = 0, over100ms: UInt64 = 0
        let deadline = monotonicNs() + timeout * 1_000_000_000
        while got < events && monotonicNs() < deadline {
            let n = r.poll(max: 1024) { v in
                let sent = v.payload.loadUnaligned(as: UInt64.self)
                let lat = monotonicNs() &- sent
                maxLatency = max(maxLatency, lat)
                if lat > 100_000_000 { over100ms += 1 }
                got += 1
            }
            if n == 0 { _ = try r.wait(timeout: .seconds(5), strategy: .block) }
        }
        let k = r.counters
        emit([("received", got), ("max_latency_ns", maxLatency), ("over_100ms", over100ms),
              ("futex_waits", k.futexWaits), ("wakeups_by_timeout", k.wakeupsByTimeout), ("dropped", k.dropped)])

    case "alloc-produce":
        // Everything the loop needs is made before it: the topic, the writer. The loop itself only
        // claims ring space, writes in place and commits.
        let warm = num(3), count = num(4), size = Int(num(5))
        let seg = try SharedSegment.attach(name: busName)
        let w = try StreamWriter(segment: seg)
        let topic = try PreparedTopic("alloc.events")
        var published: UInt64 = 0
        var before: UInt64 = 0, startAt: UInt64? = nil
        let total = warm + count
        while published < total {
            if startAt == nil && published >= warm {
                startAt = published
                before = alloc_counter_allocations()
            }
            var claimed: UInt64 = 0
            while claimed < 16 && published + claimed < total {
                guard let dst = try w.claim(topic: topic, payloadLength: size) else { break } // full: commit
                dst.storeBytes(of: published + claimed, toByteOffset: 0, as: UInt64.self)
                claimed += 1
            }
            w.commit()
            published += claimed
            if claimed == 0 { sched_yield() } // the gating reader holds the ring: let it catch up
        }
        let after = alloc_counter_allocations()
        emit([("events", published - (startAt ?? published)), ("allocations", after &- before)])

    case "alloc-consume":
        let warm = num(3), count = num(4), timeout = num(5)
        let seg = try SharedSegment.attach(name: busName)
        let r = try StreamReader(segment: seg, mode: .gating, start: .earliest)
        say("{\"ready\":1}")
        var got: UInt64 = 0, outOfOrder: UInt64 = 0
        var before: UInt64 = 0, startAt: UInt64? = nil
        let total = warm + count
        let deadline = monotonicNs() + timeout * 1_000_000_000
        while got < total && monotonicNs() < deadline {
            if startAt == nil && got >= warm {
                startAt = got
                before = alloc_counter_allocations()
            }
            let n = r.poll(max: 256) { (v: borrowing RecordView) in
                if v.payload.loadUnaligned(as: UInt64.self) != got { outOfOrder += 1 }
                got += 1
            }
            if n == 0 { _ = try r.wait(timeout: .seconds(1), strategy: .adaptive()) }
        }
        let after = alloc_counter_allocations()
        emit([("events", got - (startAt ?? got)), ("allocations", after &- before), ("out_of_order", outOfOrder)])

    default:
        fail(2, "unknown mode \(mode)")
    }
} catch {
    fail(3, "\(error)")
}
