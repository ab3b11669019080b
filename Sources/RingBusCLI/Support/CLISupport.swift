// CLISupport.swift: what every `ringbus` subcommand shares: byte sizes with suffixes, one-line errors
// on standard error with distinct exit statuses, unbuffered output lines.

import ArgumentParser
import Foundation
import RingBus

/// Exit statuses: 0 success; 64 a usage error (ArgumentParser's, for bad arguments); 1 a runtime error
/// (the bus, the system, the input); 3 a pipe closed under a durable tail (nothing was committed).
enum Exit {
    static let runtime: Int32 = 1
    static let brokenPipe: Int32 = 3
    static let usage: Int32 = 64
}

/// Writes `text` to standard error with write(2). A standard error that cannot be written (a full
/// disk, a closed descriptor) loses the text but never the exit status: FileHandle's write trapped there.
func writeError(_ text: String) {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let n = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return }
        bytes = bytes.dropFirst(n)
    }
}

/// Prints `ringbus: <message>` on standard error and returns the runtime exit status to throw.
func failure(_ message: String) -> ExitCode {
    writeError("ringbus: \(message)\n")
    return ExitCode(Exit.runtime)
}

/// Prints `ringbus: <message>` on standard error and returns the usage exit status (64) to throw: for
/// bad input found after parsing (an invalid line of JSON on standard input).
func usageFailure(_ message: String) -> ExitCode {
    writeError("ringbus: \(message)\n")
    return ExitCode(Exit.usage)
}

/// Runs `body`, turning a thrown error into one clear line and the runtime exit status.
func reporting<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let e as ExitCode {
        throw e
    } catch let e as SegmentError {
        throw failure(e.description)
    } catch let e as EventBusError {
        throw failure(e.description)
    } catch {
        throw failure("\(error)")
    }
}

/// Writes `line` and a newline to standard output in one write(2); false when the write failed (EPIPE
/// when the reader went away).
@discardableResult
func writeLine(_ line: String) -> Bool { writeLineErrno(line) == 0 }

/// Like ``writeLine(_:)``, returning 0 or the errno of the failed write(2), read at once.
func writeLineErrno(_ line: String) -> Int32 {
    var bytes = Array(line.utf8)
    bytes.append(10)
    var offset = 0
    while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
        if n < 0 {
            let e = errno
            if e == EINTR { continue }
            return e
        }
        if n == 0 { return EIO }
        offset += n
    }
    return 0
}

/// Writes `line` to standard output (one write(2)); a failed write is a runtime error (exit 1), not a
/// silent success.
func writeOutput(_ line: String) throws {
    let e = writeLineErrno(line)
    guard e == 0 else { throw failure("cannot write to standard output: \(String(cString: strerror(e)))") }
}

/// A byte count written as a number with an optional suffix: B, KiB, MiB, GiB (powers of 1024) or
/// K, M, G, KB, MB, GB (also powers of 1024, as `ls -h` reads them).
struct ByteSize: ExpressibleByArgument, CustomStringConvertible {
    let bytes: Int

    init(bytes: Int) { self.bytes = bytes }

    init?(argument: String) {
        var text = Substring(argument.trimmingCharacters(in: .whitespaces))
        // A leading minus parses (as a negative size) so that the option's range check names the problem.
        let negative = text.hasPrefix("-")
        if negative { text = text.dropFirst() }
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        let suffix = text.dropFirst(digits.count).lowercased()
        guard var n = Int(digits) else { return nil }
        if negative { n = -n }
        let scale: Int
        switch suffix {
        case "", "b": scale = 1
        case "k", "kb", "kib": scale = 1 << 10
        case "m", "mb", "mib": scale = 1 << 20
        case "g", "gb", "gib": scale = 1 << 30
        default: return nil
        }
        let (v, overflow) = n.multipliedReportingOverflow(by: scale)
        guard !overflow else { return nil }
        bytes = v
    }

    var description: String {
        for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift)\(unit)"
        }
        return bytes == 1 ? "1 byte" : "\(bytes) bytes"
    }

    static var defaultCompletionKind: CompletionKind { .default }
}

/// A bus name argument, validated the way the library validates it.
func validateBusName(_ name: String) throws {
    let ok = !name.isEmpty && name.utf8.count <= 64 && name != "." && name != ".."
        && name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "_.-".unicodeScalars.contains($0)) }
    guard ok else { throw ValidationError("invalid bus name '\(name)': use 1-64 of A-Z a-z 0-9 _ . - (not . or ..)") }
}

/// A durable consumer name, validated the way the library validates it (the same rule as bus names).
func validateDurableName(_ name: String) throws {
    let ok = !name.isEmpty && name.utf8.count <= 64 && name != "." && name != ".."
        && name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "_.-".unicodeScalars.contains($0)) }
    guard ok else { throw ValidationError("invalid durable name '\(name)': use 1-64 of A-Z a-z 0-9 _ . - (not . or ..)") }
}

/// Checks a numeric option or argument against its documented range: `<name> must be <what>, got <v>`,
/// a usage error (exit 64). NaN and the infinities are outside every range, so a Double that passes
/// converts to an integer or a Duration without trapping.
func checkRange<T: Comparable>(_ name: String, _ value: T?, _ range: ClosedRange<T>, _ what: String) throws {
    guard let value else { return }
    guard range.contains(value) else { throw ValidationError("\(name) must be \(what), got \(value)") }
}

/// Encodes a JSONValue as one compact line.
func jsonLine(_ value: JSONValue) -> String { String(decoding: value.encodedBytes(), as: UTF8.self) }
