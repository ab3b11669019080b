// RingBusMicro: per-operation costs in one thread (no second CPU involved): the ring's claim/commit,
// batch commit and poll through the Swift faces and through the C functions they wrap, the Event API,
// and JSONValue against Foundation's coders. Wall clock and malloc counts; the hot paths should show 0
// mallocs per operation.

import Benchmark
import CRingBus
import Foundation
import RingBus

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .mallocCountTotal, .throughput],
                                           maxDuration: .seconds(2), maxIterations: 1_000_000)

    // One bus per process run; the writer and reader are used by the benchmark's thread only.
    let name = "micro-\(getpid())"
    var p = SegmentParameters()
    p.capacity = 1 << 20
    p.maxEventSize = 4096
    let segment = try! SharedSegment.create(name: name, parameters: p)
    shm_unlink("/ringbus.\(name)") // nothing left in /dev/shm: this process keeps its mapping
    let topic = try! PreparedTopic("bench.events")
    nonisolated(unsafe) let writer = try! StreamWriter(segment: segment)
    nonisolated(unsafe) let reader = try! StreamReader(segment: segment, mode: .lossy)
    let payload = [UInt8](repeating: 7, count: 64)

    Benchmark("ring: claim + copy + commit, one 64 B event (Swift)") { benchmark in
        for _ in benchmark.scaledIterations {
            guard let dst = try writer.claim(topic: topic, payloadLength: 64) else { continue }
            payload.withUnsafeBytes { dst.copyMemory(from: $0) }
            writer.commit()
        }
    }

    Benchmark("ring: 64 claims, one commit (Swift)") { benchmark in
        for _ in benchmark.scaledIterations {
            for _ in 0..<64 {
                guard let dst = try writer.claim(topic: topic, payloadLength: 64) else { break }
                payload.withUnsafeBytes { dst.copyMemory(from: $0) }
            }
            writer.commit()
        }
    }

    Benchmark("ring: publish 256 then poll 256 with borrowed views (Swift)") { benchmark in
        var sum = 0
        for _ in benchmark.scaledIterations {
            for _ in 0..<256 {
                _ = try payload.withUnsafeBytes { try writer.publish(topic: topic, payload: $0) }
            }
            _ = reader.poll(max: 256) { (v: borrowing EventView) in sum &+= Int(v.payload[0]) }
        }
        blackHole(sum)
    }

    // The C path: the same operation through rbus_producer_publish, on a bus of its own.
    var err = rbus_error()
    let producer = UnsafeMutablePointer<rbus_producer>.allocate(capacity: 1)
    let cName = "micro-c-\(getpid())"
    var cp = rbus_create_params()
    rbus_create_params_default(&cp)
    cp.capacity = 1 << 20
    cp.max_event_size = 4096
    let cOwn = UnsafeMutablePointer<rbus_bus>.allocate(capacity: 1)
    _ = rbus_bus_create(cName, &cp, cOwn, &err)
    shm_unlink("/ringbus.\(cName)")
    _ = rbus_producer_open(cOwn, nil, producer, &err)
    let cTopic = Array("bench.events".utf8)
    let cHash = cTopic.withUnsafeBufferPointer { rbus_topic_hash($0.baseAddress, $0.count) }

    Benchmark("ring: claim + copy + commit, one 64 B event (C)") { benchmark in
        for _ in benchmark.scaledIterations {
            _ = cTopic.withUnsafeBufferPointer { t in
                payload.withUnsafeBytes { pl in
                    rbus_producer_publish(producer, t.baseAddress, UInt32(t.count), cHash, pl.baseAddress, 64, 0, 0)
                }
            }
        }
    }

    Benchmark("JSONValue: encode a 5-member object") { benchmark in
        let value: JSONValue = ["user_id": 123456, "name": "alice@example.com", "ok": true, "score": 0.75, "tags": ["web", "eu-west"]]
        for _ in benchmark.scaledIterations { blackHole(value.encodedBytes()) }
    }

    Benchmark("JSONValue: decode the same object") { benchmark in
        let bytes = (["user_id": 123456, "name": "alice@example.com", "ok": true, "score": 0.75, "tags": ["web", "eu-west"]] as JSONValue).encodedBytes()
        for _ in benchmark.scaledIterations { blackHole(try JSONValue(decoding: bytes)) }
    }

    struct Login: Codable { var name: String; var ok: Bool; var score: Double; var tags: [String]; var user_id: Int }
    Benchmark("Foundation: JSONEncoder, the same object") { benchmark in
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        let obj = Login(name: "alice@example.com", ok: true, score: 0.75, tags: ["web", "eu-west"], user_id: 123456)
        for _ in benchmark.scaledIterations { blackHole(try e.encode(obj)) }
    }

    Benchmark("Foundation: JSONDecoder, the same object") { benchmark in
        let d = JSONDecoder()
        let data = try JSONEncoder().encode(Login(name: "alice@example.com", ok: true, score: 0.75, tags: ["web", "eu-west"], user_id: 123456))
        for _ in benchmark.scaledIterations { blackHole(try d.decode(Login.self, from: data)) }
    }

    // The buses are made before the measurement starts; each sample is 1000 publishes.
    Benchmark("in-process bus: publish one Event to one subscriber (x1000, flushed)",
              configuration: .init(scalingFactor: .kilo)) { benchmark in
        let bus = InMemoryEventBus()
        try await bus.subscribe(toTopics: ["t"], ClosureHandler { _ in })
        let e = Event(topic: "t", payload: ["user_id": 123])
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { try await bus.publish(e) }
        try await bus.flush()
        benchmark.stopMeasurement()
        await bus.close()
    }

    Benchmark("shared-memory bus: publish one Event, no subscriber (x1000)",
              configuration: .init(scalingFactor: .kilo)) { benchmark in
        var o = SharedMemoryBusOptions()
        o.segment.streams = 1
        let busName = "micro-bus-\(getpid())"
        let bus = try SharedMemoryEventBus(name: busName, options: o)
        shm_unlink("/ringbus.\(busName)")
        let e = Event(topic: "t", payload: ["user_id": 123])
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { try await bus.publish(e) }
        benchmark.stopMeasurement()
        await bus.close()
    }
}
