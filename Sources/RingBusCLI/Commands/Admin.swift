// Admin.swift: `ringbus create`, `ls`, `rm`, `consumers` and `cleanup`.

import ArgumentParser
import Foundation
import RingBus

struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a bus.")

    @Argument(help: "The bus name: 1-64 of A-Z a-z 0-9 _ . -") var bus: String
    // `.unconditional`: a value such as -1 is the option's value (then refused by its range), not a flag.
    @Option(parsing: .unconditional, help: "Producer streams (one per publishing process), 1-64.") var streams: Int = 8
    @Option(parsing: .unconditional, help: "Ring bytes per stream, a power of two from 4KiB to 4GiB.") var capacity: ByteSize = ByteSize(bytes: 1 << 20)
    @Option(parsing: .unconditional, help: "Consumer slots, 1-256.") var consumers: Int = 64
    @Option(parsing: .unconditional, help: "Largest event payload, 64 bytes to capacity / 8 (default: 64KiB, or capacity / 8 if less).") var maxEventSize: ByteSize?
    @Option(parsing: .unconditional, help: "File mode of the segment, octal, 600 to 777 (the owner reads and writes).") var mode: String = "600"
    @Option(parsing: .unconditional, help: "How long a durable consumer that died or left keeps its place before it is evicted and events go by without it, 0.001 to 31536000 seconds (default 10).")
    var evictionGrace: Double = 10

    func validate() throws {
        try validateBusName(bus)
        let limits = SegmentParameters.self
        try checkRange("--streams", streams, limits.streamsRange, "1 to \(limits.streamsRange.upperBound)")
        try checkRange("--consumers", consumers, limits.consumerSlotsRange, "1 to \(limits.consumerSlotsRange.upperBound)")
        let c = capacity.bytes
        guard limits.isValidCapacity(c) else {
            throw ValidationError("--capacity must be a power of two from 4KiB to 4GiB, got \(capacity)")
        }
        if let m = maxEventSize, !(limits.minimumMaxEventSize...(c / 8)).contains(m.bytes) {
            throw ValidationError("--max-event-size must be \(limits.minimumMaxEventSize) bytes to capacity / 8 (\(ByteSize(bytes: c / 8))), got \(m)")
        }
        // The owner must be able to open its bus again (a mode without 6 for the owner made a bus only a
        // manual unlink could remove); no setuid, setgid or sticky bits.
        try checkRange("--eviction-grace", evictionGrace, 0.001...31_536_000, "0.001 to 31536000 seconds")
        guard let m = UInt32(mode, radix: 8), m <= 0o777, m & 0o600 == 0o600 else {
            throw ValidationError("--mode must be an octal file mode the owner can read and write, 600 to 777 (such as 600, 660 or 666), got \(mode)")
        }
    }

    func run() async throws {
        try await reporting {
            var p = SegmentParameters()
            p.streams = streams
            p.capacity = capacity.bytes
            p.consumerSlots = consumers
            p.maxEventSize = maxEventSize?.bytes ?? min(64 << 10, capacity.bytes / 8)
            p.mode = UInt32(mode, radix: 8)!
            p.evictionGrace = .nanoseconds(Int64(evictionGrace * 1e9))
            let segment = try SharedSegment.create(name: bus, parameters: p)
            // The confirmation is part of the command: a create that cannot say it succeeded removes
            // the bus and fails, so a failed create never leaves a file in /dev/shm.
            do {
                try writeOutput("created bus '\(bus)': \(streams) stream\(streams == 1 ? "" : "s") of \(capacity), \(consumers) consumer slot\(consumers == 1 ? "" : "s"), events up to \(ByteSize(bytes: segment.maxEventSize)), \(segment.size) bytes in /dev/shm, eviction grace \(evictionGrace) s")
            } catch {
                try? SharedSegment.remove(name: bus)
                throw error
            }
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
            let s: BusSnapshot
            do { s = try BusSnapshot.take(bus: name) } catch {
                let why = (error as? SegmentError)?.description ?? "\(error)"
                rows.append(["name": .string(name), "error": .string(why)])
                lines.append("\(name)  (cannot be read: \(why))")
                continue
            }
            let producers = s.streams.filter(\.alive).count
            let consumers = s.consumers.filter(\.alive).count
            rows.append(["name": .string(name), "size_bytes": .int(Int64(s.sizeBytes)), "producers": .int(Int64(producers)),
                         "consumers": .int(Int64(consumers))])
            lines.append("\(name)  \(ByteSize(bytes: Int(s.sizeBytes)))  producers \(producers)  consumers \(consumers)")
        }
        if json { try writeOutput(jsonLine(.array(rows))) } else if lines.isEmpty { print("no buses") } else { lines.forEach { print($0) } }
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
            let s: BusSnapshot
            do {
                s = try BusSnapshot.take(bus: bus)
            } catch let e as SegmentError where e.unusableReason != nil {
                // Not a bus this build can attach (corrupt, another layout, left flagged as removed):
                // nobody can be using it through RingBus, so --force removes the file itself.
                guard force else { throw failure("\(e.description)\(forceHint(bus))") }
                try SharedSegment.removeUnusable(name: bus)
                print("removed /dev/shm/ringbus.\(bus) (\(e.unusableReason!))")
                return
            }
            let live = s.streams.filter(\.alive).count + s.consumers.filter(\.alive).count
            if live > 0 && !force {
                throw failure("bus '\(bus)' has \(live) live participant\(live == 1 ? "" : "s"); stop them, or use --force")
            }
            try SharedSegment.remove(name: bus)
            print("removed bus '\(bus)'\(live > 0 ? " (\(live) live participants will see it as removed)" : "")")
        }
    }
}

