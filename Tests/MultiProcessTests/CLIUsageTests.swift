// CLIUsageTests.swift: the built `ringbus` binary's usage contract (issue 11): every numeric option in a
// documented range, refused outside it with one line and exit 64 (never a trap, an overflow or a busy
// loop), negative values named as such, usage errors that exit 64 as Docs/CLI.md says, and `bench`
// reporting what its consumers received and lost next to what it published.
// Uses the helpers of CLITests.swift: ringbus(_:input:timeout:), CLIBus, Peer.ringbus.

import Foundation
import RingBus
import Testing

/// One JSON object from a line of output.
private func jsonObject(_ text: String) -> [String: Any]? {
    (try? JSONSerialization.jsonObject(with: Data(text.trimmingCharacters(in: .whitespacesAndNewlines).utf8))) as? [String: Any]
}

/// Expects exit 64 and exactly one line, `ringbus: …` containing `says`, for each case.
private func expectUsageErrors(_ cases: [(args: [String], says: String)], input: String? = nil) throws {
    for c in cases {
        // Each returns at once when validated; a short deadline so a hang (a busy loop) fails quickly.
        let r = try ringbus(c.args, input: input, timeout: 15)
        #expect(r.status == 64, "ringbus \(c.args): status \(r.status) (132 = a trap), stderr \(r.stderr.prefix(300))")
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines.first?.hasPrefix("ringbus: ") == true && r.stderr.contains(c.says),
                "ringbus \(c.args): expected one line containing \(c.says.debugDescription), got \(r.stderr.prefix(300).debugDescription)")
    }
}

