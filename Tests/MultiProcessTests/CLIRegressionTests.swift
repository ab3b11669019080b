// CLIRegressionTests.swift: what outside users tripped over in the `ringbus` command (issue 11), each
// against the built binary: a refused stream open (was SIGSEGV), cleanup that must never touch a live
// bus, a directory, a link or another user's file, a non-owner's refused rm, tail's idle timeout with
// events landing in its check window, rm --force of an unusable segment, invalid UTF-8 in arguments and
// standard input, a new durable tail from the earliest event, and duplicates of an idempotency key.

import Foundation
import RingBus
import Testing

/// Runs `script` with bash (so arguments can carry bytes that are not UTF-8), `$RB` naming the binary.
func shell(_ script: String, environment: [String: String] = [:], timeout: TimeInterval = testDeadline) throws -> CLIRun {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/bash")
    p.arguments = ["-c", script]
    p.environment = ProcessInfo.processInfo.environment.merging(["RB": ringbusPath]) { $1 }.merging(environment) { $1 }
    return try runToEnd(p, timeout: timeout, what: "bash -c '\(script)'")
}

func exists(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0
}

@Suite("ringbus: outside users' regressions", .serialized)
struct CLIRegressionTests {
    @Test("pub when every stream is taken: a one-line error and exit 1, not SIGSEGV (item 1)")
    func pubWithoutFreeStream() throws {
        let bus = CLIBus()
        #expect(try ringbus(["create", bus.name, "--streams", "1"]).status == 0)
        // The first pub holds the only stream while it waits for more standard input.
        let r = try shell("""
            { echo 1; sleep 3; } | $RB pub \(bus.name) t - 2>/dev/null &
            sleep 1
            for i in 1 2 3; do $RB pub \(bus.name) t 1; echo "exit $?"; done
            wait
            """)
        #expect(r.stdout == "exit 1\nexit 1\nexit 1\n", "\(r.stdout) \(r.stderr)")
        #expect(r.stderr.split(separator: "\n").allSatisfy { $0.hasPrefix("ringbus: ") && $0.contains("no free stream") },
                "\(r.stderr)")
    }

    @Test("cleanup never removes a live bus, a directory, a link, another user's or a locked temporary; it removes an abandoned one (item 2)")
    func cleanupTouchesOnlyAbandonedTemporaries() throws {
        let tag = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        // A live bus whose name looks like the old temporary pattern.
        let live = "a.tmp.\(tag).999999"
        #expect(try ringbus(["create", live]).status == 0)
        defer { try? SharedSegment.remove(name: live) }
        let tail = try Peer.ringbus(["tail", live])
        defer { tail.kill9(); tail.wait() }
        #expect(waitForConsumer(on: live))
        // Temporaries in the real pattern: abandoned (unlocked), held by a live creator, a directory, a
        // link, another user's file.
        let shm = "/dev/shm/.ringbus-tmp."
        let abandoned = shm + "gone\(tag).4242.00000000deadbeef"
        let held = shm + "held\(tag).4243.00000000deadbeef"
        let dir = shm + "dir\(tag).4244.00000000deadbeef"
        let link = shm + "link\(tag).4245.00000000deadbeef"
        let others = shm + "nobody\(tag).4246.00000000deadbeef"
        let target = "/tmp/ringbus-cleanup-target-\(tag)"
        defer { for p in [abandoned, held, link, others, target] { unlink(p) }; rmdir(dir) }
        for p in [abandoned, held, others, target] { #expect(FileManager.default.createFile(atPath: p, contents: Data([1]))) }
        #expect(mkdir(dir, 0o755) == 0)
        #expect(symlink(target, link) == 0)
        #expect(chown(others, 65534, 65534) == 0 && chown(dir, 65534, 65534) == 0)
        // A creator that holds its lock: a python child locks the creator byte (RBUS_LOCK_CREATOR =
        // 2^40 - 2) with an OFD lock, then is killed with SIGKILL below.
        let locker = Process()
        locker.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        locker.arguments = ["python3", "-c", """
            import fcntl, os, struct, sys, time
            fd = os.open(sys.argv[1], os.O_RDWR)
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack('hhqqi4x', fcntl.F_WRLCK, 0, (1 << 40) - 2, 1, 0))
            print('locked', flush=True)
            time.sleep(120)
            """, held]
        let lockerOut = Pipe()
        locker.standardOutput = lockerOut
        try locker.run()
        defer { kill(locker.processIdentifier, SIGKILL); locker.waitUntilExit() }
        #expect(String(decoding: lockerOut.fileHandleForReading.availableData, as: UTF8.self).contains("locked"))

        // The default grace keeps even the abandoned one (it is seconds old).
        let young = try ringbus(["cleanup", "--dry-run"])
        #expect(young.status == 0 && young.stdout.contains("kept \(abandoned)"), "\(young.stdout)")

        let r = try ringbus(["cleanup", "--grace", "0"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("removed half-built segment \(abandoned)"), "\(r.stdout)")
        #expect(!exists(abandoned))
        #expect(r.stdout.contains("kept \(held): a create is in progress"))
        for p in [held, dir, link, others, target, "/dev/shm/ringbus.\(live)"] { #expect(exists(p), "cleanup removed \(p)") }
        #expect(!r.stdout.contains(live), "a live bus was listed: \(r.stdout)")
        #expect(tail.process.isRunning)

        // The creator dies (kill -9): its lock is gone, and the next cleanup removes its temporary.
        kill(locker.processIdentifier, SIGKILL)
        locker.waitUntilExit()
        let after = try ringbus(["cleanup", "--grace", "0"])
        #expect(after.stdout.contains("removed half-built segment \(held)"), "\(after.stdout)")
        #expect(!exists(held))
        for p in [dir, link, others, target] { #expect(exists(p), "cleanup removed \(p)") }
        // Asked explicitly, another user's abandoned file goes too; a directory never does.
        let any = try ringbus(["cleanup", "--grace", "0", "--any-owner"])
        #expect(!exists(others) && exists(dir) && exists(target), "\(any.stdout)")
    }

    @Test("a non-owner's refused rm leaves the bus whole for its owner (item 3)")
    func refusedRemoveKeepsTheBus() throws {
        let bus = CLIBus()
        #expect(try ringbus(["create", bus.name, "--mode", "666"]).status == 0)
        let r = try ringbus(["rm", bus.name], runAs: "nobody")
        #expect(r.status == 1 && r.stderr.contains("permission denied"), "\(r.status) \(r.stderr)")
        #expect(try ringbus(["stat", bus.name]).status == 0)
        #expect(try ringbus(["pub", bus.name, "t", "1"]).status == 0)
        #expect(try ringbus(["rm", bus.name]).status == 0)
    }

    @Test("tail --timeout with events landing between its clock read and its check: no trap (item 5)")
    func tailTimeoutUnderLoad() throws {
        let bus = CLIBus()
        #expect(try ringbus(["create", bus.name]).status == 0)
        // The hook makes the idle check sleep 200 ms between reading the clock and reading the count, so
        // events published meanwhile are handled inside that window every time.
        let r = try shell("""
            $RB tail \(bus.name) --timeout 1 > /dev/null & t=$!
            sleep 0.5
            for i in 1 2 3 4 5 6; do $RB pub \(bus.name) t 1 --count 2000 2>/dev/null; sleep 0.1; done
            wait $t; echo "tail exit $?"
            """, environment: ["RINGBUS_TEST_TAIL_PROBE_DELAY_MS": "200"])
        #expect(r.stdout.contains("tail exit 0"), "\(r.stdout) \(r.stderr)")
        #expect(!r.stderr.contains("Fatal error"), "\(r.stderr)")
    }

    @Test("rm --force removes a corrupt segment and says what it was; cleanup lists it (item 6)")
    func removeUnusableSegment() throws {
        let bus = CLIBus()
        #expect(try ringbus(["create", bus.name]).status == 0)
        let path = "/dev/shm/ringbus.\(bus.name)"
        let fd = open(path, O_WRONLY)
        #expect(fd >= 0)
        _ = "XXXXXXXX".withCString { write(fd, $0, 8) } // the magic
        close(fd)
        let plain = try ringbus(["rm", bus.name])
        #expect(plain.status == 1 && plain.stderr.contains("--force"), "\(plain.stderr)")
        let listed = try ringbus(["cleanup", "--dry-run"])
        #expect(listed.stdout.contains("unusable segment \(path)"), "\(listed.stdout)")
        // Not the caller's: refused even with --force.
        #expect(chown(path, 65534, 65534) == 0)
        let foreign = try ringbus(["rm", "--force", bus.name])
        #expect(foreign.status == 1 && exists(path), "\(foreign.stderr)")
        #expect(chown(path, 0, 0) == 0)
        let forced = try ringbus(["rm", "--force", bus.name])
        #expect(forced.status == 0 && forced.stdout.contains("bad magic"), "\(forced.stdout) \(forced.stderr)")
        #expect(!exists(path))
    }

    @Test("invalid UTF-8 in a topic, a JSON argument or a standard input line: exit 64 naming the offset (item 8)")
    func invalidUTF8() throws {
        let bus = CLIBus()
        #expect(try ringbus(["create", bus.name]).status == 0)
        let topic = try shell("$RB pub \(bus.name) $'a\\xffb' 1")
        #expect(topic.status == 64 && topic.stderr.contains("byte offset 1"), "\(topic.status) \(topic.stderr)")
        let overlong = try shell("$RB pub \(bus.name) t $'\"\\xc0\\xaf\"'")
        #expect(overlong.status == 64 && overlong.stderr.contains("byte offset 1"), "\(overlong.stderr)")
        let surrogate = try shell("$RB tail \(bus.name) $'a.\\xed\\xa0\\x80' --count 1")
        #expect(surrogate.status == 64 && surrogate.stderr.contains("byte offset 2"), "\(surrogate.stderr)")
        let line = try shell("printf '1\\n\"a\\xed\\xa0\\x80\"\\n' | $RB pub \(bus.name) t -")
        #expect(line.status == 64 && line.stderr.contains("line 2") && line.stderr.contains("byte 2"), "\(line.stderr)")
        #expect(try BusSnapshot.take(bus: bus.name).published == 1) // line 1 only
    }

    @Test("tail --durable NEW --from earliest prints what the rings hold, then resumes (item 9)")
    func durableTailFromEarliest() throws {
        let bus = CLIBus()
        #expect(try ringbus(["create", bus.name]).status == 0)
        #expect(try ringbus(["pub", bus.name, "t", "7", "--count", "3"]).status == 0)
        let first = try ringbus(["tail", bus.name, "--durable", "new", "--from", "earliest", "--count", "3"])
        #expect(first.status == 0 && first.lines.count == 3, "\(first.stdout)")
        #expect(try ringbus(["pub", bus.name, "t", "8"]).status == 0)
        let again = try ringbus(["tail", bus.name, "--durable", "new", "--from", "earliest", "--count", "1"])
        #expect(again.lines.count == 1 && again.stdout.contains(" 8"), "resumed, not from the start: \(again.stdout)")
    }

    @Test("pub --count 3 --key K says 1 committed and 2 duplicates (item 10)")
    func duplicateKeysReported() throws {
        let bus = CLIBus()
        #expect(try ringbus(["create", bus.name]).status == 0)
        let r = try ringbus(["pub", bus.name, "t", "1", "--count", "3", "--key", "K"])
        #expect(r.status == 0 && r.stderr.contains("1 committed, 2 were duplicates of key K"), "\(r.stderr)")
        let again = try ringbus(["pub", bus.name, "t", "1", "--key", "K"]) // a later process: still a duplicate
        #expect(again.stderr.contains("0 committed, 1 was a duplicate of key K"), "\(again.stderr)")
        #expect(try BusSnapshot.take(bus: bus.name).published == 1)
    }
}
