// Admin.swift: `ringbus create`, `ls`, `rm`, `consumers` and `cleanup`.

import ArgumentParser
import Foundation
import RingBus

struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a bus.")

    @Argument(help: "The bus name: 1-64 of A-Z a-z 0-9 _ . -") var bus: String
    @Option(help: "Producer streams (one per publishing process), 1-64.") var streams: Int = 8
    @Option(help: "Ring bytes per stream, a power of two from 4KiB to 4GiB.") var capacity: ByteSize = ByteSize(bytes: 1 << 20)
    @Option(help: "Consumer slots, 1-256.") var consumers: Int = 64
    @Option(help: "Largest event payload, 64 bytes to capacity / 8 (default: 64KiB, or capacity / 8 if less).") var maxEventSize: ByteSize?
    @Option(help: "File mode of the segment, octal.") var mode: String = "600"

    func validate() throws {
        try validateBusName(bus)
        guard let m = UInt32(mode, radix: 8), m <= 0o777 else { throw ValidationError("--mode must be an octal file mode such as 600 or 660") }
    }

    func run() async throws {
        try await reporting {
            var p = SegmentParameters()
            p.streams = streams
            p.capacity = capacity.bytes
            p.consumerSlots = consumers
            p.maxEventSize = maxEventSize?.bytes ?? min(64 << 10, capacity.bytes / 8)
            p.mode = UInt32(mode, radix: 8)!
            let segment = try SharedSegment.create(name: bus, parameters: p)
            print("created bus '\(bus)': \(streams) streams of \(capacity), \(consumers) consumer slots, events up to \(ByteSize(bytes: segment.maxEventSize)), \(segment.size) bytes in /dev/shm")
        }
    }
}

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the buses on this host.")

    @Flag(help: "One JSON array of {name, size_bytes, producers, consumers}.") var json = false

    func run() async throws {
        var rows: [JSONValue] = []
        var lines: [String] = []
        for name in SharedSegment.list() {
            guard let s = try? BusSnapshot.take(bus: name) else {
                if !json { lines.append("\(name)  (cannot be read)") }
                continue
            }
            let producers = s.streams.filter(\.alive).count
            let consumers = s.consumers.filter(\.alive).count
            rows.append(["name": .string(name), "size_bytes": .int(Int64(s.sizeBytes)), "producers": .int(Int64(producers)),
                         "consumers": .int(Int64(consumers))])
            lines.append("\(name)  \(ByteSize(bytes: Int(s.sizeBytes)))  producers \(producers)  consumers \(consumers)")
        }
        if json { writeLine(jsonLine(.array(rows))) } else if lines.isEmpty { print("no buses") } else { lines.forEach { print($0) } }
    }
}

struct Remove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Remove a bus (refuses while live participants remain, unless --force).")

    @Argument(help: "The bus name.") var bus: String
    @Flag(help: "Remove even with live participants: they see the bus as removed.") var force = false

    func validate() throws { try validateBusName(bus) }

    func run() async throws {
        try await reporting {
            let s = try BusSnapshot.take(bus: bus)
            let live = s.streams.filter(\.alive).count + s.consumers.filter(\.alive).count
            if live > 0 && !force {
                throw failure("bus '\(bus)' has \(live) live participant\(live == 1 ? "" : "s"); stop them, or use --force")
            }
            try SharedSegment.remove(name: bus)
            print("removed bus '\(bus)'\(live > 0 ? " (\(live) live participants will see it as removed)" : "")")
        }
    }
}

struct Consumers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a bus's consumers, or remove a durable consumer's place: consumers BUS rm NAME.")

    @Argument(help: "The bus name.") var bus: String
    @Argument(help: "rm NAME: forget the durable consumer NAME (it must not be running).") var action: [String] = []
    @Flag(help: "One JSON array of consumers.") var json = false

    func validate() throws {
        try validateBusName(bus)
        guard action.isEmpty || (action.count == 2 && action[0] == "rm") else {
            throw ValidationError("expected nothing, or: rm NAME")
        }
    }

    func run() async throws {
        try await reporting {
            if action.count == 2 {
                let segment = try SharedSegment.attach(name: bus)
                try segment.forgetConsumer(named: action[1])
                print("forgot durable consumer '\(action[1])' on bus '\(bus)'")
                return
            }
            let s = try BusSnapshot.take(bus: bus)
            if json {
                writeLine(jsonLine(.array(s.consumers.map(consumerJSON))))
            } else if s.consumers.isEmpty {
                print("no consumers on bus '\(bus)'")
            } else {
                for c in s.consumers {
                    print("\(c.durableName ?? "(anonymous)")  slot \(c.slot)  pid \(c.pid)  \(c.alive ? "alive" : "dead")  \(modeName(c.mode))  \(stateName(c.state))  lag \(c.lag)  dropped \(c.dropped)  missed \(c.missed)")
                }
            }
        }
    }
}

struct Cleanup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Free what dead processes left on every bus (anonymous consumer slots, half-built segments); list what was done.")

    @Flag(help: "Only list what would be freed.") var dryRun = false

    func run() async throws {
        var actions = 0
        let verb = dryRun ? "would free" : "freed"
        // Half-built segments of creators that died before renaming them into place.
        if let files = try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm") {
            for f in files where f.hasPrefix("ringbus.") && f.contains(".tmp.") {
                let parts = f.components(separatedBy: ".tmp.")
                guard parts.count == 2, let pid = Int32(parts[1].split(separator: ".").first ?? ""),
                      kill(pid, 0) != 0 && errno == ESRCH else { continue }
                if !dryRun { try? FileManager.default.removeItem(atPath: "/dev/shm/" + f) }
                print("\(verb) half-built segment /dev/shm/\(f) (creator \(pid) is gone)")
                actions += 1
            }
        }
        for name in SharedSegment.list() {
            guard let segment = try? SharedSegment.attach(name: name) else {
                print("skipped bus '\(name)': cannot attach it")
                continue
            }
            do {
                for slot in try segment.reapDeadAnonymousConsumers(dryRun: dryRun) {
                    print("\(verb) consumer slot \(slot) of bus '\(name)' (its anonymous owner died)")
                    actions += 1
                }
            } catch {
                print("skipped bus '\(name)': \(error)")
            }
            for c in segment.snapshot().consumers where !c.alive && c.durableName != nil {
                print("kept durable consumer '\(c.durableName!)' of bus '\(name)' (\(stateName(c.state))): `ringbus consumers \(name) rm \(c.durableName!)` forgets it")
            }
        }
        if actions == 0 { print("nothing to free") }
    }
}

func modeName(_ m: ReaderMode?) -> String {
    switch m {
    case .lossy: "lossy"
    case .gating: "gating"
    case nil: "unknown"
    }
}

func stateName(_ s: ClaimState) -> String {
    switch s {
    case .free: "free"
    case .active: "active"
    case .detached: "detached"
    case .evicted: "evicted"
    case .unknown(let v): "unknown(\(v))"
    }
}

func consumerJSON(_ c: ConsumerSnapshot) -> JSONValue {
    ["name": c.durableName.map { .string($0) } ?? .null, "pid": .int(Int64(c.pid)), "alive": .bool(c.alive),
     "mode": .string(modeName(c.mode)), "lag": .int(Int64(clamping: c.lag)), "dropped": .int(Int64(clamping: c.dropped)),
     "missed": .int(Int64(clamping: c.missed))]
}
