/*
 * wait.c: futex(2) and the waits of rule W (see rbus_wait.h for the numbered steps).
 *
 * Owns: every sleep of the C layer. Must not: sleep without a deadline (each futex_wait is bounded by
 * RBUS_WAIT_SAFETY_MS), or make a system call on the publish path while nobody sleeps.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <stdlib.h>
#include <unistd.h>

#include "include/rbus_registry.h"
#include "include/rbus_wait.h"

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

/* Shared (not FUTEX_PRIVATE) futexes: the words live in MAP_SHARED memory of several processes. */
int rbus_futex_wait(uint32_t *word, uint32_t expected, int64_t timeout_ns) {
    struct timespec ts, *tp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        tp = &ts;
    }
    long r = syscall(SYS_futex, word, FUTEX_WAIT, expected, tp, NULL, 0);
    return r == 0 ? 0 : -errno;
}

int rbus_futex_wake(uint32_t *word, int32_t count) {
    long r = syscall(SYS_futex, word, FUTEX_WAKE, count, NULL, NULL, 0);
    return r >= 0 ? (int)r : -errno;
}

uint32_t rbus_wait_register(rbus_consumer *c) {
    struct rbus_bus_hdr *h = rbus_bus_header(c->bus);
    /* W1: seq_cst RMW, a full barrier: our bit is visible before W3's loads of the tails. */
    atomic_fetch_or_explicit(RBUS_A64(&h->sleepers[c->sleeper_word]), c->sleeper_bit, memory_order_seq_cst);
    /* W2: pairs with the producer's release increment in P3 (rbus_wake_sleepers). */
    return atomic_load_explicit(RBUS_A32(&h->doorbell), memory_order_acquire);
}

int rbus_wait_has_data(rbus_consumer *c) {
    for (uint32_t si = 0; si < c->streams; si++) { /* W3: seq_cst loads (pairs with P1 + P2) */
        uint64_t t = atomic_load_explicit(RBUS_A64(&rbus_bus_stream(c->bus, si)->tail), memory_order_seq_cst);
        if (t != c->s[si].position) return 1;
    }
    return 0;
}

int rbus_wait_sleep(rbus_consumer *c, uint32_t v, int64_t timeout_ns) {
    return rbus_futex_wait(&rbus_bus_header(c->bus)->doorbell, v, timeout_ns); /* W4 */
}

void rbus_wait_unregister(rbus_consumer *c) {
    struct rbus_bus_hdr *h = rbus_bus_header(c->bus);
    atomic_fetch_and_explicit(RBUS_A64(&h->sleepers[c->sleeper_word]), ~c->sleeper_bit, memory_order_seq_cst); /* W5 */
}

uint32_t rbus_bus_spinners(const rbus_bus *b) {
    uint32_t n = 0;
    for (uint32_t j = 0; j < b->consumers; j++)
        n += atomic_load_explicit(RBUS_A32(&rbus_bus_slot(b, j)->spinning), memory_order_relaxed) != 0;
    for (uint32_t i = 0; i < b->streams; i++)
        n += atomic_load_explicit(RBUS_A32(&rbus_bus_stream(b, i)->spinning), memory_order_relaxed) != 0;
    return n;
}

/* Spinning is allowed while fewer than (online CPUs - 1) participants spin: one CPU stays for the
 * producer (which is busy, not waiting). On 2 vCPUs that is one spinner. */
static int may_spin(const rbus_bus *b) { return rbus_bus_spinners(b) + 1 < b->online_cpus; }

int rbus_bus_may_spin(const rbus_bus *b) { return may_spin(b); }

int rbus_consumer_spin_begin(rbus_consumer *c, int always) {
    if (!always && !may_spin(c->bus)) return 0;
    atomic_store_explicit(RBUS_A32(&c->meta->spinning), 1, memory_order_relaxed); /* read by may_spin only */
    return 1;
}

