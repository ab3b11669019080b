/*
 * rbus_wait.h: waiting without costing the publisher anything while nobody sleeps (rule W).
 *
 * Bus header: `sleepers` (one bit per consumer slot) and a 32-bit `doorbell` futex word.
 *   W1 waiter: fetch_or(sleepers, bit) (seq_cst: a full barrier before W3's loads)
 *   W2 v = load_acquire(doorbell)        (pairs with the producer's release increment in P3)
 *   W3 re-read every tail it consumes (seq_cst); if one has data past the cursor: fetch_and(~bit), return
 *   W4 futex_wait(&doorbell, v, timeout) (shared futex: the word lives in MAP_SHARED memory)
 *   W5 fetch_and(~bit)
 *   P1 producer: store_release(tail)     P2 fence(seq_cst)
 *   P3 if load(sleepers) != 0 && exchange(sleepers, 0) != 0: fetch_add(doorbell, 1, release); futex_wake
 * W1/W3 against P1/P2/P3 is Dekker's pattern: either W3 sees the new tail or P3 sees the bit, so no
 * wakeup is lost; and P3's exchange makes it one wake syscall per sleep episode, none while nobody
 * sleeps. A dead waiter's stale bit costs one spurious wake and is then cleared by the exchange.
 *
 * The producer's ring-full wait swaps the roles: it sets its stream's space_waiter flag, fences,
 * re-checks the gate (rescan), then sleeps on space_doorbell; gating consumers fence after committing
 * their cursor and wake it (rbus_consumer_commit).
 *
 * Adaptive waiting spins only while fewer than (online CPUs - 1) participants spin (their `spinning`
 * words in their slots and stream headers), then yields, then sleeps: on 2 vCPUs two spinning waiters
 * beside a busy producer would livelock the machine.
 */
#ifndef RBUS_WAIT_H
#define RBUS_WAIT_H

#include <stdint.h>

#include "rbus_ring.h"

typedef enum rbus_wait_strategy {
    RBUS_WAIT_SPIN = 1,      /* busy-poll until data or deadline (a CPU per waiter) */
    RBUS_WAIT_ADAPTIVE = 2,  /* spin for spin_ns if the spin budget allows, yield, then sleep */
    RBUS_WAIT_BLOCK = 3,     /* sleep at once */
} rbus_wait_strategy;

/* The safety timeout of one futex sleep: a lost wakeup would end here (and be counted). */
enum { RBUS_WAIT_SAFETY_MS = 1000 };

/* ---- the individual steps, for tests that force interleavings -------------------------------- */
/* W1 + W2: registers this consumer as a sleeper; returns the doorbell value to sleep on. */
uint32_t rbus_wait_register(rbus_consumer *c);
/* W3: 1 if any stream has data past the cursor (seq_cst loads of every tail). */
int rbus_wait_has_data(rbus_consumer *c);
/* W4: futex_wait on the doorbell while it equals `v`; 0 woken, or -ETIMEDOUT / -EAGAIN / -EINTR. */
int rbus_wait_sleep(rbus_consumer *c, uint32_t v, int64_t timeout_ns);
/* W5: clears this consumer's sleeper bit. */
void rbus_wait_unregister(rbus_consumer *c);

/*
 * Waits until some stream has data past the cursor, the deadline passes, or the bus is removed.
 * Returns RBUS_OK (data may be there), RBUS_TIMEOUT, RBUS_E_REMOVED or RBUS_E_FORKED. timeout_ns < 0
 * waits forever (in RBUS_WAIT_SAFETY_MS sleeps). Counts futex_waits and wakeups_by_timeout.
 */
rbus_status rbus_consumer_wait(rbus_consumer *c, int64_t timeout_ns, rbus_wait_strategy strategy,
                               uint64_t spin_ns);

/* Swapped-roles W1 + W2 for the ring-full wait: stores `wanted` (the cursor position at which a
 * gating consumer's commit rings: at least need_end - capacity), sets the stream's space_waiter flag (a
 * full barrier) and returns the space doorbell to sleep on. The caller rescans after it (W3). */
uint32_t rbus_producer_space_register(rbus_producer *p, uint64_t wanted);

/*
 * Waits until the stream has room for a claim ending at `need_end` (G5: rescans at every sleep timeout,
 * so a dead gating consumer is evicted after its grace). RBUS_OK, RBUS_TIMEOUT, RBUS_E_REMOVED.
 */
rbus_status rbus_producer_wait_space(rbus_producer *p, uint64_t need_end, int64_t timeout_ns);

