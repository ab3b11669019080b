// SharedMemoryBench.swift: the SharedMemoryEventBus across two processes (this binary re-run as the
// other side), convenience API: `Event` with a JSONValue payload, async handler.
//
//   throughput: this process publishes N events ({"user_id": i}, 64 B records' worth) on a fresh bus;
//     a child process's subscription counts them and reports delivered/s from its first event to
//     the last, plus what it lost (at-most-once: a lossy reader the publisher may lap).
//   ping-pong: this process publishes "ping", the child's handler publishes "pong" back, this process's
//     handler publishes the next ping; one-way = round trip / 2. With `.block` both sides sleep
//     between events (the sleeping-consumer case); with `.spin` they poll.

import Dispatch
import Foundation
import RingBus
import Synchronization

/// Throughput runs use rings that hold the whole run (1,000,000 records of 64 bytes), so the rows
/// compare what each guarantee costs per event rather than how often a full ring stalls; the
/// `-full-ring` row shows the latter with a 1 MiB ring.
func shmOptions(_ wait: WaitStrategy, capacity: Int = 64 << 20) -> SharedMemoryBusOptions {
    var o = SharedMemoryBusOptions()
    o.segment.streams = 2
    o.segment.consumerSlots = 8
    o.segment.capacity = capacity
    o.waitStrategy = wait
    return o
}

func shmConfig(_ g: DeliveryGuarantee, bufferSize: Int = 256) -> EventBusConfig {
    var c = EventBusConfig()
    c.deliveryGuarantee = g
    c.bufferSize = bufferSize
    return c
}

func guaranteeName(_ g: DeliveryGuarantee) -> String {
    switch g {
    case .atMostOnce: "amo"
    case .atLeastOnce: "alo"
    case .exactlyOnce: "eo"
    }
}

func guaranteeNamed(_ s: String) -> DeliveryGuarantee {
    s == "alo" ? .atLeastOnce : s == "eo" ? .exactlyOnce : .atMostOnce
}

func waitNamed(_ s: String) -> WaitStrategy { s == "spin" ? .spin : s == "block" ? .block : .adaptive() }

/// Starts this binary as the other process; returns it and its standard output.
func spawnChild(_ args: [String]) throws -> (Process, Pipe) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    p.arguments = args
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    return (p, out)
}

/// Reads lines from `pipe` until one contains `text` (blocking; the child prints promptly).
func readLine(_ pipe: Pipe, containing text: String) -> String? {
    var buffer = Data()
    while true {
        let d = pipe.fileHandleForReading.availableData
        if d.isEmpty { return nil }
        buffer.append(d)
        for line in String(decoding: buffer, as: UTF8.self).split(separator: "\n") where line.contains(text) {
            return String(line)
        }
    }
}

// MARK: Child sides

/// One line to standard output at once (unbuffered: the parent waits for it).
func say(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(1, $0, strlen($0)) }
}

/// `--shm-sub BUS GUARANTEE LAST`: counts events until payload LAST (or 2 s without events).
func shmSubscriberChild(_ args: [String]) async throws {
    let g = guaranteeNamed(args[3])
    let last = Int64(args[4])!
    let bus = try SharedMemoryEventBus(name: args[2], config: shmConfig(g), options: shmOptions(.adaptive()))
    let count = Atomic<Int>(0), first = Atomic<UInt64>(0), end = Atomic<UInt64>(0)
    try await bus.subscribe(toTopics: ["t"], ClosureHandler { e in
        if count.wrappingAdd(1, ordering: .relaxed).oldValue == 0 { first.store(nowNs(), ordering: .relaxed) }
        if e.payload["user_id"]?.intValue == last { end.store(nowNs(), ordering: .releasing) }
    })
    say("ready")
    var seen = 0, quietSince = nowNs()
    while end.load(ordering: .acquiring) == 0 {
        try await Task.sleep(for: .milliseconds(1))
        let n = count.load(ordering: .relaxed)
        if n != seen { seen = n; quietSince = nowNs() } else if nowNs() - quietSince > 2_000_000_000 { break }
    }
    let s = await bus.stats()
    let stop = end.load(ordering: .acquiring) == 0 ? quietSince : end.load(ordering: .acquiring)
    let secs = Double(stop - first.load(ordering: .relaxed)) / 1e9
    say("{\"delivered\":\(count.load(ordering: .relaxed)),\"dropped\":\(s.dropped),\"secs\":\(secs)}")
    await bus.close()
}

