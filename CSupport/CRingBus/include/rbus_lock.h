/*
 * rbus_lock.h: a process-private mutex on one 32-bit word, for the Swift in-process bus.
 *
 * Drepper's "Futexes Are Tricky" mutex 2: 0 free, 1 locked, 2 locked with (possible) waiters. The
 * uncontended paths are one compare-exchange to lock and one exchange to unlock, inlined into the
 * Swift caller. Why not Swift's `Synchronization.Mutex`, which costs the same: its lock and unlock run
 * inside the uninstrumented Synchronization library, so ThreadSanitizer reports every access it
 * protects as a race; these atomics are compiled into the caller, so ThreadSanitizer sees them and CI
 * can check the lock-free queue beside the lock. Why not a pthread mutex: a call per lock and unlock
 * cost the bus a fifth of its throughput (measured, Docs/BENCHMARKS.md).
 */
#ifndef RBUS_LOCK_H
#define RBUS_LOCK_H

#include <stdatomic.h>
#include <stdint.h>

/* The contended halves: futex wait while the word is 2 / wake one waiter (private futexes). */
void rbus_lock_wait(uint32_t *word);
void rbus_lock_wake(uint32_t *word);

static inline void rbus_lock_acquire(uint32_t *word) {
    _Atomic uint32_t *w = (_Atomic uint32_t *)(void *)word;
    uint32_t c = 0;
    /* Acquire: pairs with the release exchange in rbus_lock_release of the previous holder. */
    if (atomic_compare_exchange_strong_explicit(w, &c, 1, memory_order_acquire, memory_order_relaxed)) return;
    if (c != 2) c = atomic_exchange_explicit(w, 2, memory_order_acquire);
    while (c != 0) {
        rbus_lock_wait(word);
        c = atomic_exchange_explicit(w, 2, memory_order_acquire);
    }
}

static inline void rbus_lock_release(uint32_t *word) {
    _Atomic uint32_t *w = (_Atomic uint32_t *)(void *)word;
    /* Release: publishes the critical section to the next acquirer. 2 means someone may sleep. */
    if (atomic_exchange_explicit(w, 0, memory_order_release) == 2) rbus_lock_wake(word);
}

#endif /* RBUS_LOCK_H */
