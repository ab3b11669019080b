/*
 * ring.c: the producer's out-of-line slow paths: the gate rescan (G2), eviction of dead gating
 * consumers (G4), and the wake halves of rule W (one futex_wake per sleep episode).
 *
 * Must not: run on the per-event path. rbus_producer_claim calls the rescan only when the ring looks
 * full (or once per capacity of bytes when no gating consumer exists, so joiners are always seen).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "include/rbus_registry.h"
#include "include/rbus_wait.h"

enum { LIVENESS_CHECK_INTERVAL_NS = 1000000 }; /* at most one lock probe round per ms while full */

/* The slowest gating cursor of this stream, starting from `min`. Cursors are loaded with acquire
 * (G1: pairs with the consumer's store_release in rbus_consumer_commit), so every read the consumer
 * made below its cursor happened before we overwrite those bytes. */
static uint64_t scan_min(const rbus_producer *p, uint64_t min) {
    const rbus_bus *b = p->bus;
    for (uint32_t j = 0; j < b->consumers; j++) {
        struct rbus_slot_meta *m = rbus_bus_slot(b, j);
        uint32_t st = rbus_claim_state(atomic_load_explicit(RBUS_A64(&m->claim), memory_order_acquire));
        if (st != RBUS_STATE_ACTIVE && st != RBUS_STATE_DETACHED) continue;
        if (atomic_load_explicit(RBUS_A32(&m->mode), memory_order_relaxed) != RBUS_MODE_GATING) continue;
        uint64_t c = atomic_load_explicit(RBUS_A64(&rbus_bus_cursors(b, j)[p->stream].position), memory_order_acquire);
        if (c > p->pending) continue; /* never trust: a cursor past our own tail protects nothing */
        /* Slow-consumer demotion: an owner that set demote_lag reads with lossy validation (it set its
         * local flag before storing the word), so once it is that far behind it no longer gates. */
        uint64_t lag = atomic_load_explicit(RBUS_A64(&m->demote_lag), memory_order_relaxed);
        if (lag != 0 && p->pending - c > lag) continue;
        if (c < min) min = c;
    }
    return min;
}

static int lock_op(int fd, int cmd, short type, int64_t byte, struct flock *fl) {
    memset(fl, 0, sizeof *fl);
    fl->l_type = type;
    fl->l_whence = SEEK_SET;
    fl->l_start = (off_t)byte;
    fl->l_len = 1;
    return fcntl(fd, cmd, fl) == 0 ? 0 : -errno;
}

/* G4: takes the dead consumer's lock (so it cannot come back half-way), marks the slot EVICTED, counts. */
static void evict(rbus_producer *p, uint32_t j) {
    struct flock fl;
    int64_t byte = RBUS_LOCK_BASE + RBUS_MAX_STREAMS + j;
    if (lock_op(p->lock_fd, F_OFD_SETLK, F_WRLCK, byte, &fl) != 0) return; /* it came back: alive */
    struct rbus_slot_meta *m = rbus_bus_slot(p->bus, j);
    uint64_t w = atomic_load_explicit(RBUS_A64(&m->claim), memory_order_acquire);
    uint32_t st = rbus_claim_state(w);
    if (st == RBUS_STATE_ACTIVE || st == RBUS_STATE_DETACHED) {
        uint64_t gen = (rbus_claim_generation(w) + 1) & 0xffffff;
        uint32_t state = m->name[0] ? RBUS_STATE_EVICTED : RBUS_STATE_FREE;
        atomic_store_explicit(RBUS_A64(&m->evictions), m->evictions + 1, memory_order_relaxed);
        atomic_store_explicit(RBUS_A64(&m->claim), (uint64_t)state | (gen << 8) | ((uint64_t)(uint32_t)getpid() << 32),
                              memory_order_release);
        atomic_store_explicit(RBUS_A64(&p->hdr->evictions), p->hdr->evictions + 1, memory_order_relaxed);
    }
    (void)lock_op(p->lock_fd, F_OFD_SETLK, F_UNLCK, byte, &fl);
    p->dead_since_ns[j] = 0;
}

/* G4/G5: while full, probe the locks of the gating consumers that block `need_end`. A live one is
 * never evicted here (the Swift layer's slowConsumerPolicy decides about live ones). */
