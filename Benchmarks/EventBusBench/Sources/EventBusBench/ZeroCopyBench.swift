// ZeroCopyBench.swift: the Swift zero-copy path (StreamWriter claim/commit, StreamReader.poll with
// borrowed views) across two processes, with the C references measured in the same run by the C ring
// benchmark (.build/ringbench, built by run.sh): the one-cache-line floor, raw futex ping-pong, the
// minimal C SPSC ring and RingBus's C path. Each side runs on a thread pinned to its own CPU.

import Dispatch
import Foundation
import RingBus
import RingBusBenchSupport
import Synchronization

let zcTopic = try! PreparedTopic("bench.events")

func zcParameters(capacity: Int = 1 << 20) -> SegmentParameters {
    var p = SegmentParameters()
    p.capacity = capacity
    p.maxEventSize = 4096
    p.consumerSlots = 4
    return p
}

/// One event of `size` bytes whose first word is `x`, published spinning while the ring is full.
@inline(__always)
func zcSend(_ w: StreamWriter, _ x: UInt64, size: Int) throws {
    while true {
        guard let dst = try w.claim(topic: zcTopic, payloadLength: size) else { continue }
        dst.storeBytes(of: x, as: UInt64.self)
        w.commit()
        return
    }
}

/// The first word of the next event, polling (or sleeping on the futex with `block`).
@inline(__always)
func zcReceive(_ r: StreamReader, block: Bool) throws -> UInt64 {
    var x: UInt64 = 0
    while true {
        if r.poll(max: 1, { (v: borrowing EventView) in x = v.payload.loadUnaligned(as: UInt64.self) }) == 1 { return x }
        if block { _ = try r.wait(timeout: .seconds(1), strategy: .block) }
    }
}

// MARK: Child sides (this binary re-run)

/// `--zc-pong PING PONG BLOCK`: answers every event on PING with its first word on PONG.
func zcPongChild(_ args: [String]) throws {
    let block = args[4] == "1"
    try RingBusSystem.onPinnedThread(1) {
        let r = try StreamReader(segment: try SharedSegment.attach(name: args[2]), mode: .gating)
        let w = try StreamWriter(segment: try SharedSegment.attach(name: args[3]))
        say("ready")
        while true { try zcSend(w, try zcReceive(r, block: block), size: 64) }
    }
}

/// `--zc-sink BUS COUNT`: reads COUNT events with borrowed views (committing once per poll of up to
/// 256), prints the seconds from the first to the last.
func zcSinkChild(_ args: [String]) throws {
    let count = Int(args[3])!
    let secs: Double = try RingBusSystem.onPinnedThread(1) {
        let r = try StreamReader(segment: try SharedSegment.attach(name: args[2]), mode: .gating)
        say("ready")
        var got = 0, sum: UInt64 = 0, t0: UInt64 = 0
        while got < count {
            let n = r.poll(max: 256) { (v: borrowing EventView) in sum &+= UInt64(v.payload[0]) }
            if n > 0 && got == 0 { t0 = nowNs() }
            got += n
        }
        _ = sum
        return Double(nowNs() - t0) / 1e9
    }
    say("{\"secs\":\(secs)}")
}

// MARK: Parent sides

/// Ping-pong one-way latency (round trip / 2) of the Swift zero-copy path, 64-byte events.
func zcPingPong(_ rounds: Int, block: Bool) throws {
    let ping = "zc-\(getpid())-ping", pong = "zc-\(getpid())-pong"
    let a = try SharedSegment.create(name: ping, parameters: zcParameters())
    let b = try SharedSegment.create(name: pong, parameters: zcParameters())
    defer { try? SharedSegment.remove(name: ping); try? SharedSegment.remove(name: pong) }
    let (child, out) = try spawnChild(["--zc-pong", ping, pong, block ? "1" : "0"])
    defer { kill(child.processIdentifier, SIGKILL); child.waitUntilExit() } // SIGTERM may be blocked in it
    guard readLine(out, containing: "ready") != nil else { throw SegmentError.invalidParameter("pong child did not start") }
    let warm = rounds / 10
    let samples: [UInt64] = try RingBusSystem.onPinnedThread(0) {
        // Opened on the measuring thread (readers and writers belong to one thread); the reader before
        // the first ping, so it sees every pong.
        let r = try StreamReader(segment: b, mode: .gating)
        let w = try StreamWriter(segment: a)
        var s = [UInt64]()
        s.reserveCapacity(rounds)
        for i in 0..<(rounds + warm) {
            let t0 = nowNs()
            try zcSend(w, UInt64(i), size: 64)
            guard try zcReceive(r, block: block) == UInt64(i) else { throw SegmentError.invalidParameter("wrong reply") }
            if i >= warm { s.append((nowNs() - t0) / 2) }
            if block { usleep(50) } // both sides asleep when the next one lands
        }
        return s
    }
    emit("zc-pingpong-\(block ? "block" : "spin")-64", percentiles(samples))
}

/// 1 -> 1 throughput of the Swift zero-copy path, 64-byte events, `batch` claims per commit.
func zcThroughput(_ events: Int, batch: Int) throws {
    let name = "zc-\(getpid())-tput"
    let seg = try SharedSegment.create(name: name, parameters: zcParameters())
    defer { try? SharedSegment.remove(name: name) }
    let (child, out) = try spawnChild(["--zc-sink", name, "\(events)"])
    guard readLine(out, containing: "ready") != nil else { throw SegmentError.invalidParameter("sink child did not start") }
    try RingBusSystem.onPinnedThread(0) {
        let w = try StreamWriter(segment: seg)
        var i = 0
        while i < events {
            var k = 0
            while k < batch && i + k < events {
                guard let dst = try w.claim(topic: zcTopic, payloadLength: 64) else { break }
                dst.storeBytes(of: UInt64(i + k), as: UInt64.self)
                k += 1
            }
            w.commit()
            i += k
        }
    }
    let line = readLine(out, containing: "secs") ?? "{}"
    child.waitUntilExit()
    let secs = ((try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Double]) ?? [:])?["secs"] ?? .nan
    emit("zc-tput-b\(batch)-64", [("events_per_sec", Double(events) / secs)])
}

/// The C references, measured now by the C ring benchmark; its lines are printed as they are, with
/// "c-" before each bench name. Returns false when the binary is missing (run.sh builds it).
func cReferences(quick: Bool) -> Bool {
    let path = FileManager.default.currentDirectoryPath + "/.build/ringbench"
    guard FileManager.default.isExecutableFile(atPath: path) else { return false }
    let runs: [[String]] = [["floor", quick ? "20000" : "200000"], ["futex", quick ? "2000" : "20000"],
                            ["cring", quick ? "2000000" : "20000000"], ["rbus-spin", quick ? "20000" : "200000"],
                            ["rbus-tput", quick ? "2000000" : "20000000"]]
    for args in runs {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        guard (try? p.run()) != nil else { return false }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where line.hasPrefix("{\"bench\":\"") {
            print(line.replacingOccurrences(of: "{\"bench\":\"", with: "{\"bench\":\"c-"))
        }
    }
    return true
}
