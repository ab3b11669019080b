// Deadline.swift: waiting for work that may never end (a handler that never returns), for a while only.

import Synchronization

/// Runs `body` in a task of its own and waits for it at most `timeout`: true when it ended in time.
/// When it did not, it goes on in its task (nothing can stop an async function from outside) and this
/// returns false. Polls with a backoff from 20 µs to 1 ms: for close-time waits, not for hot paths.
func finishes(within timeout: Duration, _ body: @escaping @Sendable () async -> Void) async -> Bool {
    let done = DoneFlag()
    Task {
        await body()
        done.set()
    }
    let end = ContinuousClock.now + timeout
    var pause = Duration.microseconds(20)
    while !done.isSet {
        if ContinuousClock.now >= end { return false }
        try? await Task.sleep(for: pause)
        pause = min(pause * 2, .milliseconds(1))
    }
    return true
}

/// A flag set once by the task that finished and read by the waiter (release on set, acquire on read:
/// what the body did is visible to the waiter once it sees the flag).
private final class DoneFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .releasing) }
    var isSet: Bool { flag.load(ordering: .acquiring) }
}