void rbus_consumer_spin_end(rbus_consumer *c) {
    atomic_store_explicit(RBUS_A32(&c->meta->spinning), 0, memory_order_relaxed);
}

static int has_data_relaxed(rbus_consumer *c) {
    for (uint32_t si = 0; si < c->streams; si++) {
        uint64_t t = atomic_load_explicit(RBUS_A64(&rbus_bus_stream(c->bus, si)->tail), memory_order_acquire);
        if (t != c->s[si].position) return 1;
    }
    return 0;
}

/* Busy-polls until data or `until` (monotonic ns). 1 data, 0 not. */
static int spin_until(rbus_consumer *c, uint64_t until) {
    for (;;) {
        for (int i = 0; i < 128; i++) {
            if (has_data_relaxed(c)) return 1;
            CPU_RELAX();
        }
        if (rbus_clock_monotonic_ns() >= until) return 0;
    }
}

rbus_status rbus_consumer_wait(rbus_consumer *c, int64_t timeout_ns, rbus_wait_strategy strategy, uint64_t spin_ns) {
    if (c->fork_generation != atomic_load_explicit(&rbus__fork_generation, memory_order_relaxed)) return RBUS_E_FORKED;
    rbus_bus *b = c->bus;
    struct rbus_slot_meta *m = c->meta;
    uint64_t now = rbus_clock_monotonic_ns();
    uint64_t deadline = timeout_ns < 0 ? UINT64_MAX : now + (uint64_t)timeout_ns;
    atomic_store_explicit(RBUS_A64(&m->heartbeat_ns), now, memory_order_relaxed);
    rbus__publish_counters(c);
    if (has_data_relaxed(c)) return RBUS_OK;
    if (strategy == RBUS_WAIT_SPIN || (strategy == RBUS_WAIT_ADAPTIVE && may_spin(b))) {
        atomic_store_explicit(RBUS_A32(&m->spinning), 1, memory_order_relaxed);
        uint64_t until = strategy == RBUS_WAIT_SPIN ? deadline : now + spin_ns;
        int got = spin_until(c, until < deadline ? until : deadline);
        atomic_store_explicit(RBUS_A32(&m->spinning), 0, memory_order_relaxed);
        if (got) return RBUS_OK;
        if (strategy == RBUS_WAIT_SPIN) return rbus_bus_is_removed(b) ? RBUS_E_REMOVED : RBUS_TIMEOUT;
    }
    if (strategy == RBUS_WAIT_ADAPTIVE) {
        sched_yield();
        if (has_data_relaxed(c)) return RBUS_OK;
    }
    for (;;) {
        if (rbus_bus_is_removed(b)) return RBUS_E_REMOVED;
        uint32_t v = rbus_wait_register(c); /* W1 + W2 */
        if (rbus_wait_has_data(c)) {        /* W3 */
            rbus_wait_unregister(c);
            return RBUS_OK;
        }
        now = rbus_clock_monotonic_ns();
        if (now >= deadline) {
            rbus_wait_unregister(c);
            return RBUS_TIMEOUT;
        }
        uint64_t left = deadline - now, safety = (uint64_t)RBUS_WAIT_SAFETY_MS * 1000000u;
        int r = rbus_wait_sleep(c, v, (int64_t)(left < safety ? left : safety)); /* W4 */
        rbus_wait_unregister(c);                                                 /* W5 */
        c->futex_waits++;
        int data = rbus_wait_has_data(c);
        /* A sleep that ended by its timeout while data was there is a lost wakeup: count it. */
        if (r == -ETIMEDOUT && data) c->wakeups_by_timeout++;
        struct rbus_slot_counters *k = c->shared_counters;
        atomic_store_explicit(RBUS_A64(&k->futex_waits), c->futex_waits, memory_order_relaxed);
        atomic_store_explicit(RBUS_A64(&k->wakeups_by_timeout), c->wakeups_by_timeout, memory_order_relaxed);
        if (data) return RBUS_OK;
    }
}