@Suite("ringbus usage: ranges, exit statuses, bench's delivered rate", .serialized)
struct CLIUsageTests {
    /// Item 4: numeric edges that trapped (exit 132 with a backtrace), overflowed or busy-looped, and every
    /// numeric option of every subcommand refused outside its documented range; the bounds themselves work.
    @Test("every numeric option has a range: outside it, one line and exit 64, never a trap or a busy loop")
    func numericRanges() throws {
        let bus = CLIBus()
        #expect(try ringbus(["create", bus.name, "--capacity", "64KiB"]).status == 0)
        let fresh = bus.name + "-x" // never created: every create below must be refused before touching /dev/shm
        defer { try? SharedSegment.remove(name: fresh) }
        let b = bus.name
        var cases: [(args: [String], says: String)] = []
        // pub: --rate 0.001...1e9 per second (1e-10 and 1e-300 overflowed Int64), --count 1...1e12.
        for v in ["1e-10", "1e-300", "0", "0.0009", "1000000001", "inf", "-inf", "nan", "1e400"] {
            cases.append((["pub", b, "t", "{}", "--rate", v], "--rate must be 0.001 to 1000000000 events per second"))
        }
        for v in ["0", "1000000000001"] { cases.append((["pub", b, "t", "{}", "--count", v], "--count must be 1 to 1000000000000")) }
        // stat: --watch 0.01...86400 s (inf, 1e300 and 1e16 overflowed Int; 1e-9 busy-looped).
        for v in ["inf", "1e300", "1e16", "86401", "1e-9", "0.009", "0", "nan"] {
            cases.append((["stat", b, "--watch", v], "--watch must be 0.01 to 86400 seconds"))
        }
        // tail: --timeout 0.001...1e7 s, --count >= 1.
        for v in ["0", "0.0009", "10000001", "1e300", "inf", "nan"] {
            cases.append((["tail", b, "--timeout", v], "--timeout must be 0.001 to 10000000 seconds"))
        }
        cases.append((["tail", b, "--count", "0"], "--count must be at least 1"))
        // create: --streams 1-64, --consumers 1-256, --capacity a power of two 4KiB-4GiB, --max-event-size
        // 64 bytes to capacity / 8 (these exited 1 from the library; they are usage errors).
        for v in ["0", "65"] { cases.append((["create", fresh, "--streams", v], "--streams must be 1 to 64")) }
        for v in ["0", "257"] { cases.append((["create", fresh, "--consumers", v], "--consumers must be 1 to 256")) }
        for v in ["1000", "2KiB", "0", "8GiB", "12KiB"] {
            cases.append((["create", fresh, "--capacity", v], "--capacity must be a power of two from 4KiB to 4GiB"))
        }
        for v in ["63", "16KiB"] {
            cases.append((["create", fresh, "--capacity", "64KiB", "--max-event-size", v], "--max-event-size must be 64 bytes to capacity / 8"))
        }
        // bench: --events 1...1e9, --size 8B...1MiB, --consumers 1...32, --rate 1...5e7.
        for v in ["0", "1000000001"] { cases.append((["bench", "--events", v], "--events must be 1 to 1000000000")) }
        for v in ["4", "0", "2MiB"] { cases.append((["bench", "--size", v], "--size must be 8 bytes to 1MiB")) }
        for v in ["0", "33"] { cases.append((["bench", "--mode", "fanout", "--consumers", v], "--consumers must be 1 to 32")) }
        for v in ["0.5", "1e-300", "50000001", "inf", "nan"] {
            cases.append((["bench", "--rate", v, "--events", "10"], "--rate must be 1 to 50000000 events per second"))
        }
        // demo: --events 1...1e9, --latency-events 1...1e7, --size 16...65536.
        cases.append((["demo", "--events", "0"], "--events must be 1 to 1000000000"))
        cases.append((["demo", "--latency-events", "10000001"], "--latency-events must be 1 to 10000000"))
        for v in ["15", "65537"] { cases.append((["demo", "--size", v], "--size must be 16 to 65536 bytes")) }
        // The hidden consumers `bench` and `demo` start: the same ranges, checked before they attach.
        cases.append((["bench-consumer", b, "throughput", "raw", "at-most-once", "spin", "0", "1"], "EVENTS must be 1 to 1000000000"))
        cases.append((["bench-consumer", b, "throughput", "raw", "at-most-once", "spin", "10", "1024"], "CPU must be 0 to 1023"))
        cases.append((["bench-consumer", b, "throughput", "raw", "at-most-once", "spin", "10", "1", "2"], "PACED must be 0 or 1"))
        cases.append((["bench-consumer", b, "sideways", "raw", "at-most-once", "spin", "10", "1"], "MODE must be"))
        cases.append((["demo-consumer", b, "0", "10", "64", "spin"], "EVENTS must be 1 to 1000000000"))
        cases.append((["demo-consumer", b, "10", "0", "64", "spin"], "LATENCY_EVENTS must be 1 to 10000000"))
        cases.append((["demo-consumer", b, "10", "10", "8", "spin"], "SIZE must be 16 to 65536 bytes"))
        try expectUsageErrors(cases)
        #expect(!FileManager.default.fileExists(atPath: "/dev/shm/ringbus.\(fresh)"), "no refused create left a file")

        // The bounds themselves are accepted and work (no overflow converting them).
        for args in [["pub", b, "t", "{}", "--rate", "0.001"], ["pub", b, "t", "{}", "--rate", "1e9", "--count", "3"],
                     ["tail", b, "--timeout", "0.001"], ["tail", b, "--timeout", "0.5", "--count", "1"]] {
            let r = try ringbus(args, timeout: 30)
            #expect(r.status == 0, "ringbus \(args): status \(r.status), stderr \(r.stderr.prefix(300))")
        }
        for args in [["--streams", "64", "--consumers", "256", "--capacity", "4KiB", "--max-event-size", "512"],
                     ["--streams", "1", "--consumers", "1", "--capacity", "4096", "--max-event-size", "64"]] {
            let r = try ringbus(["create", fresh] + args, timeout: 30)
            #expect(r.status == 0, "create \(args): status \(r.status), stderr \(r.stderr)")
            try? SharedSegment.remove(name: fresh)
        }
        // The smallest --watch prints a line every 10 ms: a bounded number of lines, not a busy loop.
        let watch = try Peer.ringbus(["stat", b, "--watch", "0.01"])
        #expect(watch.waitForLine(containing: "published"))
        usleep(500_000)
        watch.kill9()
        watch.wait()
        #expect(watch.outputLines.count <= 100, "at most about one line per 10 ms: \(watch.outputLines.count) lines in 0.5 s")
    }

