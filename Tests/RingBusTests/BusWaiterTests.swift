// BusWaiterTests.swift: many async tasks wait for their readers through one waiter thread, never
// blocking the cooperative pool (40 waiting tasks on a 2-thread pool would deadlock if they did), and
// every event reaches every task; removal and stop end the waits.

import Foundation
@testable import RingBus
import Testing

/// A reader handed to one task (it is used by that task only).
final class ReaderBox: @unchecked Sendable {
    let reader: StreamReader
    init(_ reader: StreamReader) { self.reader = reader }
}

private func makeBus(_ tag: String, consumers: Int) throws -> (String, SharedSegment) {
    let name = "waiter-\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    var p = SegmentParameters()
    p.consumerSlots = consumers
    return (name, try SharedSegment.create(name: name, parameters: p))
}

@Suite("bus waiter")
struct BusWaiterTests {
    @Test("40 tasks, one waiter thread, paced bursts: every task gets every event, in order")
    func manyTasks() async throws {
        let (name, segment) = try makeBus("many", consumers: 48)
        defer { try? SharedSegment.remove(name: name) }
        let waiter = BusWaiter(segment: segment)
        defer { waiter.stop() }
        let boxes = try (0..<40).map { _ in ReaderBox(try StreamReader(segment: segment, mode: .lossy)) }
        let total: UInt64 = 2_000
        let results = LockedState<[UInt64: (got: UInt64, wrong: UInt64)]>([:])
        let done = await finishes(within: .seconds(120)) {
            await withTaskGroup(of: Void.self) { group in
                for (i, box) in boxes.enumerated() {
                    group.addTask {
                        var got: UInt64 = 0, wrong: UInt64 = 0
                        while got < total {
                            let n = box.reader.poll(max: 64) { (v: borrowing RecordView) in
                                if v.payload.loadUnaligned(as: UInt64.self) != got { wrong += 1 }
                                got += 1
                            }
                            if n == 0, !(await waiter.waitForData(box.reader)) { break }
                        }
                        results.withLock { $0[UInt64(i)] = (got, wrong) }
                    }
                }
                group.addTask {
                    // The producer: bursts of 50 with pauses, so the waiters go to sleep in between.
                    let writer = try! StreamWriter(segment: segment)
                    let topic = try! PreparedTopic("waiter.events")
                    for i in 0..<total {
                        var value = i
                        _ = try! withUnsafeBytes(of: &value) { try writer.publish(topic: topic, payload: $0) }
                        if i % 50 == 49 { try? await Task.sleep(for: .milliseconds(2)) }
                    }
                    writer.close()
                }
            }
        }
        #expect(done, "the tasks did not finish: a waiting task blocked, or a wakeup was lost")
        let r = results.withLock { $0 }
        #expect(waiter.lostWakeups == 0, "a sleep ended by its safety timeout while data was there")
        #expect(r.count == 40)
        #expect(r.values.allSatisfy { $0.got == total && $0.wrong == 0 }, "\(r.values.filter { $0.got != total || $0.wrong != 0 }.prefix(3))")
        for box in boxes { box.reader.close() }
    }

