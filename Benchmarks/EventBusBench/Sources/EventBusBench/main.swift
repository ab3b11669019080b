// EventBusBench: the in-process bus and JSONValue against references measured in the same run.
// Prints one JSON object per measurement. See Docs/BENCHMARKS.md.

import Dispatch
import Foundation
import RingBus
import RingBusBenchSupport
import Synchronization

func nowNs() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

func emit(_ name: String, _ fields: [(String, Double)]) {
    let body = fields.map { "\"\($0.0)\":\(String(format: "%.1f", $0.1))" }.joined(separator: ",")
    print("{\"bench\":\"\(name)\",\(body)}")
}

func percentiles(_ xs: [UInt64]) -> [(String, Double)] {
    let s = xs.sorted()
    func q(_ p: Double) -> Double { Double(s[min(s.count - 1, Int(Double(s.count - 1) * p))]) }
    return [("p50_ns", q(0.5)), ("p90_ns", q(0.9)), ("p99_ns", q(0.99)), ("max_ns", Double(s.last!))]
}

final class Counter: EventHandler, @unchecked Sendable {
    let n = Atomic<Int>(0)
    func handle(_ event: Event) async throws { n.add(1, ordering: .relaxed) }
}

// 1 publisher -> 1 subscriber, events handled per second, three ways of publishing:
// - same: one Event value published again and again (the bus's own cost);
// - new-event: a new Event (timestamp) per publish around one shared payload object, whose reference
//   count the publisher and the subscriber then both write for every event;
// - new-payload: a new Event with a new payload object per publish, as applications do (includes
//   building the one-key dictionary).
enum Publishing: String { case same = "same-event", newEvent = "new-event", newPayload = "new-payload" }

func oneToOne(_ events: Int, _ how: Publishing) async throws {
    let floor = floorProbe()
    let bus = InMemoryEventBus()
    let c = Counter()
    try await bus.subscribe(toTopics: ["t"], c)
    let e = Event(topic: "t", payload: ["user_id": 123])
    let payload: JSONValue = ["user_id": 123]
    // Warm-up, not timed: the pool's threads started, the ring's pages touched, the route cached.
    for _ in 0..<events / 10 { try await bus.publish(e) }
    try await bus.flush()
    let warm = c.n.load(ordering: .relaxed)
    let t0 = nowNs()
    switch how {
    case .same: for _ in 0..<events { try await bus.publish(e) }
    case .newEvent: for _ in 0..<events { try await bus.publish(Event(topic: "t", payload: payload)) }
    case .newPayload:
        for i in 0..<events { try await bus.publish(Event(topic: "t", payload: ["user_id": .int(Int64(i))])) }
    }
    try await bus.flush()
    let secs = Double(nowNs() - t0) / 1e9
    emit("inmemory-1to1-\(how.rawValue)", [("events_per_sec", Double(c.n.load(ordering: .relaxed) - warm) / secs),
                                           ("floor_ns_before", floor)])
    await bus.close()
}

// 1 publisher -> 50 subscribers at at-least-once: deliveries per second, and drops.
// Two ways again: the same Event value every time (all 10 M deliveries then write one payload's
// reference count, from both CPUs: the worst case for sharing), and a new payload per publish.
func oneToFifty(_ events: Int, newPayload: Bool) async throws {
    let floor = floorProbe()
    var config = EventBusConfig()
    config.deliveryGuarantee = .atLeastOnce
    let bus = InMemoryEventBus(config: config)
    let counters = (0..<50).map { _ in Counter() }
    for c in counters { try await bus.subscribe(toTopics: ["t"], c) }
    let e = Event(topic: "t", payload: ["user_id": 123])
    for _ in 0..<events / 10 { try await bus.publish(e) } // warm-up, not timed
    try await bus.flush()
    let warm = counters.reduce(0) { $0 + $1.n.load(ordering: .relaxed) }
    let t0 = nowNs()
    if newPayload {
        for i in 0..<events { try await bus.publish(Event(topic: "t", payload: ["user_id": .int(Int64(i))])) }
    } else {
        for _ in 0..<events { try await bus.publish(e) }
    }
    try await bus.flush()
    let secs = Double(nowNs() - t0) / 1e9
    let delivered = counters.reduce(0) { $0 + $1.n.load(ordering: .relaxed) } - warm
    let s = await bus.stats()
    emit(newPayload ? "inmemory-1to50-atleastonce-new-payload" : "inmemory-1to50-atleastonce",
         [("deliveries_per_sec", Double(delivered) / secs), ("dropped", Double(s.dropped)), ("floor_ns_before", floor)])
    await bus.close()
}