    /// Item 11: usage errors exit 64 as Docs/CLI.md says, and name the right thing.
    @Test("usage errors exit 64 and name the problem: create ranges, JSON on stdin, a bad durable name, negative numbers")
    func usageExitStatuses() throws {
        let bus = CLIBus()
        #expect(try ringbus(["create", bus.name, "--capacity", "64KiB"]).status == 0)
        let b = bus.name, fresh = bus.name + "-x"
        defer { try? SharedSegment.remove(name: fresh) }
        // Exited 1 (the library refused them at run time).
        try expectUsageErrors([
            (["create", fresh, "--streams", "65"], "--streams must be 1 to 64, got 65"),
            (["create", fresh, "--capacity", "1000"], "--capacity must be a power of two from 4KiB to 4GiB, got 1000"),
        ])
        // Invalid JSON on standard input: a usage error (exited 1), naming the line.
        try expectUsageErrors([(["pub", b, "t", "-"], "line 1: invalid JSON")], input: "{\n")
        try expectUsageErrors([(["pub", b, "t", "-"], "line 2: invalid JSON")], input: "{\"ok\": 1}\nnot json\n")
        // A bad durable name is called that (it said "invalid bus name" about the durable name, exit 1).
        try expectUsageErrors([
            (["consumers", b, "rm", "a b"], "invalid durable name 'a b'"),
            (["consumers", b, "rm", ".."], "invalid durable name '..'"),
            (["tail", b, "--durable", "a/b"], "invalid durable name 'a/b'"),
        ])
        // Negative numbers are values, refused by their range (ArgumentParser took -1 for a flag and
        // said "Missing value"), for every numeric option.
        try expectUsageErrors([
            (["pub", b, "t", "{}", "--count", "-1"], "--count must be 1 to 1000000000000, got -1"),
            (["pub", b, "t", "{}", "--rate", "-1"], "--rate must be 0.001 to 1000000000 events per second"),
            (["stat", b, "--watch", "-1"], "--watch must be 0.01 to 86400 seconds"),
            (["tail", b, "--count", "-1"], "--count must be at least 1, got -1"),
            (["tail", b, "--timeout", "-1"], "--timeout must be 0.001 to 10000000 seconds"),
            (["create", fresh, "--streams", "-1"], "--streams must be 1 to 64, got -1"),
            (["create", fresh, "--consumers", "-1"], "--consumers must be 1 to 256, got -1"),
            (["create", fresh, "--capacity", "-1"], "--capacity must be a power of two from 4KiB to 4GiB, got -1"),
            (["create", fresh, "--max-event-size", "-1"], "--max-event-size must be 64 bytes to capacity / 8"),
            (["create", fresh, "--mode", "-1"], "--mode must be an octal file mode"),
            (["bench", "--events", "-1"], "--events must be 1 to 1000000000, got -1"),
            (["bench", "--size", "-1"], "--size must be 8 bytes to 1MiB, got -1"),
            (["bench", "--mode", "fanout", "--consumers", "-1"], "--consumers must be 1 to 32, got -1"),
            (["bench", "--rate", "-1"], "--rate must be 1 to 50000000 events per second"),
            (["demo", "--events", "-1"], "--events must be 1 to 1000000000, got -1"),
            (["demo", "--latency-events", "-1"], "--latency-events must be 1 to 10000000, got -1"),
            (["demo", "--size", "-1"], "--size must be 16 to 65536 bytes, got -1"),
            (["pub", b, "t", "{}", "--count=-2"], "--count must be 1 to 1000000000000, got -2"),
        ])
        // The hidden demo-consumer accepted negative counts (and reported "received 0 of -4").
        try expectUsageErrors([
            (["demo-consumer", b, "1", "--", "-5", "64", "spin"], "LATENCY_EVENTS must be 1 to 10000000, got -5"),
            (["demo-consumer", b, "--", "-5", "10", "64", "spin"], "EVENTS must be 1 to 1000000000, got -5"),
            (["bench-consumer", b, "throughput", "raw", "at-most-once", "spin", "--", "-1", "1"], "EVENTS must be 1 to 1000000000, got -1"),
        ])
        #expect(!FileManager.default.fileExists(atPath: "/dev/shm/ringbus.\(fresh)"), "nothing half-created")
        // The valid line before the invalid one was published (the stop is at the bad line).
        let stat = jsonObject(try ringbus(["stat", b, "--json"]).stdout) ?? [:]
        #expect(stat["published"] as? Int == 1, "\(stat)")
    }