    @Test("4 writer tasks fill 64 KiB rings held by a slow gating reader: publishes suspend, nothing is lost",
          arguments: [false, true])
    func writersWaitForRoom(withoutFutexWaitv: Bool) async throws {
        // The second run forces the fallback for kernels before 5.16 (FUTEX_WAIT on one word, 1 ms slices).
        if withoutFutexWaitv { setenv("RINGBUS_NO_FUTEX_WAITV", "1", 1) }
        defer { unsetenv("RINGBUS_NO_FUTEX_WAITV") }
        let name = "waiter-room-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var p = SegmentParameters()
        p.streams = 4
        p.capacity = 64 << 10
        p.maxEventSize = 4 << 10
        p.consumerSlots = 4
        let segment = try SharedSegment.create(name: name, parameters: p)
        defer { try? SharedSegment.remove(name: name) }
        let waiter = BusWaiter(segment: segment)
        defer { waiter.stop() }
        let reader = ReaderBox(try StreamReader(segment: segment, mode: .gating, start: .earliest))
        defer { reader.reader.close() }
        let perWriter: UInt64 = 3_000
        let received = LockedState<(count: UInt64, wrong: UInt64, full: UInt64)>((0, 0, 0))
        let done = await finishes(within: .seconds(120)) {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        let writer = try! StreamWriter(segment: segment)
                        let topic = try! PreparedTopic("room.events")
                        for i in 0..<perWriter {
                            var payload = [UInt8](repeating: 0, count: 64)
                            withUnsafeBytes(of: i) { payload.replaceSubrange(0..<8, with: $0) }
                            if case .full = try! await writer.publish(topic: topic, payload: payload, waiter: waiter) {
                                received.withLock { $0.full += 1 }
                            }
                        }
                        writer.close()
                    }
                }
                group.addTask { // the slow gating reader: 16 events, then a yield
                    var next = [UInt64](repeating: 0, count: 4)
                    var got: UInt64 = 0, wrong: UInt64 = 0
                    while got < 4 * perWriter {
                        let n = reader.reader.poll(max: 16) { (v: borrowing RecordView) in
                            if v.payload.loadUnaligned(as: UInt64.self) != next[v.stream] { wrong += 1 }
                            next[v.stream] += 1
                            got += 1
                        }
                        if n == 0 { if !(await waiter.waitForData(reader.reader)) { break } } else { await Task.yield() }
                    }
                    received.withLock { $0.count = got; $0.wrong = wrong }
                }
            }
        }
        #expect(done, "the tasks did not finish: a publish blocked, or a wakeup was lost")
        let r = received.withLock { $0 }
        #expect(r.count == 4 * perWriter && r.wrong == 0 && r.full == 0, "\(r)")
        let streams = try BusSnapshot.take(bus: name).streams
        #expect(streams.reduce(0) { $0 + $1.fullEvents } > 0, "the rings never filled: the test did not test waiting for room")
    }

    @Test("removing the bus resumes a waiting task with false")
    func removal() async throws {
        let (name, segment) = try makeBus("removed", consumers: 4)
        defer { try? SharedSegment.remove(name: name) } // already removed unless the test stopped early
        let waiter = BusWaiter(segment: segment)
        defer { waiter.stop() }
        let box = ReaderBox(try StreamReader(segment: segment, mode: .lossy))
        defer { box.reader.close() }
        let outcome = LockedState<Bool?>(nil)
        let task = Task { outcome.withLock { $0 = nil }; let r = await waiter.waitForData(box.reader); outcome.withLock { $0 = r } }
        try await Task.sleep(for: .milliseconds(20)) // let it register and the thread sleep
        try SharedSegment.remove(name: name)
        #expect(await finishes(within: .seconds(30)) { await task.value }, "the waiting task was not resumed")
        #expect(outcome.withLock { $0 } == false)
    }

    @Test("stop resumes waiting tasks with false, and later waits return false at once")
    func stop() async throws {
        let (name, segment) = try makeBus("stop", consumers: 4)
        defer { try? SharedSegment.remove(name: name) }
        let waiter = BusWaiter(segment: segment)
        let box = ReaderBox(try StreamReader(segment: segment, mode: .lossy))
        defer { box.reader.close() }
        let task = Task { await waiter.waitForData(box.reader) }
        try await Task.sleep(for: .milliseconds(20))
        waiter.stop()
        let value = LockedState<Bool?>(nil)
        #expect(await finishes(within: .seconds(30)) { let v = await task.value; value.withLock { $0 = v } })
        #expect(value.withLock { $0 } == false)
        #expect(await waiter.waitForData(box.reader) == false)
    }
}