// The floor: one cache line bounced between two threads pinned to different CPUs (one-way ns, median
// of 20,000 round trips / 2; RingBusSystem.cacheLineFloorNanoseconds). This VM's host moves its vCPUs;
// this says where they were for the measurement that follows it.
func floorProbe(_ rounds: Int = 20_000) -> Double { RingBusSystem.cacheLineFloorNanoseconds(rounds: rounds) ?? 0 }

// Reference: a thread-to-thread semaphore hand-off (one-way), measured now.
func semaphoreHandoff(_ rounds: Int) -> [UInt64] {
    let go = DispatchSemaphore(value: 0), back = DispatchSemaphore(value: 0)
    let stamp = Atomic<UInt64>(0)
    var samples = [UInt64]()
    samples.reserveCapacity(rounds)
    let t = Thread {
        for _ in 0..<rounds { go.wait(); stamp.store(nowNs(), ordering: .releasing); back.signal() }
    }
    t.start()
    for _ in 0..<rounds {
        let t0 = nowNs()
        go.signal()
        back.wait()
        samples.append(stamp.load(ordering: .acquiring) - t0)
        usleep(50) // let the other side go idle, as an idle subscriber is
    }
    return samples
}

// publish -> handler latency with an idle subscriber (it waits for each event).
func idleLatency(_ rounds: Int) async throws -> [UInt64] {
    let bus = InMemoryEventBus()
    let stamp = Atomic<UInt64>(0)
    try await bus.subscribe(toTopics: ["t"], ClosureHandler { _ in stamp.store(nowNs(), ordering: .releasing) })
    var samples = [UInt64]()
    for _ in 0..<rounds {
        stamp.store(0, ordering: .relaxed)
        let t0 = nowNs()
        try await bus.publish(Event(topic: "t", payload: nil))
        var s: UInt64 = 0
        while s == 0 { s = stamp.load(ordering: .acquiring); if s == 0 { await Task.yield() } }
        samples.append(s - t0)
        usleep(50)
    }
    await bus.close()
    return samples
}

// A busy subscriber at a fixed rate: latency from the intended send time (queueing is not hidden).
func fixedRate(_ perSecond: Int, _ events: Int) async throws -> [UInt64] {
    let bus = InMemoryEventBus()
    let lat = Mutex([UInt64]())
    try await bus.subscribe(toTopics: ["t"], ClosureHandler { e in
        let intended = UInt64(e.payload.intValue!)
        let d = nowNs() - intended
        lat.withLock { $0.append(d) }
    })
    let interval = UInt64(1_000_000_000 / perSecond)
    let start = nowNs() + 1_000_000
    for i in 0..<events {
        let intended = start + UInt64(i) * interval
        while nowNs() < intended {}
        try await bus.publish(Event(topic: "t", payload: .int(Int64(intended))))
    }
    try await bus.flush()
    await bus.close()
    return lat.withLock { $0 }
}

struct Login: Codable { var name: String; var ok: Bool; var score: Double; var tags: [String]; var user_id: Int }

