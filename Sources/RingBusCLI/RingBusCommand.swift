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
                writeError("ringbus: argument \(i) is not valid UTF-8 (byte offset \(at))\n")
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
                writeError("ringbus: cannot write to standard output: \(String(cString: strerror(e)))\n")
                Foundation.exit(Exit.runtime)
            }
        } catch {
            let code = exitCode(for: error)
            if code == .success { // --help and --version: their text to standard output, checked
                let e = writeLineErrno(fullMessage(for: error).trimmingCharacters(in: .newlines))
                if e != 0 {
                    writeError("ringbus: cannot write to standard output: \(String(cString: strerror(e)))\n")
                    Foundation.exit(Exit.runtime)
                }
                Foundation.exit(0)
            }
            let message = message(for: error).trimmingCharacters(in: .whitespacesAndNewlines)
            if !message.isEmpty {
                let text = message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message
                writeError("ringbus: \(text.split(separator: "\n").first ?? "")\n")
            }
            Foundation.exit(code.rawValue)
        }
    }
}
