// Deadline.swift: waiting for work that may never end (a handler that never returns), for a while only.

/// Runs `body` in a task of its own and waits for it at most `timeout`: true when it ended in time.
/// When it did not, it goes on in its task (nothing can stop an async function from outside) and this
/// returns false. Polls with a backoff from 20 µs to 1 ms: for close-time waits, not for hot paths.
func finishes(within timeout: Duration, _ body: @escaping @Sendable () async -> Void) async -> Bool {
    let done = LockedState(false) // a lock ThreadSanitizer sees (the tests run this under it)
    Task {
        await body()
        done.withLock { $0 = true }
    }
    let end = ContinuousClock.now + timeout
    var pause = Duration.microseconds(20)
    while !done.withLock({ $0 }) {
        if ContinuousClock.now >= end { return false }
        try? await Task.sleep(for: pause)
        pause = min(pause * 2, .milliseconds(1))
    }
    return true
}
