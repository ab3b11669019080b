// CLIHardeningTests.swift: what an outside tester found in the first fixes of issue 11, each against
// the built binary: a FIFO under a bus name (hung ls, stat, rm), a cleanup that stopped at the first
// file it may not remove, a durable tail evicted in silence, quadratic reading of long lines, modes the
// owner cannot use, advice to run a command that cannot work, ranges, keys, and unwritable output.

import Foundation
import RingBus
import Testing

@Suite("ringbus: hardening after the outside test", .serialized)
struct CLIHardeningTests {
    @Test("a FIFO named like a bus: ls, stat, rm and rm --force answer at once; nothing is removed")
    func fifoUnderABusName() throws {
        let name = "fifo-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let path = "/dev/shm/ringbus.\(name)"
        #expect(mkfifo(path, 0o666) == 0)
        defer { unlink(path) }
        let ls = try ringbus(["ls", "--json"], timeout: 20)
        #expect(ls.status == 0 && ls.stdout.contains(name) && ls.stdout.contains("not a regular file"), "\(ls.stdout)")
        for args in [["stat", name], ["rm", name], ["rm", "--force", name]] {
            let r = try ringbus(args, timeout: 20)
            #expect(r.status == 1 && r.stderr.contains("not a regular file") && !r.stderr.contains("--force"),
                    "\(args): \(r.status) \(r.stderr)")
        }
        #expect(exists(path))
    }

    @Test("cleanup --any-owner by a user who may not remove some files says so per file and goes on")
    func cleanupGoesOnAfterRefusal() throws {
        let tag = "\(getpid())x\(UInt32.random(in: 0...UInt32.max))"
        let shm = "/dev/shm/.ringbus-tmp."
        let roots = shm + "root\(tag).4242.00000000deadbeef"      // root's: nobody may not remove it
        let nobodys = shm + "nobody\(tag).4243.00000000deadbeef"  // nobody's own
        let odd = [shm + "odd\(tag)", shm + "odd\(tag).1.xyz"]     // not the temporaries' form
        defer { for p in [roots, nobodys] + odd { unlink(p) } }
        for p in [roots, nobodys] + odd { #expect(FileManager.default.createFile(atPath: p, contents: Data([1]))) }
        #expect(chown(nobodys, 65534, 65534) == 0)
        let dry = try ringbus(["cleanup", "--grace", "0", "--any-owner", "--dry-run"], runAs: "nobody")
        #expect(dry.stdout.contains("kept \(roots): its creator died, but only root or its owner may remove it"), "\(dry.stdout)")
        let r = try ringbus(["cleanup", "--grace", "0", "--any-owner"], runAs: "nobody")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("removed half-built segment \(nobodys)"), "\(r.stdout)")
        #expect(!exists(nobodys) && exists(roots))
        let asRoot = try ringbus(["cleanup", "--grace", "0"])
        #expect(asRoot.stdout.contains("removed half-built segment \(roots)") && !exists(roots))
        for p in odd { #expect(exists(p), "cleanup removed \(p), which is not a temporary's name") }
    }

    @Test("a durable tail back after the eviction grace says what it lost")
    func evictedDurableTailSaysSo() throws {
        let bus = CLIBus()
        #expect(try ringbus(["create", bus.name, "--capacity", "4KiB", "--streams", "1", "--eviction-grace", "0.5"]).status == 0)
        let tail = try Peer.ringbus(["tail", bus.name, "--durable", "late"])
        #expect(waitForConsumer(on: bus.name))
        tail.kill9()
        tail.wait()
        #expect(try ringbus(["pub", bus.name, "p", "1", "--count", "300"]).status == 0) // waits out the grace
        let back = try ringbus(["tail", bus.name, "--durable", "late", "--timeout", "1"])
        #expect(back.status == 0)
        #expect(back.stderr.contains("events went by while durable consumer 'late' was away longer than the bus's eviction grace"),
                "\(back.stderr)")
    }

    @Test("pub - reads a 4 MB line in linear time and refuses it, saying what it published first")
    func longLinesAreLinear() throws {
        let bus = CLIBus()
        #expect(try ringbus(["create", bus.name]).status == 0)
        let r = try shell("{ echo 1; head -c 4000000 /dev/zero | tr '\\0' 1; echo; echo 2; } | $RB pub \(bus.name) t -",
                          timeout: 20)
        #expect(r.status == 1 && r.stderr.contains("line 2 is longer than"), "\(r.stderr)")
        #expect(r.stderr == "ringbus: line 2 is longer than 1048576 bytes: no event of bus '\(bus.name)' (largest payload 65536 bytes) can hold it (published 1 event to \(bus.name) t before this)\n", "\(r.stderr)")
    }

    @Test("options: modes the owner cannot use, --grace -1, empty and long keys are usage errors; a huge bus fails fast")
    func optionEdges() throws {
        let bus = CLIBus()
        for (args, text) in [(["create", bus.name, "--mode", "0"], "--mode"), (["create", bus.name, "--mode", "200"], "--mode"),
                             (["create", bus.name, "--mode", "4755"], "--mode"), (["cleanup", "--grace", "-1"], "--grace"),
                             (["create", bus.name, "--eviction-grace", "0"], "--eviction-grace")] {
            let r = try ringbus(args)
            #expect(r.status == 64 && r.stderr.contains(text), "\(args): \(r.status) \(r.stderr)")
        }
        #expect(try ringbus(["create", bus.name]).status == 0)
        for key in ["", String(repeating: "k", count: 2000)] {
            let r = try ringbus(["pub", bus.name, "t", "1", "--key", key])
            #expect(r.status == 64 && r.stderr.contains("--key must be 1 to 1024 bytes"), "\(r.stderr)")
        }
        let huge = "huge-\(getpid())"
        let r = try ringbus(["create", huge, "--capacity", "4GiB", "--streams", "64"], timeout: 20)
        #expect(r.status == 1 && r.stderr.contains("no space"), "\(r.stderr)")
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm"))?.filter { $0.contains(huge) } ?? []
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test("advice: rm --force is suggested only where it would work")
    func adviceThatWorks() throws {
        let bus = CLIBus()
        #expect(try ringbus(["create", bus.name]).status == 0)
        let path = "/dev/shm/ringbus.\(bus.name)"
        #expect(truncate(path, 100) == 0) // corrupt: smaller than a header
        #expect(try ringbus(["rm", bus.name]).stderr.contains("rm --force"))
        #expect(chown(path, 65534, 65534) == 0)
        let foreign = try ringbus(["rm", bus.name])
        #expect(foreign.status == 1 && !foreign.stderr.contains("rm --force") && foreign.stderr.contains("another user's"),
                "\(foreign.stderr)")
        unlink(path)
    }

    @Test("output that cannot be written is a failure (exit 1), not a success")
    func unwritableOutput() throws {
        let bus = CLIBus()
        #expect(try ringbus(["create", bus.name]).status == 0)
        for cmd in ["ls", "ls --json", "stat \(bus.name)", "stat \(bus.name) --json"] {
            let r = try shell("$RB \(cmd) > /dev/full")
            #expect(r.status == 1 && r.stderr.contains("cannot write to standard output"), "\(cmd): \(r.status) \(r.stderr)")
        }
    }

    @Test("an unwritable standard error loses the text, never the exit status (it trapped with 132)")
    func unwritableStandardError() throws {
        let bus = CLIBus()
        #expect(try ringbus(["create", bus.name]).status == 0)
        for (cmd, status) in [("pub \(bus.name) t 1", Int32(0)), ("stat no-such-bus-\(getpid())", 1), ("bogus", 64),
                              ("create \(bus.name)", 1)] {
            #expect(try shell("$RB \(cmd) 2>/dev/full").status == status, "\(cmd)")
            #expect(try shell("$RB \(cmd) 2>&-").status == status, "\(cmd) with standard error closed")
        }
    }

    @Test("unwritable output: stat --watch stops, create leaves nothing, --version fails")
    func unwritableOutputEverywhere() throws {
        let bus = CLIBus()
        #expect(try ringbus(["create", bus.name]).status == 0)
        let watch = try shell("$RB stat \(bus.name) --watch 0.1 > /dev/full", timeout: 10)
        #expect(watch.status == 1 && watch.stderr.contains("cannot write to standard output"), "\(watch.stderr)")
        let other = "wo-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let create = try shell("$RB create \(other) > /dev/full")
        #expect(create.status == 1 && !exists("/dev/shm/ringbus.\(other)"), "a failed create left its bus")
        #expect(try shell("$RB --version > /dev/full").status == 1)
    }

    @Test("pub - names the line whose event is too large for the bus")
    func tooLargeLineNamed() throws {
        let bus = CLIBus()
        #expect(try ringbus(["create", bus.name, "--capacity", "4KiB"]).status == 0)
        let big = "\"" + String(repeating: "x", count: 600) + "\""
        let r = try ringbus(["pub", bus.name, "t", "-"], input: "1\n\(big)\n3\n")
        #expect(r.status == 1 && r.stderr.hasPrefix("ringbus: line 2: ") && r.stderr.contains("published 1 event"), "\(r.stderr)")
    }

    @Test("a directory or a symbolic link under a bus name is named as not a bus, by every command")
    func directoriesAndLinks() throws {
        let tag = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let dir = "dir-\(tag)", link = "lnk-\(tag)"
        #expect(mkdir("/dev/shm/ringbus.\(dir)", 0o755) == 0)
        #expect(symlink("/dev/zero", "/dev/shm/ringbus.\(link)") == 0)
        defer { rmdir("/dev/shm/ringbus.\(dir)"); unlink("/dev/shm/ringbus.\(link)") }
        for name in [dir, link] {
            for args in [["pub", name, "t", "1"], ["tail", name, "--count", "1"], ["stat", name], ["rm", name]] {
                let r = try ringbus(args, timeout: 20)
                #expect(r.status == 1 && r.stderr.contains("not a regular file"), "\(args): \(r.stderr)")
            }
        }
        #expect(exists("/dev/shm/ringbus.\(dir)") && exists("/dev/shm/ringbus.\(link)") && exists("/dev/zero"))
    }
}