static int evict_dead_blockers(rbus_producer *p, uint64_t need_end) {
    uint64_t now = rbus_clock_monotonic_ns();
    if (now < p->last_liveness_check_ns + LIVENESS_CHECK_INTERVAL_NS) return 0;
    p->last_liveness_check_ns = now;
    const rbus_bus *b = p->bus;
    int evicted = 0;
    for (uint32_t j = 0; j < b->consumers; j++) {
        struct rbus_slot_meta *m = rbus_bus_slot(b, j);
        uint32_t st = rbus_claim_state(atomic_load_explicit(RBUS_A64(&m->claim), memory_order_acquire));
        if (st != RBUS_STATE_ACTIVE && st != RBUS_STATE_DETACHED) continue;
        if (atomic_load_explicit(RBUS_A32(&m->mode), memory_order_relaxed) != RBUS_MODE_GATING) continue;
        uint64_t c = atomic_load_explicit(RBUS_A64(&rbus_bus_cursors(b, j)[p->stream].position), memory_order_acquire);
        if (c > p->pending || need_end <= c + p->capacity) continue; /* not a blocker */
        struct flock fl;
        if (lock_op(p->lock_fd, F_OFD_GETLK, F_WRLCK, RBUS_LOCK_BASE + RBUS_MAX_STREAMS + j, &fl) != 0) continue;
        if (fl.l_type != F_UNLCK) { /* alive */
            p->dead_since_ns[j] = 0;
            continue;
        }
        if (!p->dead_since_ns[j]) p->dead_since_ns[j] = now;
        uint64_t grace = m->name[0] ? b->eviction_grace_ns : 0; /* nobody returns to an anonymous slot */
        if (now - p->dead_since_ns[j] >= grace) {
            evict(p, j);
            evicted = 1;
        }
    }
    return evicted;
}

void rbus_producer_rescan(rbus_producer *p, uint64_t need_end) {
    struct rbus_stream_hdr *h = p->hdr;
    atomic_store_explicit(RBUS_A64(&h->rescans), h->rescans + 1, memory_order_relaxed);
    for (int round = 0; round < 2; round++) {
        uint64_t min = scan_min(p, p->pending);
        /* G2: publish the limit, full fence, re-load the cursors (Dekker with the joiner's G3 steps). */
        atomic_store_explicit(RBUS_A64(&h->gate_limit), min, memory_order_relaxed);
        atomic_thread_fence(memory_order_seq_cst);
        min = scan_min(p, min);
        p->gate = min;
        if (need_end <= min + p->capacity) return;
        if (round == 0 && !evict_dead_blockers(p, need_end)) break;
    }
    atomic_store_explicit(RBUS_A64(&h->full_events), h->full_events + 1, memory_order_relaxed);
}

/* P3, slow half: clear every sleeper bit by exchange (one wake per sleep episode), bump the doorbell
 * with release (pairs with the waiter's W2 load_acquire), then wake all sleepers of the bus. */
void rbus_wake_sleepers(rbus_bus *b, struct rbus_stream_hdr *stream) {
    struct rbus_bus_hdr *h = rbus_bus_header(b);
    uint64_t any = 0;
    for (uint32_t w = 0; w < b->sleeper_words; w++) {
        if (atomic_load_explicit(RBUS_A64(&h->sleepers[w]), memory_order_relaxed) != 0)
            any |= atomic_exchange_explicit(RBUS_A64(&h->sleepers[w]), 0, memory_order_seq_cst);
    }
    if (!any) return;
    atomic_fetch_add_explicit(RBUS_A32(&h->doorbell), 1, memory_order_release);
    rbus_futex_wake(&h->doorbell, 0x7fffffff);
    if (stream) atomic_store_explicit(RBUS_A64(&stream->wakes), stream->wakes + 1, memory_order_relaxed);
}

/* The consumer side of the ring-full wait: only the exchange winner rings. */
void rbus_wake_space(rbus_bus *b, uint32_t stream) {
    struct rbus_stream_hdr *h = rbus_bus_stream(b, stream);
    if (atomic_exchange_explicit(RBUS_A32(&h->space_waiter), 0, memory_order_seq_cst) == 0) return;
    atomic_fetch_add_explicit(RBUS_A32(&h->space_doorbell), 1, memory_order_release);
    rbus_futex_wake(&h->space_doorbell, 0x7fffffff);
}