/* One event, waiting for room up to timeout_ns when gating consumers hold the ring. */
rbus_status rbus_producer_publish_wait(rbus_producer *p, const uint8_t *topic, uint32_t topic_len,
                                       uint32_t topic_hash, const void *payload, uint32_t payload_len,
                                       uint64_t key, uint32_t flags, int64_t timeout_ns);


/* ---- one thread waiting for many consumers (a process's bus thread) --------------------------- */
/*
 * The bus thread's wait (one thread for the readers and writers of a process on bus `b`, none used by
 * another thread meanwhile): consumers waiting for data (rule W: W1 for each, W2 after the last, W3
 * for each, one sleep, W5 for each) and producers waiting for room for a
 * claim ending at need_ends[i] (the ring-full rule W with roles swapped), all of bus `b`, in one sleep:
 * futex_waitv over the bus doorbell, the low 32 bits of `changed` (the kick word, see rbus_bus_thread_kick)
 * and each producer's space doorbell (Linux >= 5.16; before that,
 * FUTEX_WAIT on the first of those words in slices of at most 1 ms). Sleeps at most 10 ms at a time when
 * producers wait, so a dead gating consumer is rescanned and evicted (G5). Returns RBUS_OK (data or
 * room may be there, or `*changed`, a process-local counter bumped with rbus_counter_bump by whoever
 * changes the caller's set, differs from `seen`: checked after W1), RBUS_TIMEOUT or RBUS_E_REMOVED.
 * Either list may be empty, not both.
 */
rbus_status rbus_bus_thread_wait(rbus_bus *b, rbus_consumer *const *cs, uint32_t nc, rbus_producer *const *ps,
                                 const uint64_t *need_ends, uint32_t np, int64_t timeout_ns,
                                 const uint64_t *changed, uint64_t seen);
/* 1 when the producer has room for a claim ending at need_end (rescanning the gate, G2), else 0. */
int rbus_producer_has_room(rbus_producer *p, uint64_t need_end);
/* futex_waitv(2) over 32-bit shared futex words: the index of a woken word, or -errno (-ENOSYS on
 * kernels before 5.16). timeout_ns < 0 waits without a deadline. */
int rbus_futex_waitv(uint32_t *const *words, const uint32_t *values, uint32_t n, int64_t timeout_ns);

/* Bumps a process-local change counter (seq_cst: pairs with the check after W1 above). */
void rbus_counter_bump(uint64_t *counter);
/* Reads it (seq_cst). */
uint64_t rbus_counter_load(const uint64_t *counter);
/* A full fence, then P3's slow half: wakes every sleeper of the bus if any sleeper bit is set. For a
 * process whose waiting thread must notice that its set of consumers changed. */
void rbus_bus_wake_sleepers(rbus_bus *b);

/* Tells a bus thread (sleeping in rbus_bus_thread_wait with this `changed` counter, or about to) that its
 * set changed: bumps the counter (seq_cst), and if `sleeping`, wakes that thread alone through the
 * counter's low 32 bits, which it waits on too (with futex_waitv); without futex_waitv, rings the bus
 * doorbell instead (every sleeper of the bus wakes and re-checks). */
void rbus_bus_thread_kick(rbus_bus *b, uint64_t *changed, int sleeping);

/* How many participants of the bus are spinning now (display and adaptive budget). */
uint32_t rbus_bus_spinners(const rbus_bus *b);

/* The one spinning rule of the bus (C waits and Swift subscriptions alike): a waiter may spin while
 * fewer than (online CPUs - 1) participants spin. rbus_consumer_spin_begin returns 1 and marks the
 * consumer's slot spinning when that holds (or always, with `always`: an explicit spin strategy), else
 * 0; rbus_consumer_spin_end clears the mark. Consumer's own thread only. */
int rbus_consumer_spin_begin(rbus_consumer *c, int always);
/* The rule alone, without marking: 1 when a waiter of this bus may spin now. Reads one line per slot
 * and stream: callers that wait often check it now and then, not at every wait. */
int rbus_bus_may_spin(const rbus_bus *b);
void rbus_consumer_spin_end(rbus_consumer *c);

/* ---- futex(2), exposed for the benchmarks' reference ping-pong ------------------------------ */
int rbus_futex_wait(uint32_t *word, uint32_t expected, int64_t timeout_ns);
int rbus_futex_wake(uint32_t *word, int32_t count);

#endif /* RBUS_WAIT_H */
