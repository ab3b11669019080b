// ringbus: operate, inspect and demonstrate a RingBus from the shell.

import ArgumentParser
import Foundation
import RingBus

@main
struct RingBusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ringbus",
        abstract: "Shared-memory publish/subscribe bus: operate, inspect and benchmark.",
        version: "ringbus \(RingBusVersion.string) (layout \(RingBusVersion.layout))",
        subcommands: [Create.self, List.self, Stat.self, Pub.self, Tail.self, Consumers.self, Remove.self, Cleanup.self,
                      Bench.self, BenchConsumer.self, Demo.self, DemoConsumer.self]
    )

    /// Errors as one line on standard error (`ringbus: …`), no usage block and no stack trace; usage
    /// errors exit 64, runtime errors 1 (a subcommand that already printed its line throws its status).
    static func main() async {
        // Arguments arrive as bytes; Swift would repair invalid UTF-8 to U+FFFD and publish to a topic
        // nobody named. Refuse it, naming the argument and the byte offset (issue 11 item 8).
        for i in 1..<Int(CommandLine.argc) {
            guard let arg = CommandLine.unsafeArgv[i] else { continue }
            let bytes = UnsafeRawBufferPointer(start: arg, count: strlen(arg))
            if let at = UTF8Validation.firstInvalidOffset(in: bytes) {
                FileHandle.standardError.write(Data("ringbus: argument \(i) is not valid UTF-8 (byte offset \(at))\n".utf8))
                Foundation.exit(ExitCode.validationFailure.rawValue)
            }
        }
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            // Output that could not be written (a full disk, /dev/full, a closed pipe) is a failure, not
            // a success: stdio reports it only when flushed.
            if fflush(nil) != 0 {
                let e = errno
                FileHandle.standardError.write(Data("ringbus: cannot write to standard output: \(String(cString: strerror(e)))\n".utf8))
                Foundation.exit(Exit.runtime)
            }
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) } // --help and --version print as usual
            let message = message(for: error).trimmingCharacters(in: .whitespacesAndNewlines)
            if !message.isEmpty {
                let text = message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message
                FileHandle.standardError.write(Data("ringbus: \(text.split(separator: "\n").first ?? "")\n".utf8))
            }
            Foundation.exit(code.rawValue)
        }
    }
}
