// FuzzEnvelope.swift: EventRecord.decode over arbitrary bodies. Oracles: it never traps; a body it
// accepts re-encodes to a body that decodes to an equal event (payload bytes, every field), and the
// payload of an accepted JSON body decodes without error at the first read.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEnvelope(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let body = UnsafeRawBufferPointer(start: data, count: size)
    let topic: [UInt8] = Array("fuzz.topic".utf8)
    let id = EventIdentity(incarnation: 1, stream: 0, sequence: 1)
    guard let event = topic.withUnsafeBytes({ try? EventRecord.decode(topic: $0, body: body, identity: id) }) else { return 0 }
    _ = event.payload // validated on arrival: decoding cannot fail (it would read .null)
    var replayed = event
    replayed.identity = .unassigned // a re-publish of the same event keeps its source identity
    guard let again = try? EventRecord.body(of: replayed) else { fatalError("an accepted event does not re-encode") }
    let decodedAgain = topic.withUnsafeBytes { t in again.withUnsafeBytes { try? EventRecord.decode(topic: t, body: $0, identity: id) } }
    guard let back = decodedAgain else { fatalError("a re-encoded body is refused") }
    guard back.payloadBytes == event.payloadBytes, back.contentType == event.contentType, back.origin == event.origin,
          back.headers == event.headers, back.idempotencyKey == event.idempotencyKey,
          back.sourceIdentity == event.sourceIdentity, back.payload == event.payload
    else { fatalError("the round trip changed the event") }
    // Nanoseconds travel through a Double (Date): equal to within its precision, or saturated alike at
    // the ends of the i64 range (about the years 1677 and 2262).
    let t0 = event.timestamp.timeIntervalSince1970, t1 = back.timestamp.timeIntervalSince1970
    guard abs(t0) >= 9.2e9 || abs(t1 - t0) <= max(1e-6, abs(t0) * 1e-15) else { fatalError("the timestamp moved: \(t0) -> \(t1)") }
    return 0
}
