/*
 * testing.c: helpers for tests and benchmarks: payload patterns with checksums, the two wakeup litmus
 * tests (real protocol steps raced on two threads, outcomes counted), CPU pinning.
 *
 * Must not: be called by the library itself.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "include/rbus_registry.h"
#include "include/rbus_testing.h"
#include "include/rbus_wait.h"

/* Jitter ranges (empty-loop iterations) that make the racing windows overlap often on a 2-vCPU VM,
 * where the barrier release itself skews the threads by a cache-line transfer (~65 ns). Measured with
 * each fence deleted (x86 store buffer): the wakeup litmus lost 1-28 wakeups per 200k rounds (the rate
 * depends on where the host places the vCPUs), so the test runs 1.2M rounds: 10-35 lost, 4 of 4 runs;
 * the space litmus at the test's 200k rounds: 37-65 lost, 3 of 3 runs. Symmetric ranges caught less. */
enum { WAKE_JITTER_PRODUCER = 64, WAKE_JITTER_CONSUMER = 1024, SPACE_JITTER_PRODUCER = 1024, SPACE_JITTER_CONSUMER = 32 };

uint64_t rbus_test_checksum(const uint8_t *src, uint32_t n) {
    uint64_t h = 1469598103934665603ull;
    for (uint32_t i = 0; i < n; i++) {
        h ^= src[i];
        h *= 1099511628211ull;
    }
    return h;
}

uint64_t rbus_test_fill(uint8_t *dst, uint32_t n, uint64_t seed) {
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (uint32_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        dst[i] = (uint8_t)x;
    }
    return rbus_test_checksum(dst, n);
}


/* ---- a two-party spin barrier with jitter: makes the racing steps overlap often ---------------- */
typedef struct litmus {
    rbus_bus *bus;
    rbus_producer p;
    rbus_consumer c;
    uint64_t iterations;
    _Atomic uint64_t arrive[2];
    _Atomic uint64_t finished;
    uint64_t seed;
    uint64_t need_end;      /* space litmus */
    uint32_t v;             /* space litmus: the producer's doorbell value */
    int room;               /* space litmus: the producer's rescan saw room */
} litmus;

static void barrier(litmus *l, int me, uint64_t round) {
    atomic_store_explicit(&l->arrive[me], round, memory_order_release);
    while (atomic_load_explicit(&l->arrive[1 - me], memory_order_acquire) < round) {
    }
}

static void jitter(uint64_t *seed, uint64_t range) {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    for (uint64_t i = 0, n = *seed % range; i < n; i++) __asm__ __volatile__("" ::: "memory");
}

/* Producer thread of the wakeup litmus: claim outside the race, then P1..P3 racing the waiter. */
static void *wakeup_producer(void *arg) {
    litmus *l = arg;
    uint64_t seed = l->seed ^ 0xabcdef;
    for (uint64_t i = 1; i <= l->iterations; i++) {
        uint8_t *dst;
        while (rbus_producer_claim(&l->p, (const uint8_t *)"t", 1, 0, 8, 0, 0, &dst) != RBUS_OK) {
        }
        memcpy(dst, &i, 8);
        barrier(l, 0, 2 * i - 1);
        jitter(&seed, WAKE_JITTER_PRODUCER);
        rbus_producer_commit(&l->p); /* P1, P2, P3 */
        atomic_store_explicit(&l->finished, i, memory_order_release);
        barrier(l, 0, 2 * i); /* the waiter judges the round, then both go on */
    }
    return NULL;
}

