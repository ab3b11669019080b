// HandlerRetry.swift: what every backend does after a handler's first attempt failed (at-least-once
// and exactly-once): retry with backoff inside a total-time bound, then build a dead letter.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Retries `event` on `handler` after its first attempt threw `firstError`, with the policy's backoff,
/// marking the retries `redelivered`. When the attempts or the time run out, counts a failure and hands
/// the event and the last error to `deadLetter`, which returns whether it published the letter.
/// - Returns: true when a retry completed.
func retryFailedDelivery(_ event: Event, after firstError: any Error, to handler: any EventHandler,
                         policy retry: RetryPolicy, counters: SubscriptionCounters,
                         deadLetter: (Event, any Error) async -> Bool) async -> Bool
{
    await retryFailedBatch([event], after: firstError, policy: retry, counters: counters, deadLetter: deadLetter) {
        try await handler.handle($0[0])
    }
}

/// ``retryFailedDelivery(_:after:to:policy:counters:deadLetter:)`` for a batch: the whole batch is
/// retried (its events marked `redelivered`); when it keeps failing each event is counted and
/// dead-lettered with the last error.
func retryFailedBatch(_ events: [Event], after firstError: any Error, policy retry: RetryPolicy,
                      counters: SubscriptionCounters, deadLetter: (Event, any Error) async -> Bool,
                      attempt: ([Event]) async throws -> Void) async -> Bool
{
    let deadline = ContinuousClock.now + retry.maxTotalTime
    var backoff = retry.initialBackoff
    var attempts = 1
    var error = firstError
    var again = events
    for i in again.indices { again[i].redelivered = true }
    while attempts < retry.maxAttempts, ContinuousClock.now + backoff <= deadline {
        counters.retried.add(1, ordering: .relaxed)
        try? await Task.sleep(for: backoff)
        backoff = min(backoff * 2, retry.maxBackoff)
        attempts += 1
        do {
            try await attempt(again)
            return true
        } catch let next {
            error = next
        }
    }
    for e in again {
        counters.failed.add(1, ordering: .relaxed)
        if await deadLetter(e, error) { counters.deadLettered.add(1, ordering: .relaxed) }
    }
    return false
}

/// The dead letter of `event` (topic `<prefix>.<topic>`, payload naming the original and the error), or
/// `nil` when `event` is itself a dead letter (a dead letter is never dead-lettered again).
///
/// A letter must always be publishable, or the event it stands for would be lost with only a log line:
/// - when `<prefix>.<topic>` is not a topic one may publish (longer than 255 bytes; a topic that arrived
///   raw with a wildcard, a space or an empty part), the letter goes to `<prefix>.invalid-topic`, and
///   its `topic` member still names the original;
/// - when the letter would not fit in `maxPayloadBytes` (the bus's largest event), the payload is left
///   out and the first bytes that fit travel in `payload_prefix_base64`, with `body_length` the whole
///   length and `payload_truncated` true.
func deadLetter(for event: Event, error: any Error, prefix: String, maxPayloadBytes: Int? = nil) -> Event? {
    guard !event.topic.hasPrefix(prefix + ".") else { return nil }
    var letter: [String: JSONValue] = [
        "topic": .string(event.topic), "error": .string("\(error)"), "identity": .string(event.identity.description),
    ]
    if event.isJSON {
        letter["payload"] = event.payload
    } else { // raw bytes, or an envelope that failed validation: the bytes as they were, never parsed
        letter["content_type"] = .string(event.contentType ?? "")
        letter["payload_base64"] = .string(Data(event.payloadBytes).base64EncodedString())
        if let length = event.headers["body-length"].flatMap(Int64.init) { letter["body_length"] = .int(length) } // when cut short
    }
    var topic = prefix + "." + event.topic
    if Topic.problem(with: topic, allowWildcards: false) != nil { topic = prefix + ".invalid-topic" }
    if let limit = maxPayloadBytes, JSONValue.object(letter).encodedBytes().count > limit {
        let bytes = event.payloadBytes
        letter["payload"] = nil
        letter["payload_base64"] = nil
        letter["payload_truncated"] = true
        if letter["body_length"] == nil { letter["body_length"] = .int(Int64(bytes.count)) }
        // Then the texts, longest first, cut to what the limit leaves (an error's description can be
        // any length; a topic up to 255 bytes): the second outside attack lost letters to both.
        for member in ["error", "topic"] {
            let size = JSONValue.object(letter).encodedBytes().count
            guard size > limit - 64, case .string(let text)? = letter[member] else { continue }
            let keep = max(0, text.utf8.count - (size - (limit - 64)))
            letter[member] = .string(String(decoding: Array(text.utf8.prefix(keep)), as: UTF8.self))
            letter[member + "_truncated"] = true
        }
        // What is left of the limit, as base64 (4 characters per 3 bytes), with room for the names.
        let room = limit - JSONValue.object(letter).encodedBytes().count - 64
        letter["payload_prefix_base64"] = .string(Data(bytes.prefix(max(0, room / 4 * 3))).base64EncodedString())
    }
    return Event(topic: topic, payload: .object(letter))
}