/// "; `ringbus rm --force BUS` removes the file" when the caller owns /dev/shm/ringbus.BUS (so that
/// command would work), else "" (another user's file: only its owner can remove it).
func forceHint(_ bus: String) -> String {
    SharedSegment.fileOwner(name: bus) == geteuid() ? "; `ringbus rm --force \(bus)` removes the file" : " (another user's file)"
}

extension SegmentError {
    /// Why a segment file cannot be used as a bus (corrupt, another layout, left flagged as removed),
    /// e.g. "corrupt: bad magic"; `nil` for errors about a usable bus or the system.
    var unusableReason: String? {
        switch self {
        case .corrupt(_, let why): "corrupt: \(why)"
        case .incompatibleLayout(_, let why): "incompatible: \(why)"
        case .busRemoved: "flagged as removed"
        default: nil
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
        if action.count == 2 { try validateDurableName(action[1]) }
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
                try writeOutput(jsonLine(.array(s.consumers.map(consumerJSON))))
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
        abstract: "Free what dead processes left (anonymous consumer slots, half-built segments); list unusable segments; say what was done.")

    @Flag(help: "Only list what would be freed.") var dryRun = false
    @Option(parsing: .unconditional, help: "Remove a half-built segment only when unchanged for this many seconds, 0 to 31536000 (default 60).")
    var grace: Double = 60
    @Flag(help: "Also clean other users' buses and half-built segments (where permissions allow).") var anyOwner = false

    func validate() throws {
        try checkRange("--grace", grace, 0...31_536_000, "0 to 31536000 seconds")
    }

    func run() async throws {
        try await reporting {
            var actions = 0
            let verb = dryRun ? "would remove" : "removed"
            // Half-built segments (/dev/shm/.ringbus-tmp.<bus>.<pid>.<random>): only regular files of this
            // user whose creator's lock is free and that are older than the grace period.
            for t in SharedSegment.reapAbandonedTemporaries(grace: .nanoseconds(Int64(grace * 1e9)), anyOwner: anyOwner,
                                                                dryRun: dryRun) {
                switch t.state {
                case .abandoned:
                    print("\(verb) half-built segment /dev/shm/\(t.file) (its creator died)")
                    actions += 1
                case .live: print("kept /dev/shm/\(t.file): a create is in progress")
                case .young: print("kept /dev/shm/\(t.file): changed less than \(grace) s ago (--grace)")
                case .notRegularFile: print("skipped /dev/shm/\(t.file): not a regular file")
                case .otherOwner: print("skipped /dev/shm/\(t.file): another user's (--any-owner includes it)")
                case .notPermitted: print("kept /dev/shm/\(t.file): its creator died, but only root or its owner may remove it")
                case .failed(let why): print("skipped /dev/shm/\(t.file): \(why)")
                }
            }
            let freed = dryRun ? "would free" : "freed"
            for name in SharedSegment.list() {
                let segment: SharedSegment
                do {
                    // Any owner: cleanup applies its own rule to other users' buses just below.
                    segment = try SharedSegment.attach(name: name, trust: .anyOwner)
                } catch let e as SegmentError {
                    if let why = e.unusableReason {
                        print("unusable segment /dev/shm/ringbus.\(name) (\(why))\(forceHint(name))")
                    } else {
                        print("skipped: \(e.description)")
                    }
                    continue
                }
                if segment.ownerUID != geteuid() && !anyOwner {
                    print("skipped bus '\(name)': another user's (--any-owner includes it)")
                    continue
                }
                do {
                    for slot in try segment.reapDeadAnonymousConsumers(dryRun: dryRun) {
                        print("\(freed) consumer slot \(slot) of bus '\(name)' (its anonymous owner died)")
                        actions += 1
                    }
                } catch {
                    print("skipped: \((error as? SegmentError)?.description ?? "\(error)")")
                }
                for c in segment.snapshot().consumers where !c.alive && c.durableName != nil {
                    print("kept durable consumer '\(c.durableName!)' of bus '\(name)' (\(stateName(c.state))): `ringbus consumers \(name) rm \(c.durableName!)` forgets it")
                }
            }
            if actions == 0 { print("nothing to free") }
        }
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
