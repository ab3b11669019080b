// BusWaiterProcessTests.swift: the bus waiter thread is woken by another process's commits (the
// shared doorbell futex), for every waiting task.

import Foundation
@testable import RingBus
import Testing

/// A reader used by one task only.
final class ProcessReaderBox: @unchecked Sendable {
    let reader: StreamReader
    init(_ reader: StreamReader) { self.reader = reader }
}

/// Runs `body` in a task of its own for at most `seconds`; false if it did not finish in time.
private func completes(within seconds: TimeInterval, _ body: @escaping @Sendable () async -> Void) async -> Bool {
    let done = LockedState(false)
    let task = Task {
        await body()
        done.withLock { $0 = true }
    }
    let end = Date().addingTimeInterval(seconds)
    while !done.withLock({ $0 }) {
        if Date() > end { return false }
        try? await Task.sleep(for: .milliseconds(1))
    }
    _ = task
    return true
}

@Suite("bus waiter across processes")
struct BusWaiterProcessTests {
    @Test("8 tasks wait through one waiter thread for a producer process's paced bursts: every event arrives")
    func pacedProducerProcess() async throws {
        let bus = try ProcessTestBus("waiter", consumers: 16)
        let waiter = BusWaiter(segment: bus.segment)
        defer { waiter.stop() }
        let boxes = try (0..<8).map { _ in ProcessReaderBox(try StreamReader(segment: bus.segment, mode: .lossy)) }
        defer { for b in boxes { b.reader.close() } }
        let bursts = 200, burst = 10
        let total = UInt64(bursts * burst)
        let counts = LockedState<[Int: UInt64]>([:])
        let producer = try Peer(["paced-produce", bus.name, String(bursts), String(burst), "500"])
        let done = await completes(within: testDeadline) {
            await withTaskGroup(of: Void.self) { group in
                for (i, box) in boxes.enumerated() {
                    group.addTask {
                        var got: UInt64 = 0
                        while got < total {
                            let n = box.reader.poll(max: 64) { _ in got += 1 }
                            if n == 0, !(await waiter.waitForData(box.reader)) { break }
                        }
                        counts.withLock { $0[i] = got }
                    }
                }
            }
        }
        #expect(producer.wait() == 0)
        #expect(done, "the waiting tasks did not all finish")
        #expect(counts.withLock { $0 }.values.allSatisfy { $0 == total }, "\(counts.withLock { $0 })")
        #expect(waiter.lostWakeups == 0)
    }
}
