// Peer.swift: runs RingBusTestPeer processes (real processes, real shared memory) with deadlines.

import Foundation
import RingBus
import Testing

let sanitizerScale: Double = ProcessInfo.processInfo.environment["RINGBUS_SANITIZER"] != nil ? 4 : 1
/// The deadline of any wait in these tests.
let testDeadline: TimeInterval = 60 * sanitizerScale

/// The peer executable, built beside the test bundle by `swift test`.
let peerPath: String = {
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var dir = exe.deletingLastPathComponent()
    // The bundle binary may live inside a .xctest directory.
    while !FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent("RingBusTestPeer").path),
          dir.path != "/" {
        dir = dir.deletingLastPathComponent()
    }
    return dir.appendingPathComponent("RingBusTestPeer").path
}()

/// One running peer process.
final class Peer: @unchecked Sendable {
    let process = Process()
    private let out = Pipe()
    private let lock = NSLock()
    private var buffer = Data()
    private var lines: [String] = []

    init(_ args: [String], executable: String = peerPath) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = args
        process.standardOutput = out
        out.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard let self, !d.isEmpty else { return }
            self.lock.lock()
            self.buffer.append(d)
            while let nl = self.buffer.firstIndex(of: 10) {
                self.lines.append(String(decoding: self.buffer[self.buffer.startIndex..<nl], as: UTF8.self))
                self.buffer.removeSubrange(self.buffer.startIndex...nl)
            }
            self.lock.unlock()
        }
        try process.run()
    }

    /// Waits for the process to end (killing it at the deadline); returns its exit status.
    @discardableResult
    func wait(timeout: TimeInterval = testDeadline) -> Int32 {
        let end = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < end { usleep(2000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            Issue.record("peer \(process.arguments ?? []) exceeded its \(timeout) s deadline")
        }
        process.waitUntilExit()
        usleep(20_000) // let the readability handler take the last bytes
        return process.terminationStatus
    }

    /// Waits until the peer has printed a line containing `text`.
    func waitForLine(containing text: String, timeout: TimeInterval = testDeadline) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if outputLines.contains(where: { $0.contains(text) }) { return true }
            if !process.isRunning { return outputLines.contains(where: { $0.contains(text) }) }
            usleep(1000)
        }
        return false
    }

    var outputLines: [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines
    }

    /// The last JSON object the peer printed, as numbers.
    var result: [String: UInt64] {
        guard let line = outputLines.last(where: { $0.hasPrefix("{") }),
              let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return [:] }
        return obj.compactMapValues { ($0 as? NSNumber)?.uint64Value }
    }

    func kill9() { kill(process.processIdentifier, SIGKILL) }
}

/// A bus created through the Swift API for a multi-process test; removed at the end.

final class ProcessTestBus {
    let name: String
    let segment: SharedSegment

    init(_ tag: String, streams: Int = 1, capacity: Int = 1 << 20, consumers: Int = 8,
         grace: Duration = .seconds(10), maxEventSize: Int? = nil) throws {
        name = "mp-\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var p = SegmentParameters()
        p.streams = streams
        p.capacity = capacity
        p.consumerSlots = consumers
        p.maxEventSize = maxEventSize ?? min(64 << 10, capacity / 8)
        p.evictionGrace = grace
        segment = try SharedSegment.create(name: name, parameters: p)
    }

    deinit { try? SharedSegment.remove(name: name) }
}
