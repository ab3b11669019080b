// CLITests.swift: the built `ringbus` binary, end to end: create, pub, tail, stat, consumers, rm and
// cleanup, their JSON contracts, a durable tail killed and restarted, and every bad input answered with
// one line on standard error and the right exit status (64 usage, 1 runtime), never a crash or a hang.

import Foundation
import RingBus
import Testing

/// The `ringbus` executable built beside the test bundle.
let ringbusPath: String = URL(fileURLWithPath: peerPath).deletingLastPathComponent().appendingPathComponent("ringbus").path

/// The result of one `ringbus` run.
struct CLIRun {
    let status: Int32
    let stdout: String
    let stderr: String
    var lines: [String] { stdout.split(separator: "\n").map(String.init) }
}

/// Runs `ringbus args` to completion (killed at the deadline), with `input` on standard input.
func ringbus(_ args: [String], input: String? = nil, timeout: TimeInterval = testDeadline, runAs user: String? = nil) throws
    -> CLIRun
{
    let p = Process()
    var reachableCopy: String?
    defer { if let dir = reachableCopy { try? FileManager.default.removeItem(atPath: dir) } }
    if let user {
        // The checkout may live where `user` cannot enter (a 0700 folder, /root): run a copy of the
        // binary from a temporary folder everyone can reach, removed afterwards.
        let dir = try copyReachableByAnyone(ringbusPath)
        reachableCopy = dir
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
        p.arguments = ["-u", user, "--", dir + "/ringbus"] + args
    } else {
        p.executableURL = URL(fileURLWithPath: ringbusPath)
        p.arguments = args
    }
    return try runToEnd(p, input: input, timeout: timeout, what: "ringbus \(args)")
}

/// Runs the configured process `p` to completion (killed at the deadline), with `input` on standard
/// input, collecting both outputs.
func runToEnd(_ p: Process, input: String? = nil, timeout: TimeInterval, what: String) throws -> CLIRun {
    let out = Pipe(), err = Pipe(), inp = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = inp
    try p.run()
    if let input { inp.fileHandleForWriting.write(Data(input.utf8)) }
    try? inp.fileHandleForWriting.close()
    let outData = LockedBox(Data()), errData = LockedBox(Data())
    let readers = DispatchGroup()
    for (pipe, box) in [(out, outData), (err, errData)] {
        readers.enter()
        DispatchQueue.global().async {
            let d = pipe.fileHandleForReading.readDataToEndOfFile()
            box.mutate { $0 = d }
            readers.leave()
        }
    }
    let end = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < end { usleep(2000) }
    if p.isRunning {
        kill(p.processIdentifier, SIGKILL)
        Issue.record("\(what) exceeded its \(timeout) s deadline")
    }
    p.waitUntilExit()
    _ = readers.wait(timeout: .now() + 5)
    return CLIRun(status: p.terminationStatus, stdout: String(decoding: outData.value, as: UTF8.self),
                  stderr: String(decoding: errData.value, as: UTF8.self))
}

/// Copies `binary` into a new folder under /tmp that every user can enter (mode 0755, the copy 0755);
/// returns the folder, which the caller removes.
func copyReachableByAnyone(_ binary: String) throws -> String {
    let dir = "/tmp/ringbus-cli-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false,
                                            attributes: [.posixPermissions: 0o755])
    try FileManager.default.copyItem(atPath: binary, toPath: dir + "/ringbus")
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir + "/ringbus")
    return dir
}

/// A bus name for one CLI test; the bus is removed when the test ends.
final class CLIBus {
    let name = "cli-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    deinit { try? SharedSegment.remove(name: name) }
}

