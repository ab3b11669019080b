// DocExamplesTests.swift: the original design's examples, as Docs/API.md gives them in Swift ("The
// original's examples, in Swift": publishing, a handler, subscribing, topics), compile unchanged against
// the library as built (issue 13: "the seed's examples in Docs/API.md still compile unchanged"). The
// blocks are taken from the document itself, so editing the document or the API in a way that breaks
// them fails here. Type-checked with the toolchain's swiftc against this build's modules.

import Foundation
import Testing

private let sourceRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The ```swift blocks of the section `title` of Docs/API.md (up to the next `## ` heading).
func swiftBlocks(ofSection title: String) throws -> [String] {
    let doc = try String(contentsOf: sourceRoot.appendingPathComponent("Docs/API.md"), encoding: .utf8)
    guard let start = doc.range(of: "## " + title) else { return [] }
    let rest = doc[start.upperBound...]
    let section = rest.range(of: "\n## ").map { rest[..<$0.lowerBound] } ?? rest
    return section.components(separatedBy: "```swift\n").dropFirst().map { String($0.components(separatedBy: "```")[0]) }
}

@Suite("documentation examples")
struct DocExamplesTests {
    @Test("the original's examples in Docs/API.md (publish, handler, subscribe, topics) compile unchanged")
    func seedExamplesCompile() throws {
        let blocks = try swiftBlocks(ofSection: "The original's examples, in Swift")
        #expect(blocks.count >= 4, "the section and its four examples were found")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("seed-examples-\(getpid()).swift")
        defer { try? FileManager.default.removeItem(at: file) }
        try blocks.prefix(4).joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        let products = URL(fileURLWithPath: peerPath).deletingLastPathComponent()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["swiftc", "-typecheck", "-I", products.appendingPathComponent("Modules").path,
                       "-I", sourceRoot.appendingPathComponent("CSupport/CRingBus/include").path, file.path]
        let err = Pipe()
        p.standardError = err
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(text)")
    }
}
