// OwnedHandle.swift: the one owner of a C handle (producer, consumer, mapped bus) from the moment its C
// open or attach succeeded.
//
// Why: a throwing initialiser that acquires a C resource and then fails must release it exactly once.
// Swift runs a class's `deinit` when its initialiser throws after every stored property is set, so a
// face that both frees the handle on its failure path and in `deinit` frees it twice (issue 11 item 1:
// `ringbus pub` crashed with SIGSEGV when every stream was taken). The faces therefore never release a
// handle themselves: they hold an `OwnedHandle`, whose initialiser acquires or throws with nothing
// acquired, and whose `deinit` (or an explicit `release()`) is the only release.

import Synchronization

/// Storage for one C handle plus the function that releases it; released once, by `release()` or at
/// `deinit`, whichever comes first.
///
/// `@unchecked Sendable`: the pointer is immutable; `release()` is called by the owning face's `close()`
/// (faces are used by one thread) or by `deinit` (no other reference exists).
final class OwnedHandle<Handle>: @unchecked Sendable {
    /// The C handle; valid until released.
    let pointer: UnsafeMutablePointer<Handle>
    private var releaser: ((UnsafeMutablePointer<Handle>) -> Void)?

    /// Allocates storage for the handle and runs `acquire` on it. If `acquire` throws, the storage is
    /// freed and nothing is owned; otherwise `release` runs exactly once, later.
    init<E: Error>(acquire: (UnsafeMutablePointer<Handle>) throws(E) -> Void,
                   release: @escaping (UnsafeMutablePointer<Handle>) -> Void) throws(E) {
        let p = UnsafeMutablePointer<Handle>.allocate(capacity: 1)
        do {
            try acquire(p)
        } catch {
            p.deallocate()
            throw error
        }
        pointer = p
        releaser = release
    }

    /// Whether ``release()`` has not run yet.
    var isHeld: Bool { releaser != nil }

    /// Releases the C handle now (idempotent); the storage itself is freed at `deinit`.
    func release() {
        guard let r = releaser else { return }
        releaser = nil
        r(pointer)
    }

    deinit {
        release()
        pointer.deallocate()
    }
}

/// Points where a test makes an initialiser fail right after it acquired its C resources, to prove
/// that what was acquired is released exactly once (armed through `@testable import`; one-shot).
enum FaultPoint: String, Sendable, CaseIterable {
    case segmentAttached, streamWriterOpened, streamReaderOpened, snapshotAttached, subscriptionOpened,
         eventBusAttached
    /// A hook of a race window, run (not thrown) where the window is: see `FaultInjection.pause`.
    case subscriptionTaskStarted
}

enum FaultInjection {
    private static let armed = Mutex<[FaultPoint: @Sendable () -> Void]>([:])

    /// Makes the next ``fail(at:bus:)`` at `point` throw (or, for a pause point, runs `action` there once).
    static func arm(_ point: FaultPoint, action: @escaping @Sendable () -> Void = {}) {
        armed.withLock { $0[point] = action }
    }

    /// Throws an injected system error when a test armed `point`; otherwise nothing (one lock, cold paths only).
    static func fail(at point: FaultPoint, bus: String) throws(SegmentError) {
        guard armed.withLock({ $0.removeValue(forKey: point) }) != nil else { return }
        throw .system(bus: bus, SystemCallError(call: "injected fault at \(point.rawValue)", errno: 5 /* EIO */))
    }

    /// Runs the action a test armed at `point` (a window held open on purpose), once.
    static func pause(at point: FaultPoint) {
        armed.withLock { $0.removeValue(forKey: point) }?()
    }
}