private func object(_ line: String) -> [String: Any]? {
    (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
}

@Suite("ringbus command", .serialized)
struct CLITests {
    @Test("create, ls, pub, tail --json, stat --json, consumers, rm: the documented JSON fields")
    func endToEnd() throws {
        let bus = CLIBus()
        let created = try ringbus(["create", bus.name, "--capacity", "256KiB", "--streams", "2", "--consumers", "8"])
        #expect(created.status == 0 && created.stdout.contains("created bus"))
        let ls = try ringbus(["ls", "--json"])
        let rows = (try? JSONSerialization.jsonObject(with: Data(ls.stdout.utf8))) as? [[String: Any]] ?? []
        let row = rows.first { $0["name"] as? String == bus.name }
        #expect(row != nil && Set(row!.keys) == ["name", "size_bytes", "producers", "consumers"])

        let tail = try Peer.ringbus(["tail", bus.name, "orders.*", "--json", "--count", "3", "--timeout", "30"])
        #expect(waitForConsumer(on: bus.name))
        let pub = try ringbus(["pub", bus.name, "orders.created", "-"], input: "{\"id\": 1}\n{\"id\": 2}\n\n{\"id\": 3}\n")
        #expect(pub.status == 0, "\(pub.stderr)")
        _ = try ringbus(["pub", bus.name, "other.topic", "{\"id\": 99}"])
        #expect(tail.wait() == 0)
        let events = tail.outputLines.compactMap(object)
        #expect(events.map { ($0["payload"] as? [String: Any])?["id"] as? Int } == [1, 2, 3])
        #expect(events.allSatisfy { Set($0.keys) == ["topic", "payload", "timestamp", "stream", "sequence"] })
        #expect((events.first?["timestamp"] as? String)?.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$"#, options: .regularExpression) != nil)

        let stat = try ringbus(["stat", bus.name, "--json"])
        let s = object(stat.stdout) ?? [:]
        #expect(Set(s.keys) == ["name", "published", "delivered", "dropped", "producers", "consumers"])
        #expect(s["published"] as? Int == 4)
        let human = try ringbus(["stat", bus.name])
        #expect(human.status == 0 && human.stdout.contains("published 4"))
        let consumers = try ringbus(["consumers", bus.name, "--json"])
        #expect(consumers.status == 0 && consumers.stdout.hasPrefix("["))
        let rm = try ringbus(["rm", bus.name])
        #expect(rm.status == 0)
        #expect(!FileManager.default.fileExists(atPath: "/dev/shm/ringbus.\(bus.name)"))
    }

    /// Found by an outside attack: `tail` printed a raw (non-JSON) payload as `"payload":null`, the
    /// same as a JSON null, and dropped its content type and headers.
    @Test("tail shows a raw payload as its content type and base64 bytes, with headers and origin")
    func tailRawPayload() async throws {
        let bus = CLIBus()
        #expect(try ringbus(["create", bus.name, "--capacity", "256KiB"]).status == 0)
        let tail = try Peer.ringbus(["tail", bus.name, "cam.*", "--json", "--count", "1", "--timeout", "30"])
        #expect(waitForConsumer(on: bus.name))
        var options = SharedMemoryBusOptions()
        options.createIfMissing = false
        let shm = try SharedMemoryEventBus(name: bus.name, config: EventBusConfig(), options: options)
        var e = Event(topic: "cam.frame", bytes: [0xFF, 0xD8, 0x00, 0x01], contentType: "image/jpeg")
        e.headers = ["trace-id": "t-9"]
        e.origin = "host-a"
        try await shm.publish(e)
        await shm.close()
        #expect(tail.wait() == 0)
        let line = try #require(tail.outputLines.compactMap(object).first)
        #expect(line["content_type"] as? String == "image/jpeg" && line["payload_base64"] as? String == "/9gAAQ==")
        #expect(line["payload"] == nil && (line["headers"] as? [String: String]) == ["trace-id": "t-9"] && line["origin"] as? String == "host-a")
    }

    /// Found by an outside attack: another user created a bus name first (mode 666) and root's `pub`
    /// published into it ("published 1 event"), so that user read root's events. A read-write attach now
    /// joins only a bus of this user or root, unless told to trust its owner.
    @Test("a bus another user created first is not joined: pub, tail and the API refuse it; --trust-owner joins")
    func untrustedOwner() async throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/runuser") else { return }
        let bus = CLIBus()
        let made = try ringbus(["create", bus.name, "--mode", "666"], runAs: "nobody")
        #expect(made.status == 0, "\(made.stderr)")
        let pub = try ringbus(["pub", bus.name, "secret.data", "{\"card\":\"1234\"}"])
        #expect(pub.status == 1 && pub.stderr.contains("belongs to uid 65534") && pub.stderr.contains("--trust-owner 65534"),
                "\(pub.stdout) \(pub.stderr)")
        let tail = try ringbus(["tail", bus.name, "--timeout", "0.2"])
        #expect(tail.status == 1 && tail.stderr.contains("belongs to uid 65534"), "\(tail.stderr)")
        var options = SharedMemoryBusOptions()
        options.createIfMissing = false
        #expect(throws: SegmentError.untrustedOwner(bus: bus.name, uid: 65534)) {
            _ = try SharedMemoryEventBus(name: bus.name, config: EventBusConfig(), options: options)
        }
        #expect((try ringbus(["stat", bus.name, "--json"])).stdout.contains("\"published\":0"), "read-only inspection still works")
        options.ownerTrust = .alsoUsers([65534])
        let trusted = try SharedMemoryEventBus(name: bus.name, config: EventBusConfig(), options: options)
        await trusted.close()
        let chosen = try ringbus(["pub", bus.name, "shared.data", "1", "--trust-owner", "65534"])
        #expect(chosen.status == 0, "\(chosen.stderr)")
        let negative = try ringbus(["pub", bus.name, "shared.data", "1", "--trust-owner", "-1"]) // a value, refused as one
        #expect(negative.status == 64 && negative.stderr.contains("is invalid for '--trust-owner"), "\(negative.stderr)")
    }

    /// Found by the second outside attack: another user with write access to a bus of root's (mode 666)
    /// hard-linked it under a name root then published to; the owner check passed (the file is root's)
    /// and that user read root's events. A bus has one name: a second one is refused, and `rm` of it
    /// does not mark the linked bus removed.
    @Test("a bus with a second name (a hard link) is refused by pub, tail, the API and rm")
    func hardLinkedName() async throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/runuser") else { return }
        let real = CLIBus(), planted = CLIBus()
        #expect(try ringbus(["create", real.name, "--mode", "666"]).status == 0)
        let ln = Process()
        ln.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
        ln.arguments = ["-u", "nobody", "--", "ln", "/dev/shm/ringbus.\(real.name)", "/dev/shm/ringbus.\(planted.name)"]
        try ln.run()
        ln.waitUntilExit()
        defer { try? FileManager.default.removeItem(atPath: "/dev/shm/ringbus.\(planted.name)") }
        #expect(ln.terminationStatus == 0, "nobody could link root's mode-666 bus (protected_hardlinks allows it)")
        let pub = try ringbus(["pub", planted.name, "root.secret", "1"])
        #expect(pub.status == 1 && pub.stderr.contains("has 2 names"), "\(pub.stdout) \(pub.stderr)")
        let tail = try ringbus(["tail", planted.name, "--timeout", "0.2"])
        #expect(tail.status == 1 && tail.stderr.contains("has 2 names"), "\(tail.stderr)")
        var options = SharedMemoryBusOptions()
        options.createIfMissing = false
        options.ownerTrust = .anyOwner
        #expect(throws: SegmentError.linked(bus: planted.name, names: 2)) {
            _ = try SharedMemoryEventBus(name: planted.name, config: EventBusConfig(), options: options)
        }
        let rm = try ringbus(["rm", planted.name])
        #expect(rm.status == 1 && rm.stderr.contains("has 2 names"), "\(rm.stderr)")
        try FileManager.default.removeItem(atPath: "/dev/shm/ringbus.\(planted.name)")
        #expect(try ringbus(["pub", real.name, "still.here", "1"]).status == 0, "the real bus was not marked removed")
    }

    @Test("a durable tail killed with SIGKILL and started again prints every event at least once")
    func durableTail() throws {
        let bus = CLIBus()
        #expect(try ringbus(["create", bus.name, "--capacity", "64KiB"]).status == 0)
        let args = ["tail", bus.name, "n", "--durable", "cli-durable", "--json", "--timeout", "2"]
        let first = try Peer.ringbus(args)
        #expect(waitForConsumer(on: bus.name))
        #expect(try ringbus(["pub", bus.name, "n", "-"], input: (0..<50).map { "\($0)\n" }.joined()).status == 0)
        // Wait until it printed some, then kill it mid-stream; publish more while it is dead.
        let end = Date().addingTimeInterval(testDeadline)
        while first.outputLines.count < 10 && Date() < end { usleep(1000) }
        first.kill9()
        first.wait()
        #expect(try ringbus(["pub", bus.name, "n", "-"], input: (50..<100).map { "\($0)\n" }.joined()).status == 0)
        let second = try Peer.ringbus(args)
        #expect(second.wait() == 0) // exits 0 after 2 s without events
        let printed = (first.outputLines + second.outputLines).compactMap(object).compactMap { $0["payload"] as? Int }
        #expect(Set(printed) == Set(0..<100), "every event printed at least once across the restart")
        let consumers = try ringbus(["consumers", bus.name, "rm", "cli-durable"])
        #expect(consumers.status == 0, "\(consumers.stderr)")
    }

    @Test("bad input: one line on standard error naming the problem; 64 for usage errors, 1 for runtime errors")
    func badInput() throws {
        let bus = CLIBus()
        #expect(try ringbus(["create", bus.name, "--capacity", "64KiB"]).status == 0)
        let cases: [(args: [String], input: String?, status: Int32, says: String)] = [
            (["stat", "no-such-bus-\(getpid())"], nil, 1, "does not exist"),
            (["pub", "no-such-bus-\(getpid())", "t", "{}"], nil, 1, "does not exist"),
            (["create", "../x"], nil, 64, "invalid bus name"),
            (["create", ""], nil, 64, "invalid bus name"),
            (["create", String(repeating: "a", count: 65)], nil, 64, "invalid bus name"),
            (["create", bus.name], nil, 1, "already exists"),
            (["create", "cli-bad-\(getpid())", "--capacity", "1000"], nil, 64, "--capacity"),
            (["create", "cli-bad-\(getpid())", "--capacity", "12XB"], nil, 64, "capacity"),
            (["pub", bus.name, "t", "{bad"], nil, 64, "invalid JSON"),
            (["pub", bus.name, "t.*", "{}"], nil, 64, "wildcards"),
            (["pub", bus.name, "t", "-"], "{\"ok\": 1}\nnot json\n", 64, "line 2"),
            (["pub", bus.name, "t", "\"" + String(repeating: "x", count: 20_000) + "\""], nil, 1, "exceeds"),
            (["tail", bus.name, "a..b"], nil, 64, "invalid pattern"),
            (["tail", bus.name, "--from", "middle"], nil, 64, "--from"),
            (["consumers", bus.name, "rm", "nobody"], nil, 1, "no durable consumer"),
            (["pub"], nil, 64, "Missing expected argument"),
        ]
        for c in cases {
            let r = try ringbus(c.args, input: c.input, timeout: 30)
            #expect(r.status == c.status, "ringbus \(c.args.prefix(3)): status \(r.status), stderr \(r.stderr)")
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines.first?.hasPrefix("ringbus: ") == true && r.stderr.contains(c.says),
                    "ringbus \(c.args.prefix(3)): \(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: "/dev/shm/ringbus.cli-bad-\(getpid())"), "nothing half-created")

        // A durable name another process is using: refused with one line, exit 1.
        let holder = try Peer.ringbus(["tail", bus.name, "--durable", "taken", "--timeout", "60"])
        #expect(waitForConsumer(on: bus.name))
        let second = try ringbus(["tail", bus.name, "--durable", "taken", "--timeout", "1"], timeout: 30)
        #expect(second.status == 1 && second.stderr.contains("durable name 'taken' is in use")
                && second.stderr.split(separator: "\n").count == 1, "\(second.stderr)")
        holder.kill9()
        holder.wait()
        _ = try ringbus(["consumers", bus.name, "rm", "taken"])

        // Permission denied: a bus of mode 600 read by another user (root's tests run it as nobody).
        if getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/runuser") {
            let r = try ringbus(["stat", bus.name], runAs: "nobody")
            #expect(r.status == 1 && r.stderr.contains("permission denied") && r.stderr.split(separator: "\n").count == 1,
                    "\(r.stderr)")
        }

        // A corrupt segment and one of another layout: refused with one line, exit 1.
        let corrupt = "cli-corrupt-\(getpid())"
        FileManager.default.createFile(atPath: "/dev/shm/ringbus.\(corrupt)", contents: Data(count: 8192),
                                       attributes: [.posixPermissions: 0o600])
        defer { unlink("/dev/shm/ringbus.\(corrupt)") }
        // Another layout version: a real bus whose version field says 2.
        let other = "cli-v2-\(getpid())"
        #expect(try ringbus(["create", other, "--capacity", "64KiB"]).status == 0)
        defer { unlink("/dev/shm/ringbus.\(other)") }
        if let h = FileHandle(forUpdatingAtPath: "/dev/shm/ringbus.\(other)") {
            try h.seek(toOffset: 8) // layout_version (rbus_bus_hdr)
            h.write(Data([2, 0, 0, 0]))
            try h.close()
        }
        let v2 = try ringbus(["stat", other], timeout: 30)
        #expect(v2.status == 1 && v2.stderr.contains("incompatible") && v2.stderr.split(separator: "\n").count == 1, "\(v2.stderr)")
        for args in [["stat", corrupt], ["tail", corrupt, "--timeout", "1"], ["pub", corrupt, "t", "{}"]] {
            let r = try ringbus(args, timeout: 30)
            #expect(r.status == 1 && r.stderr.hasPrefix("ringbus: bus '\(corrupt)'") && r.stderr.split(separator: "\n").count == 1,
                    "\(args): \(r.stderr)")
        }
    }

    @Test("a durable tail whose reader goes away exits 3 without committing: the next tail prints that event")
    func durableTailBrokenPipe() throws {
        let bus = CLIBus()
        #expect(try ringbus(["create", bus.name, "--capacity", "64KiB"]).status == 0)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ringbusPath)
        p.arguments = ["tail", bus.name, "n", "--durable", "pipe-reader", "--json", "--timeout", "60"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        #expect(waitForConsumer(on: bus.name))
        #expect(try ringbus(["pub", bus.name, "n", "1"]).status == 0)
        // Read the first line, then close the read end: the next write gets EPIPE.
        var first = Data()
        while !first.contains(10) {
            let d = out.fileHandleForReading.availableData
            if d.isEmpty { break }
            first.append(d)
        }
        #expect(String(decoding: first, as: UTF8.self).contains("\"payload\":1"))
        try out.fileHandleForReading.close()
        #expect(try ringbus(["pub", bus.name, "n", "2"]).status == 0)
        let end = Date().addingTimeInterval(testDeadline)
        while p.isRunning && Date() < end { usleep(2000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        #expect(p.terminationStatus == 3, "a closed pipe exits 3")
        let again = try ringbus(["tail", bus.name, "n", "--durable", "pipe-reader", "--json", "--count", "1", "--timeout", "10"])
        #expect(again.status == 0 && again.stdout.contains("\"payload\":2"), "the event it could not write was not committed")
    }

    @Test("stat --watch prints one line per interval with the published count and its growth")
    func statWatch() throws {
        let bus = CLIBus()
        #expect(try ringbus(["create", bus.name, "--capacity", "64KiB"]).status == 0)
        let watch = try Peer.ringbus(["stat", bus.name, "--watch", "0.05"])
        #expect(watch.waitForLine(containing: "published"))
        #expect(try ringbus(["pub", bus.name, "t", "{}", "--count", "5"]).status == 0)
        #expect(watch.waitForLine(containing: "5 (+"), "a line shows the 5 new events")
        watch.kill9()
        watch.wait()
        #expect(watch.outputLines.count >= 3, "a header, then a line per interval")
    }

    @Test("rm refuses while a participant is alive, --force removes and the participant sees it removed")
    func removeWithParticipants() throws {
        let bus = CLIBus()
        #expect(try ringbus(["create", bus.name]).status == 0)
        let tail = try Peer.ringbus(["tail", bus.name, "--timeout", "60"])
        #expect(waitForConsumer(on: bus.name))
        let refused = try ringbus(["rm", bus.name])
        #expect(refused.status == 1 && refused.stderr.contains("live participant"))
        let forced = try ringbus(["rm", bus.name, "--force"])
        #expect(forced.status == 0)
        #expect(tail.wait(timeout: 30) == 1, "the tail saw the bus removed and said so")
    }

    @Test("bench: every mode with a small count gives the documented JSON; interrupted, it removes its bus")
    func bench() throws {
        let runs: [[String]] = [
            ["--mode", "throughput", "--events", "20000"],
            ["--mode", "throughput", "--api", "batch", "--events", "20000", "--guarantee", "at-least-once"],
            ["--mode", "throughput", "--api", "event", "--events", "2000", "--wait", "block"],
            ["--mode", "throughput", "--api", "codable", "--events", "2000", "--wait", "adaptive", "--guarantee", "at-least-once"],
            ["--mode", "pingpong", "--events", "500"],
            ["--mode", "pingpong", "--api", "event", "--events", "200", "--wait", "adaptive"],
            ["--mode", "fanout", "--consumers", "2", "--events", "5000"],
            ["--mode", "throughput", "--rate", "100000", "--events", "2000"],
        ]
        for args in runs {
            let r = try ringbus(["bench", "--json"] + args, timeout: 120)
            #expect(r.status == 0, "bench \(args): \(r.stderr)")
            let o = object(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? [:]
            #expect(Set(o.keys) == ["mode", "events", "size", "consumers", "wait", "api", "guarantee", "events_per_sec",
                                    "delivered_per_sec", "published_per_sec", "received", "lost",
                                    "mb_per_sec", "latency_ns"], "bench \(args): \(r.stdout)")
            #expect((o["events_per_sec"] as? Double ?? 0) > 0, "bench \(args)")
            let latency = o["latency_ns"] as? [String: Int]
            if args[1] == "pingpong" || args.contains("--rate") {
                #expect(latency.map { Set($0.keys) == ["p50", "p90", "p99", "p999", "max"] && $0["p50"]! > 0 } == true)
            } else {
                #expect(o["latency_ns"] is NSNull)
            }
        }
        let human = try ringbus(["bench", "--events", "20000"], timeout: 120)
        #expect(human.stdout.contains("floor") && human.stdout.contains("M events/s"))
        #expect(try ringbus(["bench", "--mode", "sideways"]).status == 64)

        // Interrupted: SIGINT while it runs removes its temporary bus.
        let long = try Peer.ringbus(["bench", "--events", "500000000"])
        let pid = long.process.processIdentifier
        let end = Date().addingTimeInterval(testDeadline)
        while !FileManager.default.fileExists(atPath: "/dev/shm/ringbus.bench-\(pid)") && Date() < end { usleep(2000) }
        #expect(FileManager.default.fileExists(atPath: "/dev/shm/ringbus.bench-\(pid)"))
        usleep(200_000)
        kill(pid, SIGINT)
        #expect(long.wait(timeout: 30) == 128 + SIGINT)
        #expect(!FileManager.default.fileExists(atPath: "/dev/shm/ringbus.bench-\(pid)"), "the temporary bus was removed")
    }

    @Test("cleanup frees the slot of an anonymous consumer that was killed, and lists it")
    func cleanup() throws {
        let bus = CLIBus()
        #expect(try ringbus(["create", bus.name]).status == 0)
        let tail = try Peer.ringbus(["tail", bus.name, "--timeout", "60"])
        #expect(waitForConsumer(on: bus.name))
        tail.kill9()
        tail.wait()
        let dry = try ringbus(["cleanup", "--dry-run"])
        #expect(dry.stdout.contains("would free consumer slot") && dry.stdout.contains(bus.name), "\(dry.stdout) \(dry.stderr)")
        let done = try ringbus(["cleanup"])
        #expect(done.stdout.contains("freed consumer slot") && done.stdout.contains(bus.name), "\(done.stdout) \(done.stderr)")
        let again = try ringbus(["cleanup", "--dry-run"])
        #expect(!again.stdout.contains(bus.name + "'"), "nothing left to free on this bus")
    }
}

/// Waits until a consumer holds a slot of `bus` (a started tail is subscribed).
func waitForConsumer(on bus: String) -> Bool {
    let end = Date().addingTimeInterval(testDeadline)
    while Date() < end {
        if let s = try? BusSnapshot.take(bus: bus), s.consumers.contains(where: \.alive) { return true }
        usleep(2000)
    }
    return false
}

extension Peer {
    /// A running `ringbus` process (for commands that run until they end or are killed).
    static func ringbus(_ args: [String]) throws -> Peer { try Peer(args, executable: ringbusPath) }
}