uint32_t rbus_producer_space_register(rbus_producer *p, uint64_t wanted) {
    /* The target first; the exchange below releases it (a consumer that sees the flag with acquire sees
     * this target or a later one). */
    atomic_store_explicit(RBUS_A64(&p->hdr->space_wanted), wanted, memory_order_relaxed);
    /* Swapped-roles W1: exchange is a full barrier, so the flag is visible before the rescan's cursor
     * loads; pairs with the fence in rbus_consumer_commit. W2: pairs with rbus_wake_space's increment. */
    atomic_exchange_explicit(RBUS_A32(&p->hdr->space_waiter), 1, memory_order_seq_cst);
    return atomic_load_explicit(RBUS_A32(&p->hdr->space_doorbell), memory_order_acquire);
}

rbus_status rbus_producer_wait_space(rbus_producer *p, uint64_t need_end, int64_t timeout_ns) {
    uint64_t now = rbus_clock_monotonic_ns();
    uint64_t deadline = timeout_ns < 0 ? UINT64_MAX : now + (uint64_t)timeout_ns;
    const uint64_t slice = 10 * 1000000; /* G5: rescan (and maybe evict) at least every 10 ms */
    struct rbus_stream_hdr *h = p->hdr;
    /* A short spin first: a gating consumer that is merely behind frees space within microseconds. */
    if (may_spin(p->bus)) {
        atomic_store_explicit(RBUS_A32(&h->spinning), 1, memory_order_relaxed);
        for (int i = 0; i < 64; i++) {
            rbus_producer_rescan(p, need_end);
            if (need_end <= p->gate + p->capacity) break;
            for (int k = 0; k < 64; k++) CPU_RELAX();
        }
        atomic_store_explicit(RBUS_A32(&h->spinning), 0, memory_order_relaxed);
    }
    for (;;) {
        if (need_end <= p->gate + p->capacity) return RBUS_OK;
        if (rbus_bus_is_removed(p->bus)) return RBUS_E_REMOVED;
        uint32_t v = rbus_producer_space_register(p, need_end - p->capacity); /* the least room: no hysteresis */
        rbus_producer_rescan(p, need_end);
        if (need_end <= p->gate + p->capacity) {
            atomic_store_explicit(RBUS_A32(&h->space_waiter), 0, memory_order_relaxed);
            return RBUS_OK;
        }
        now = rbus_clock_monotonic_ns();
        if (now >= deadline) {
            atomic_store_explicit(RBUS_A32(&h->space_waiter), 0, memory_order_relaxed);
            return RBUS_TIMEOUT;
        }
        uint64_t left = deadline - now;
        (void)rbus_futex_wait(&h->space_doorbell, v, (int64_t)(left < slice ? left : slice));
        rbus_producer_rescan(p, need_end);
    }
}

rbus_status rbus_producer_publish_wait(rbus_producer *p, const uint8_t *topic, uint32_t topic_len,
                                       uint32_t topic_hash, const void *payload, uint32_t payload_len, uint64_t key,
                                       uint32_t flags, int64_t timeout_ns) {
    uint64_t deadline = timeout_ns < 0 ? UINT64_MAX : rbus_clock_monotonic_ns() + (uint64_t)timeout_ns;
    for (;;) {
        rbus_status s = rbus_producer_publish(p, topic, topic_len, topic_hash, payload, payload_len, key, flags);
        if (s != RBUS_FULL) return s;
        uint64_t now = rbus_clock_monotonic_ns();
        if (now >= deadline) return RBUS_TIMEOUT;
        int64_t left = deadline == UINT64_MAX ? -1 : (int64_t)(deadline - now);
        s = rbus_producer_wait_space(p, rbus_producer_claim_end(p, topic_len, payload_len), left);
        if (s != RBUS_OK) return s;
    }
}

/* ---- rbus_lock.h's contended halves (private futexes: the word is in process memory) ---------- */
void rbus_lock_wait(uint32_t *word) {
    (void)syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0); /* EAGAIN: no longer 2 */
}