    /// Item 12: `bench` reports the delivered rate first, then the published rate, and what was received
    /// and lost, in both forms; a gating consumer loses nothing, a lossy one's losses add up.
    @Test("bench reports delivered and published rates, received and lost, in JSON and in the human form")
    func benchDelivered() throws {
        let newKeys: Set<String> = ["delivered_per_sec", "published_per_sec", "received", "lost"]
        let oldKeys: Set<String> = ["mode", "events", "size", "consumers", "wait", "api", "guarantee", "events_per_sec",
                                    "mb_per_sec", "latency_ns"]
        let runs: [(args: [String], deliveries: Int, lossless: Bool)] = [
            (["--events", "20000", "--guarantee", "at-least-once"], 20000, true),
            (["--events", "20000"], 20000, false), // the default: at-most-once
            (["--events", "20000", "--size", "16KiB"], 20000, false), // lossy, likely to lose (counted)
            (["--mode", "fanout", "--consumers", "2", "--events", "5000"], 10000, false),
            (["--api", "event", "--events", "2000", "--wait", "block", "--guarantee", "at-least-once"], 2000, true),
            (["--mode", "pingpong", "--events", "300"], 300, true),
        ]
        for run in runs {
            let r = try ringbus(["bench", "--json"] + run.args, timeout: 120)
            #expect(r.status == 0, "bench \(run.args): \(r.stderr)")
            let o = jsonObject(r.stdout) ?? [:]
            #expect(Set(o.keys) == oldKeys.union(newKeys), "bench \(run.args): \(r.stdout)")
            let received = o["received"] as? Int ?? -1, lost = o["lost"] as? Int ?? -1
            let delivered = o["delivered_per_sec"] as? Double ?? -1, published = o["published_per_sec"] as? Double ?? -1
            #expect(received + lost == run.deliveries && received > 0, "bench \(run.args): received \(received), lost \(lost)")
            if run.lossless { #expect(lost == 0, "bench \(run.args): a gating consumer loses nothing") }
            #expect(delivered > 0 && published > 0, "bench \(run.args)")
            #expect(o["events_per_sec"] as? Double == delivered, "events_per_sec stays the delivered rate: \(r.stdout)")
            // Losing most of the events: delivered is below published (it was the only rate printed).
            if lost * 2 > run.deliveries { #expect(delivered < published, "bench \(run.args): \(r.stdout)") }
        }
        // The human form: the delivered rate first, then the published one, then received and lost.
        for args in [["--events", "20000", "--guarantee", "at-least-once"], ["--events", "20000"]] {
            let h = try ringbus(["bench"] + args, timeout: 120)
            #expect(h.status == 0, "\(h.stderr)")
            let lines = h.lines
            let d = lines.firstIndex { $0.hasPrefix("  delivered: ") && $0.contains("M events/s") }
            let p = lines.firstIndex { $0.hasPrefix("  published: ") && $0.contains("M events/s") }
            let l = lines.firstIndex { $0.hasPrefix("  received ") && $0.contains(" of 20000, lost ") }
            #expect(d != nil && p != nil && l != nil && d! < p! && p! < l!, "bench \(args): \(h.stdout)")
        }
    }

    /// Found while testing the above: a `bench` killed before its consumer's first event left that
    /// consumer process spinning for good. It now exits when its parent is gone.
    @Test("a bench consumer whose bench process died exits instead of waiting forever")
    func benchConsumerExitsWithItsParent() throws {
        let bus = CLIBus()
        #expect(try ringbus(["create", bus.name, "--capacity", "64KiB"]).status == 0)
        // The consumer as `bench` starts it, under a shell standing in for `bench`; nothing is published.
        let parent = try Peer(["-c", "'\(ringbusPath)' bench-consumer \(bus.name) throughput raw at-most-once adaptive 10 0 & wait"],
                              executable: "/bin/sh")
        #expect(parent.waitForLine(containing: "ready"))
        let children = childProcesses(of: parent.process.processIdentifier)
        #expect(children.count == 1, "the shell started one consumer: \(children)")
        parent.kill9()
        // Its own deadline, before waiting for the shell: Foundation sees the shell as running for as
        // long as a child it left holds an inherited descriptor.
        let end = Date().addingTimeInterval(15)
        while children.contains(where: isRunning) && Date() < end { usleep(10_000) }
        let left = children.filter(isRunning)
        #expect(left.isEmpty, "the consumer still runs after its parent died: \(left)")
        for c in left { kill(c, SIGKILL) }
        parent.wait()
    }
}

/// The processes whose parent is `pid` (from /proc/PID/stat).
private func childProcesses(of pid: pid_t) -> [pid_t] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { e -> pid_t? in
        guard let child = pid_t(e), let stat = try? String(contentsOfFile: "/proc/\(e)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ") // state, ppid, …
        return fields.count > 1 && pid_t(fields[1]) == pid ? child : nil
    }
}

/// True while `pid` runs (not gone, not a zombie waiting to be reaped).
private func isRunning(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else {
        return false
    }
    return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
}