uint64_t rbus_test_wakeup_litmus(rbus_bus *b, uint64_t iterations) {
    litmus *l = calloc(1, sizeof *l);
    uint8_t *scratch = malloc(b->max_record);
    if (!l || !scratch) abort();
    l->bus = b;
    l->iterations = iterations;
    l->seed = 88172645463325252ull;
    if (rbus_producer_open(b, NULL, &l->p, NULL) != RBUS_OK ||
        rbus_consumer_open(b, NULL, RBUS_MODE_LOSSY, RBUS_START_LATEST, NULL, scratch, &l->c, NULL, NULL) != RBUS_OK)
        abort();
    pthread_t t;
    pthread_create(&t, NULL, wakeup_producer, l);
    uint64_t lost = 0, seed = l->seed;
    struct rbus_bus_hdr *h = rbus_bus_header(b);
    for (uint64_t i = 1; i <= iterations; i++) {
        barrier(l, 1, 2 * i - 1);
        jitter(&seed, WAKE_JITTER_CONSUMER);
        uint32_t v = rbus_wait_register(&l->c); /* W1, W2 */
        int saw = rbus_wait_has_data(&l->c);    /* W3 */
        while (atomic_load_explicit(&l->finished, memory_order_acquire) < i) {
        }
        /* Had we slept now (W4 on v), would anything wake us? Only a doorbell that moved past v. */
        if (!saw && atomic_load_explicit(RBUS_A32(&h->doorbell), memory_order_acquire) == v) lost++;
        rbus_wait_unregister(&l->c); /* W5 */
        rbus_event_view ev;
        while (rbus_consumer_next(&l->c, &ev) == RBUS_OK) {
        }
        rbus_consumer_commit(&l->c);
        barrier(l, 1, 2 * i);
    }
    pthread_join(t, NULL);
    rbus_consumer_close(&l->c);
    rbus_producer_close(&l->p);
    free(scratch);
    free(l);
    return lost;
}

/* ---- space litmus: consumer commit (+ fence + flag check) against producer flag + rescan -------- */
static void *space_producer(void *arg) {
    litmus *l = arg;
    uint64_t seed = l->seed ^ 0x1234567;
    for (uint64_t i = 1; i <= l->iterations; i++) {
        barrier(l, 0, 3 * i - 2); /* round set up by the consumer thread */
        barrier(l, 0, 3 * i - 1);
        jitter(&seed, SPACE_JITTER_PRODUCER);
        l->v = rbus_producer_space_register(&l->p, l->need_end - l->p.capacity); /* flag (full barrier), doorbell */
        l->p.last_liveness_check_ns = UINT64_MAX / 2; /* no lock probes inside the race */
        rbus_producer_rescan(&l->p, l->need_end);     /* cursor loads */
        l->room = l->need_end <= l->p.gate + l->p.capacity;
        atomic_store_explicit(&l->finished, i, memory_order_release);
        barrier(l, 0, 3 * i);
    }
    return NULL;
}

uint64_t rbus_test_space_litmus(rbus_bus *b, uint64_t iterations) {
    litmus *l = calloc(1, sizeof *l);
    uint8_t *scratch = malloc(b->max_record);
    if (!l || !scratch) abort();
    l->bus = b;
    l->iterations = iterations;
    l->seed = 0x2545F4914F6CDD1Dull;
    if (rbus_producer_open(b, NULL, &l->p, NULL) != RBUS_OK ||
        rbus_consumer_open(b, NULL, RBUS_MODE_GATING, RBUS_START_LATEST, NULL, scratch, &l->c, NULL, NULL) != RBUS_OK)
        abort();
    struct rbus_stream_hdr *h = rbus_bus_stream(b, 0);
    pthread_t t;
    pthread_create(&t, NULL, space_producer, l);
    uint64_t lost = 0, seed = l->seed;
    for (uint64_t i = 1; i <= iterations; i++) {
        /* Set up (single-threaded between barriers): publish one event, read it without committing;
         * the producer will need exactly the space that our commit frees. */
        uint64_t committed = l->c.s[0].position;
        if (rbus_producer_publish(&l->p, (const uint8_t *)"t", 1, 0, &i, 8, 0, 0) != RBUS_OK) abort();
        rbus_event_view ev;
        if (rbus_consumer_next(&l->c, &ev) != RBUS_OK) abort();
        l->need_end = committed + l->p.capacity + 1;
        barrier(l, 1, 3 * i - 2);
        barrier(l, 1, 3 * i - 1);
        jitter(&seed, SPACE_JITTER_CONSUMER);
        rbus_consumer_commit(&l->c); /* cursor store_release, fence, space_waiter check */
        while (atomic_load_explicit(&l->finished, memory_order_acquire) < i) {
        }
        if (!l->room && atomic_load_explicit(RBUS_A32(&h->space_doorbell), memory_order_acquire) == l->v) lost++;
        atomic_store_explicit(RBUS_A32(&h->space_waiter), 0, memory_order_relaxed);
        barrier(l, 1, 3 * i);
    }
    pthread_join(t, NULL);
    rbus_consumer_close(&l->c);
    rbus_producer_close(&l->p);
    free(scratch);
    free(l);
    return lost;
}