void rbus_lock_wake(uint32_t *word) {
    (void)syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* ---- one thread waiting for many consumers -------------------------------------------------------- */
void rbus_counter_bump(uint64_t *counter) {
    atomic_fetch_add_explicit(RBUS_A64(counter), 1, memory_order_seq_cst);
}

uint64_t rbus_counter_load(const uint64_t *counter) {
    return atomic_load_explicit(RBUS_A64(counter), memory_order_seq_cst);
}

void rbus_bus_wake_sleepers(rbus_bus *b) {
    /* The caller bumped its change counter (seq_cst) before: the fence orders that before the sleeper
     * loads in rbus_wake_sleepers (whose first load is relaxed). */
    atomic_thread_fence(memory_order_seq_cst);
    rbus_wake_sleepers(b, NULL);
}


/* ---- the bus thread: readers and writers in one sleep ---------------------------------------------- */
int rbus_producer_has_room(rbus_producer *p, uint64_t need_end) {
    if (need_end <= p->gate + p->capacity) return 1;
    rbus_producer_rescan(p, need_end);
    return need_end <= p->gate + p->capacity;
}

int rbus_futex_waitv(uint32_t *const *words, const uint32_t *values, uint32_t n, int64_t timeout_ns) {
#ifdef SYS_futex_waitv
    struct futex_waitv w[FUTEX_WAITV_MAX];
    if (n == 0 || n > FUTEX_WAITV_MAX) return -EINVAL;
    for (uint32_t i = 0; i < n; i++) {
        w[i].val = values[i];
        w[i].uaddr = (uint64_t)(uintptr_t)words[i];
        w[i].flags = FUTEX_32; /* shared: the words live in MAP_SHARED memory */
        w[i].__reserved = 0;
    }
    struct timespec ts, *tp = NULL;
    if (timeout_ns >= 0) { /* futex_waitv takes an absolute time on the given clock */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)timeout_ns;
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        tp = &ts;
    }
    long r = syscall(SYS_futex_waitv, w, n, 0, tp, CLOCK_MONOTONIC);
    return r >= 0 ? (int)r : -errno;
#else
    (void)words; (void)values; (void)n; (void)timeout_ns;
    return -ENOSYS;
#endif
}

enum { BUS_THREAD_MAX_PRODUCERS = 126 }; /* futex_waitv takes 128 words: the doorbell, the kick word, 126 streams */

/* Set once futex_waitv answered ENOSYS (kernels before 5.16); RINGBUS_NO_FUTEX_WAITV=1 forces it. */
static _Atomic int no_waitv;

static int waitv_unavailable(void) {
    return atomic_load_explicit(&no_waitv, memory_order_relaxed) || getenv("RINGBUS_NO_FUTEX_WAITV");
}

/* The kick word of a change counter: its low 32 bits (x86-64 and arm64 are little-endian). */
static uint32_t *kick_word(const uint64_t *changed) { return (uint32_t *)(void *)(uintptr_t)changed; }

void rbus_bus_thread_kick(rbus_bus *b, uint64_t *changed, int sleeping) {
    atomic_fetch_add_explicit(RBUS_A64(changed), 1, memory_order_seq_cst); /* pairs with the check after W1 */
    if (!sleeping) return;
    if (waitv_unavailable()) {
        rbus_bus_wake_sleepers(b); /* the fallback sleeps on the doorbell only: ring it */
    } else {
        rbus_futex_wake(kick_word(changed), 1); /* only our bus thread waits on this word */
    }
}

/* Where the bus thread asks gating consumers to ring: when half the ring is free (or at the tail, if
 * less has been written). Waking a sleeping producer costs a futex wake and a resumed task; doing it for
 * every freed record made a full ring ping-pong one event per wake. Rings sooner never matter for
 * correctness: the thread rescans every 10 ms (G5) and on every other wake. */