/// `--shm-pong BUS WAIT`: answers each "ping" with a "pong" carrying the same payload.
func shmPongChild(_ args: [String]) async throws {
    let bus = try SharedMemoryEventBus(name: args[2], config: shmConfig(.atMostOnce), options: shmOptions(waitNamed(args[3])))
    try await bus.subscribe(toTopics: ["ping"], ClosureHandler { e in
        try await bus.publish(Event(topic: "pong", payload: e.payload))
    })
    say("ready")
    while true { try await Task.sleep(for: .seconds(1)) } // killed by the parent
}

// MARK: Parent sides

/// `newPayload`: a new `Event` with a new one-key payload object per publish (the application's cost
/// of building it included); otherwise one `Event` value published repeatedly (the bus's own cost:
/// it is still encoded per publish and decoded per delivery).
func shmThroughput(_ events: Int, _ g: DeliveryGuarantee, newPayload: Bool, capacity: Int = 64 << 20) async throws {
    let floor = floorProbe()
    let name = "bench-\(getpid())-\(guaranteeName(g))"
    let bus = try SharedMemoryEventBus(name: name, config: shmConfig(g), options: shmOptions(.adaptive(), capacity: capacity))
    defer { try? SharedMemoryEventBus.remove(name: name) }
    let (child, out) = try spawnChild(["--shm-sub", name, guaranteeName(g), "\(events - 1)"])
    guard readLine(out, containing: "ready") != nil else { throw EventBusError.subscribeError("child did not start") }
    let t0 = nowNs()
    if newPayload {
        for i in 0..<events { try await bus.publish(Event(topic: "t", payload: ["user_id": .int(Int64(i))])) }
    } else {
        let e = Event(topic: "t", payload: ["user_id": 123])
        for _ in 0..<events - 1 { try await bus.publish(e) }
        try await bus.publish(Event(topic: "t", payload: ["user_id": .int(Int64(events - 1))])) // the last one
    }
    let publishSecs = Double(nowNs() - t0) / 1e9
    let line = readLine(out, containing: "delivered") ?? "{}"
    child.waitUntilExit()
    let r = (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Double]) ?? [:]
    let delivered = r["delivered"] ?? 0, secs = r["secs"] ?? 1
    let tag = "\(guaranteeName(g))\(newPayload ? "-new-payload" : "")\(capacity < events * 64 ? "-full-ring" : "")"
    emit("shm-1to1-\(tag)", [("events_per_sec", delivered / secs), ("publish_per_sec", Double(events) / publishSecs),
                                         ("delivered", delivered), ("dropped", r["dropped"] ?? -1), ("floor_ns_before", floor)])
    await bus.close()
}

func shmPingPong(_ rounds: Int, _ wait: String) async throws {
    let floor = floorProbe()
    let name = "bench-\(getpid())-pp-\(wait)"
    let bus = try SharedMemoryEventBus(name: name, config: shmConfig(.atMostOnce), options: shmOptions(waitNamed(wait)))
    defer { try? SharedMemoryEventBus.remove(name: name) }
    let (child, out) = try spawnChild(["--shm-pong", name, wait])
    guard readLine(out, containing: "ready") != nil else { throw EventBusError.subscribeError("child did not start") }
    let rtts = Mutex([UInt64]())
    let done = Atomic<Int>(0)
    let warm = rounds / 10
    try await bus.subscribe(toTopics: ["pong"], ClosureHandler { e in
        let sent = UInt64(e.payload.intValue ?? 0)
        let n = done.wrappingAdd(1, ordering: .relaxed).newValue
        if n > warm { rtts.withLock { $0.append(nowNs() - sent) } }
        if n < rounds + warm {
            if wait == "block" { usleep(50) } // let the other side go idle: the sleeping case
            try await bus.publish(Event(topic: "ping", payload: .int(Int64(nowNs()))))
        }
    })
    try await bus.publish(Event(topic: "ping", payload: .int(Int64(nowNs()))))
    let deadline = nowNs() + 120_000_000_000
    while done.load(ordering: .relaxed) < rounds + warm && nowNs() < deadline { try await Task.sleep(for: .milliseconds(5)) }
    kill(child.processIdentifier, SIGKILL) // not terminate(): the child inherits a mask that blocks SIGTERM
    child.waitUntilExit()
    let oneWay = rtts.withLock { $0 }.map { $0 / 2 }
    emit("shm-pingpong-async-\(wait)", percentiles(oneWay) + [("floor_ns_before", floor)])
    await bus.close()
}
