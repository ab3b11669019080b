// LayeringTests.swift: the layers of Docs/ARCHITECTURE.md, checked on the sources: only the thin faces,
// the event-record codec and a few named leaves call the C shim; the API layer and Core/ name no backend.

import Foundation
import Testing

private let sourcesRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Sources/RingBus")

/// Swift files under Sources/RingBus (path relative to it) with their code lines (comments dropped).
private func sources() throws -> [(path: String, code: [String])] {
    let files = FileManager.default.enumerator(atPath: sourcesRoot.path)?.compactMap { $0 as? String } ?? []
    return try files.filter { $0.hasSuffix(".swift") }.sorted().map { path in
        let text = try String(contentsOf: sourcesRoot.appendingPathComponent(path), encoding: .utf8)
        let code = text.split(separator: "\n").map { line -> String in
            let s = String(line)
            guard let r = s.range(of: "//") else { return s }
            return String(s[..<r.lowerBound])
        }
        return (path, code)
    }
}

@Suite("layers")
struct LayeringTests {
    /// Files that may call the C shim: the thin faces, the event-record codec, and the leaves.
    static let allowedCCallers: Set<String> = [
        "SharedMemory/StreamWriter.swift", "SharedMemory/StreamReader.swift", "SharedMemory/SharedSegment.swift",
        "SharedMemory/BusWaiter.swift", "SharedMemory/BusSnapshot.swift",
        "SharedMemory/EventRecord.swift", "SharedMemory/PreparedTopic.swift",
        "Support/LockedState.swift", "Support/CPUHints.swift", "Errors/RingBusError.swift", "RingBus.swift",
        "Event/JSONScan.swift",
    ]

    @Test("only the faces, the codec and the named leaves call rbus_* (Docs/ARCHITECTURE.md)")
    func onlyFacesCallC() throws {
        let files = try sources()
        #expect(files.count > 20, "the sources were found: \(sourcesRoot.path)")
        for (path, code) in files where !Self.allowedCCallers.contains(path) {
            let calls = code.filter { $0.contains("rbus_") || $0.contains("RBUS_") }
            #expect(calls.isEmpty, "\(path) calls the C shim: \(calls.prefix(3))")
        }
    }

    @Test("API/ and Core/ name no backend; InMemory/ and SharedMemory/ do not use each other")
    func backendsDependOnTheAPIOnly() throws {
        let backends = ["InMemory/": "InMemoryEventBus", "SharedMemory/": "SharedMemoryEventBus"]
        for (path, code) in try sources() {
            let text = code.joined(separator: "\n")
            if path.hasPrefix("API/") || path.hasPrefix("Core/") || path.hasPrefix("Event/") {
                for type in ["InMemoryEventBus", "SharedMemoryEventBus", "SharedSegment", "StreamReader", "StreamWriter"] {
                    #expect(!text.contains(type), "\(path) names the backend type \(type)")
                }
            }
            for (folder, type) in backends where path.hasPrefix(folder) {
                let other = backends.filter { $0.key != folder }.values
                for o in other { #expect(!text.contains(o), "\(path) (\(type)'s backend) names \(o)") }
            }
        }
    }
    @Test("the publish path's async functions run on the caller's executor (no hop per publish)")
    func publishPathDoesNotHop() throws {
        // A plain `async` function runs on the global executor: called from publish (nonisolated(nonsending)),
        // it cost two executor switches per event from the main actor or an actor (issue 12's A/B pairs).
        let publisher = try #require(try sources().first { $0.path == "SharedMemory/SharedPublisher.swift" })
        let asyncFuncs = publisher.code.filter { $0.contains("func ") && $0.contains(" async") }
        #expect(asyncFuncs.count >= 2)
        for f in asyncFuncs { #expect(f.contains("nonisolated(nonsending)"), "hops to the global executor: \(f)") }
    }
}