static uint64_t space_target(const rbus_producer *p, uint64_t need_end) {
    uint64_t least = need_end > p->capacity ? need_end - p->capacity : 0;
    uint64_t half = need_end > p->capacity / 2 ? need_end - p->capacity / 2 : 0;
    uint64_t t = half < p->tail ? half : p->tail; /* a cursor never passes the committed tail */
    return t > least ? t : least;
}

rbus_status rbus_bus_thread_wait(rbus_bus *b, rbus_consumer *const *cs, uint32_t nc, rbus_producer *const *ps,
                                 const uint64_t *need_ends, uint32_t np, int64_t timeout_ns,
                                 const uint64_t *changed, uint64_t seen) {
    if ((nc == 0 && np == 0) || (nc && !cs) || (np && (!ps || !need_ends)) || np > BUS_THREAD_MAX_PRODUCERS)
        return RBUS_E_PARAM;
    uint64_t deadline = timeout_ns < 0 ? UINT64_MAX : rbus_clock_monotonic_ns() + (uint64_t)timeout_ns;
    for (;;) {
        if (rbus_bus_is_removed(b)) return RBUS_E_REMOVED;
        uint32_t *words[BUS_THREAD_MAX_PRODUCERS + 2];
        uint32_t values[BUS_THREAD_MAX_PRODUCERS + 2];
        uint32_t n = 0;
        if (nc) {
            uint32_t v = 0;
            for (uint32_t i = 0; i < nc; i++) v = rbus_wait_register(cs[i]); /* W1 each, W2 after the last */
            words[n] = &rbus_bus_header(b)->doorbell;
            values[n++] = v;
        }
        for (uint32_t i = 0; i < np; i++) { /* swapped W1 + W2: space_waiter = 1 (a full barrier) */
            values[n] = rbus_producer_space_register(ps[i], space_target(ps[i], need_ends[i]));
            words[n++] = &ps[i]->hdr->space_doorbell;
        }
        if (changed) { /* the kick word: a change made after `seen` was read makes the wait return */
            words[n] = kick_word(changed);
            values[n++] = (uint32_t)seen;
        }
        int ready = changed && atomic_load_explicit(RBUS_A64(changed), memory_order_seq_cst) != seen;
        for (uint32_t i = 0; i < nc && !ready; i++) ready = rbus_wait_has_data(cs[i]);            /* W3 */
        for (uint32_t i = 0; i < np && !ready; i++) ready = rbus_producer_has_room(ps[i], need_ends[i]); /* rescan */
        uint64_t now = rbus_clock_monotonic_ns();
        if (!ready && now < deadline) {
            uint64_t left = deadline - now;
            uint64_t slice = np ? 10 * 1000000u : (uint64_t)RBUS_WAIT_SAFETY_MS * 1000000u; /* G5 when writers wait */
            int64_t t = (int64_t)(left < slice ? left : slice);
            /* RINGBUS_NO_FUTEX_WAITV=1 forces the fallback (how the tests cover kernels before 5.16). */
            int fallback = waitv_unavailable();
            int r = fallback ? -ENOSYS : rbus_futex_waitv(words, values, n, t);
            if (r == -ENOSYS) {
                if (!fallback) atomic_store_explicit(&no_waitv, 1, memory_order_relaxed);
                /* Without futex_waitv: sleep on the first word in 1 ms slices; the loop re-checks all. */
                (void)rbus_futex_wait(words[0], values[0], t < 1000000 ? t : 1000000);
            }
        }
        for (uint32_t i = 0; i < nc; i++) rbus_wait_unregister(cs[i]); /* W5 */
        for (uint32_t i = 0; i < np; i++) atomic_store_explicit(RBUS_A32(&ps[i]->hdr->space_waiter), 0, memory_order_relaxed);
        if (ready) return RBUS_OK;
        if (rbus_clock_monotonic_ns() >= deadline) return RBUS_TIMEOUT;
    }
}