func json(_ rounds: Int) throws {
    let value: JSONValue = ["user_id": 123456, "name": "alice@example.com", "ok": true, "score": 0.75, "tags": ["web", "eu-west"]]
    let bytes = value.encodedBytes()
    let obj = Login(name: "alice@example.com", ok: true, score: 0.75, tags: ["web", "eu-west"], user_id: 123456)
    let fe = JSONEncoder()
    fe.outputFormatting = .sortedKeys
    let fd = JSONDecoder()
    let data = try fe.encode(obj)
    var sink = 0
    func per(_ body: () throws -> Void) rethrows -> Double {
        let t0 = nowNs()
        for _ in 0..<rounds { try body() }
        return Double(nowNs() - t0) / Double(rounds)
    }
    let enc = per { sink &+= value.encodedBytes().count }
    let dec = try per { sink &+= try JSONValue(decoding: bytes).objectValue!.count }
    let fenc = try per { sink &+= try fe.encode(obj).count }
    let fdec = try per { sink &+= try fd.decode(Login.self, from: data).user_id }
    emit("json-\(bytes.count)B", [("jsonvalue_encode_ns", enc), ("jsonvalue_decode_ns", dec),
                                  ("foundation_encode_ns", fenc), ("foundation_decode_ns", fdec),
                                  ("encode_speedup", fenc / enc), ("decode_speedup", fdec / dec), ("sink", Double(sink % 2))])
}

// The other process of the shared-memory benchmarks (SharedMemoryBench.swift).
if CommandLine.arguments.count > 1, CommandLine.arguments[1] == "--shm-sub" {
    try await shmSubscriberChild(CommandLine.arguments)
    exit(0)
}
if CommandLine.arguments.count > 1, CommandLine.arguments[1] == "--zc-pong" {
    try zcPongChild(CommandLine.arguments)
    exit(0)
}
if CommandLine.arguments.count > 1, CommandLine.arguments[1] == "--zc-sink" {
    try zcSinkChild(CommandLine.arguments)
    exit(0)
}
if CommandLine.arguments.count > 1, CommandLine.arguments[1] == "--shm-pong" {
    try await shmPongChild(CommandLine.arguments)
    exit(0)
}

let quick = CommandLine.arguments.contains("--quick")
let scale = quick ? 20 : 1
/// `--only NAME[,NAME]`: run only these groups (1to1, 1to50, latency, json, shm, side, steps, zc).
let only: Set<String>? = CommandLine.arguments.firstIndex(of: "--only").map {
    Set(CommandLine.arguments[$0 + 1].split(separator: ",").map(String.init))
}
func wanted(_ group: String) -> Bool { only?.contains(group) ?? true }
if wanted("1to1") {
    for how in [Publishing.same, .newEvent, .newPayload] { try await oneToOne(2_000_000 / scale, how) }
}
if wanted("1to50") {
    try await oneToFifty(200_000 / scale, newPayload: false)
    try await oneToFifty(200_000 / scale, newPayload: true)
}
if wanted("latency") {
    let sem = semaphoreHandoff(20_000 / scale)
    emit("semaphore-handoff", percentiles(sem))
    let idle = try await idleLatency(20_000 / scale)
    emit("inmemory-idle-latency", percentiles(idle) + [("p50_over_semaphore_p50", percentiles(idle)[0].1 / percentiles(sem)[0].1)])
    emit("inmemory-busy-100k-per-sec", percentiles(try await fixedRate(100_000, 200_000 / scale)))
}
if wanted("json") { try json(200_000 / scale) }
if wanted("shm") {
    for g in [DeliveryGuarantee.atMostOnce, .atLeastOnce, .exactlyOnce] {
        try await shmThroughput(1_000_000 / scale, g, newPayload: false)
    }
    try await shmThroughput(1_000_000 / scale, .atMostOnce, newPayload: true)
    try await shmThroughput(1_000_000 / scale, .atLeastOnce, newPayload: false, capacity: 1 << 20)
    emit("semaphore-handoff", percentiles(semaphoreHandoff(20_000 / scale)))
    try await shmPingPong(5_000 / scale, "block")
    try await shmPingPong(20_000 / scale, "spin")
}
if wanted("side") { try await sideCosts(150_000 / scale) }
if wanted("steps") { try await steps() }
if wanted("zc") {
    if !cReferences(quick: quick) { FileHandle.standardError.write(Data("no .build/ringbench: C references skipped\n".utf8)) }
    try zcPingPong(200_000 / scale, block: false)
    try zcPingPong(20_000 / scale, block: true)
    try zcThroughput(20_000_000 / scale, batch: 1)
    try zcThroughput(50_000_000 / scale, batch: 64)
}
