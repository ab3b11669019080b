/*
 * ringbench.c: the C-path benchmark of the RingBus ring, measured in the same run as its references.
 *
 *   floor        one-cache-line spin ping-pong between two pinned processes (the hardware floor)
 *   futex        raw futex ping-pong between two processes (the floor for a sleeping consumer)
 *   cring        a minimal C SPSC ring: 64-byte slots, head/tail published per message
 *   rbus-spin    RingBus ping-pong, both sides busy-polling (two buses: ping and pong)
 *   rbus-block   RingBus ping-pong, both sides sleeping in rbus_consumer_wait(BLOCK)
 *   rbus-tput    RingBus 1 -> 1 throughput, 64-byte payloads, gating consumer; commit per BATCH events
 *   rbus-nowake  publishes N events with a spinning consumer and nobody asleep (run under strace -c to
 *                count the producer's system calls: see run.sh)
 *
 * Latencies are one-way = round trip / 2, from rdtsc around each round trip, converted with a TSC
 * calibration; printed as JSON objects, one per line. Processes are pinned to CPUs 0 and 1.
 *
 * Build and run: Benchmarks/ring/run.sh (medians of 5 runs into Benchmarks/ring/results.json).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "CRingBus.h"

static uint64_t tsc_mult; /* ns per tick, 32.32 */

static uint64_t ticks_to_ns(uint64_t t) { return (uint64_t)(((unsigned __int128)t * tsc_mult) >> 32); }
static uint64_t now_ticks(void) { return rbus_clock_ticks(RBUS_CLOCK_TSC); }

static void pin(int cpu) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu % (int)sysconf(_SC_NPROCESSORS_ONLN), &s);
    sched_setaffinity(0, sizeof s, &s);
}

static void *shared_pages(size_t n) {
    void *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) abort();
    memset(m, 0, n);
    return m;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Prints one-way percentiles of round-trip samples (ticks). */
static void report_latency(const char *name, uint64_t *rt, size_t n) {
    qsort(rt, n, sizeof *rt, cmp_u64);
#define Q(q) ticks_to_ns(rt[(size_t)((double)(n - 1) * (q))]) / 2
    printf("{\"bench\":\"%s\",\"samples\":%zu,\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"p999\":%llu,\"max\":%llu}\n", name, n,
           (unsigned long long)Q(0.5), (unsigned long long)Q(0.9), (unsigned long long)Q(0.99),
           (unsigned long long)Q(0.999), (unsigned long long)(ticks_to_ns(rt[n - 1]) / 2));
#undef Q
    fflush(stdout);
}

static void reap(pid_t pid) {
    int st;
    waitpid(pid, &st, 0);
}

/* ---- floor: one cache line, spin ----------------------------------------------------------------- */
static void bench_floor(size_t iters) {
    _Atomic uint64_t *line = shared_pages(4096); /* one 64-byte line: the ball */
    uint64_t *rt = malloc(iters * sizeof *rt);
    pid_t pid = fork();
    if (pid == 0) {
        pin(1);
        for (uint64_t i = 1; i <= iters + 1000; i++) {
            while (atomic_load_explicit(line, memory_order_acquire) != 2 * i - 1) {
            }
            atomic_store_explicit(line, 2 * i, memory_order_release);
        }
        _exit(0);
    }
    pin(0);
    for (uint64_t i = 1; i <= iters + 1000; i++) {
        uint64_t t0 = now_ticks();
        atomic_store_explicit(line, 2 * i - 1, memory_order_release);
        while (atomic_load_explicit(line, memory_order_acquire) != 2 * i) {
        }
        if (i > 1000) rt[i - 1001] = now_ticks() - t0;
    }
    reap(pid);
    report_latency("floor", rt, iters);
    free(rt);
}

/* ---- raw futex ping-pong -------------------------------------------------------------------------- */
static void bench_futex(size_t iters) {
    uint32_t *w = shared_pages(4096); /* w[0]: ping, w[32]: pong (separate lines) */
    uint64_t *rt = malloc(iters * sizeof *rt);
    pid_t pid = fork();
    if (pid == 0) {
        pin(1);
        for (uint32_t i = 1; i <= iters + 200; i++) {
            while (atomic_load_explicit(RBUS_A32(&w[0]), memory_order_acquire) != i) rbus_futex_wait(&w[0], i - 1, -1);
            atomic_store_explicit(RBUS_A32(&w[32]), i, memory_order_release);
            rbus_futex_wake(&w[32], 1);
        }
        _exit(0);
    }
    pin(0);
    for (uint32_t i = 1; i <= iters + 200; i++) {
        uint64_t t0 = now_ticks();
        atomic_store_explicit(RBUS_A32(&w[0]), i, memory_order_release);
        rbus_futex_wake(&w[0], 1);
        while (atomic_load_explicit(RBUS_A32(&w[32]), memory_order_acquire) != i) rbus_futex_wait(&w[32], i - 1, -1);
        if (i > 200) rt[i - 201] = now_ticks() - t0;
    }
    reap(pid);
    report_latency("futex", rt, iters);
    free(rt);
}

/* ---- a minimal C SPSC ring: 64-byte slots, head and tail per message ------------------------------ */
enum { CRING_SLOTS = 1 << 14 };
struct cring {
    _Alignas(128) _Atomic uint64_t head; /* written by the producer */
    _Alignas(128) _Atomic uint64_t tail; /* written by the consumer */
    _Alignas(128) uint8_t slots[CRING_SLOTS][64];
};

static void bench_cring(uint64_t n) {
    struct cring *r = shared_pages(sizeof(struct cring));
    _Atomic uint64_t *result = shared_pages(4096);
    pid_t pid = fork();
    if (pid == 0) {
        pin(1);
        uint64_t tail = 0, sum = 0, t0 = 0;
        while (tail < n) {
            uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
            if (tail == 0 && head) t0 = now_ticks();
            while (tail < head) {
                uint8_t msg[64];
                memcpy(msg, r->slots[tail & (CRING_SLOTS - 1)], 64);
                sum += msg[0];
                tail++;
                atomic_store_explicit(&r->tail, tail, memory_order_release); /* per message */
            }
        }
        atomic_store(&result[0], now_ticks() - t0);
        atomic_store(&result[8], sum);
        _exit(0);
    }
    pin(0);
    uint8_t msg[64];
    memset(msg, 1, sizeof msg);
    for (uint64_t head = 0; head < n; head++) {
        while (head - atomic_load_explicit(&r->tail, memory_order_acquire) >= CRING_SLOTS) {
        }
        memcpy(r->slots[head & (CRING_SLOTS - 1)], msg, 64);
        atomic_store_explicit(&r->head, head + 1, memory_order_release); /* per message */
    }
    reap(pid);
    double secs = (double)ticks_to_ns(atomic_load(&result[0])) / 1e9;
    printf("{\"bench\":\"cring\",\"events\":%llu,\"events_per_sec\":%.0f}\n", (unsigned long long)n, (double)n / secs);
    fflush(stdout);
}

/* ---- the near-limit reference: a C ring moving 64-message batches with rep movsb ------------------- */
static inline void rep_movsb(void *dst, const void *src, size_t n) {
#if defined(__x86_64__)
    __asm__ __volatile__("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
#else
    memcpy(dst, src, n);
#endif
}

/* The same ring as cring (16384 slots of 64 bytes), but each side moves 64 messages (4 KiB) at a time
 * with one `rep movsb` and one index store: whole-line copies, one synchronisation per batch. What a
 * ring can move between two CPUs here when nothing else is done per message. */
static void bench_cring_batch(uint64_t n) {
    enum { BATCH = 64 };
    struct cring *r = shared_pages(sizeof(struct cring));
    _Atomic uint64_t *result = shared_pages(4096);
    n -= n % BATCH;
    pid_t pid = fork();
    if (pid == 0) {
        pin(1);
        static uint8_t out[BATCH * 64];
        uint64_t tail = 0, sum = 0, t0 = 0;
        while (tail < n) {
            uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
            if (tail == 0 && head) t0 = now_ticks();
            while (tail + BATCH <= head) {
                rep_movsb(out, r->slots[tail & (CRING_SLOTS - 1)], sizeof out);
                sum += out[0];
                tail += BATCH;
                atomic_store_explicit(&r->tail, tail, memory_order_release); /* per batch */
            }
        }
        atomic_store(&result[0], now_ticks() - t0);
        atomic_store(&result[8], sum);
        _exit(0);
    }
    pin(0);
    static uint8_t in[BATCH * 64];
    memset(in, 1, sizeof in);
    for (uint64_t head = 0; head < n; head += BATCH) {
        while (head + BATCH - atomic_load_explicit(&r->tail, memory_order_acquire) > CRING_SLOTS) {
        }
        rep_movsb(r->slots[head & (CRING_SLOTS - 1)], in, sizeof in);
        atomic_store_explicit(&r->head, head + BATCH, memory_order_release); /* per batch */
    }
    reap(pid);
    double secs = (double)ticks_to_ns(atomic_load(&result[0])) / 1e9;
    printf("{\"bench\":\"cring-batch-movsb\",\"events\":%llu,\"events_per_sec\":%.0f}\n", (unsigned long long)n, (double)n / secs);
    fflush(stdout);
}

/* ---- RingBus helpers ----------------------------------------------------------------------------- */
static void make_bus(const char *name, uint64_t capacity) {
    rbus_create_params p;
    rbus_create_params_default(&p);
    p.capacity = capacity;
    p.max_event_size = 4096;
    rbus_bus_remove(name, NULL);
    rbus_bus b;
    rbus_error err;
    if (rbus_bus_create(name, &p, &b, &err) != RBUS_OK) {
        fprintf(stderr, "create %s: %s (errno %d)\n", name, rbus_status_describe(err.status), err.sys_errno);
        exit(1);
    }
    rbus_bus_detach(&b);
}

typedef struct rb_end {
    rbus_bus bus;
    rbus_producer p;
    rbus_consumer c;
    uint8_t *scratch;
} rb_end;

static void open_bus(rbus_bus *b, const char *name) {
    if (rbus_bus_attach(name, 1, b, NULL) != RBUS_OK) abort();
}
static void open_producer(rbus_bus *b, rbus_producer *p) {
    if (rbus_producer_open(b, NULL, p, NULL) != RBUS_OK) abort();
}
static void open_consumer(rbus_bus *b, rbus_consumer *c, uint32_t mode, uint8_t **scratch) {
    *scratch = malloc(b->max_record);
    if (rbus_consumer_open(b, NULL, mode, RBUS_START_LATEST, NULL, *scratch, c, NULL, NULL) != RBUS_OK) abort();
}

static const uint8_t TOPIC[] = "bench.events";
enum { TOPIC_LEN = sizeof TOPIC - 1 };

/* Receives one event (spinning or sleeping), returns its first payload word. */
static uint64_t recv_one(rbus_consumer *c, int block) {
    rbus_event_view v;
    for (;;) {
        rbus_status s = rbus_consumer_next(c, &v);
        if (s == RBUS_OK) {
            uint64_t x;
            memcpy(&x, v.payload, 8);
            rbus_consumer_commit(c);
            return x;
        }
        if (block) rbus_consumer_wait(c, -1, RBUS_WAIT_BLOCK, 0);
    }
}

static void send_one(rbus_producer *p, uint64_t x, uint32_t size) {
    uint8_t buf[4096];
    memset(buf, 0, size);
    memcpy(buf, &x, 8);
    while (rbus_producer_publish(p, TOPIC, TOPIC_LEN, 0, buf, size, 0, 0) != RBUS_OK) {
    }
}

/* ---- RingBus ping-pong ---------------------------------------------------------------------------- */
static void bench_rbus_pingpong(size_t iters, int block, uint32_t size) {
    char ping[64], pong[64];
    snprintf(ping, sizeof ping, "bench-%d-ping", (int)getpid());
    snprintf(pong, sizeof pong, "bench-%d-pong", (int)getpid());
    make_bus(ping, 1 << 20);
    make_bus(pong, 1 << 20);
    _Atomic uint32_t *ready = shared_pages(4096);
    uint64_t *rt = malloc(iters * sizeof *rt);
    size_t warm = 1000;
    pid_t pid = fork();
    if (pid == 0) {
        pin(1);
        static rb_end a, b;
        open_bus(&a.bus, ping);
        open_consumer(&a.bus, &a.c, RBUS_MODE_GATING, &a.scratch);
        open_bus(&b.bus, pong);
        open_producer(&b.bus, &b.p);
        atomic_store(ready, 1);
        for (size_t i = 0; i < iters + warm; i++) send_one(&b.p, recv_one(&a.c, block), size);
        _exit(0);
    }
    pin(0);
    static rb_end a, b;
    open_bus(&a.bus, ping);
    open_producer(&a.bus, &a.p);
    open_bus(&b.bus, pong);
    open_consumer(&b.bus, &b.c, RBUS_MODE_GATING, &b.scratch);
    while (!atomic_load(ready)) {
    }
    for (size_t i = 0; i < iters + warm; i++) {
        uint64_t t0 = now_ticks();
        send_one(&a.p, i, size);
        if (recv_one(&b.c, block) != i) abort();
        if (i >= warm) rt[i - warm] = now_ticks() - t0;
    }
    reap(pid);
    rbus_bus_remove(ping, NULL);
    rbus_bus_remove(pong, NULL);
    char name[64];
    snprintf(name, sizeof name, "rbus-%s-%u", block ? "block" : "spin", size);
    report_latency(name, rt, iters);
    free(rt);
}

/* ---- RingBus throughput --------------------------------------------------------------------------- */
static void bench_rbus_tput(uint64_t n, uint32_t batch, uint32_t size) {
    char name[64];
    snprintf(name, sizeof name, "bench-%d-tput", (int)getpid());
    make_bus(name, 1 << 20); /* the same bytes as the minimal C ring's 16384 x 64 */
    _Atomic uint64_t *shared = shared_pages(4096);
    pid_t pid = fork();
    if (pid == 0) {
        pin(1);
        static rb_end e;
        open_bus(&e.bus, name);
        open_consumer(&e.bus, &e.c, RBUS_MODE_GATING, &e.scratch);
        atomic_store(&shared[16], 1);
        uint64_t got = 0, sum = 0, t0 = 0, uncommitted = 0, empties = 0;
        rbus_event_view v;
        while (got < n) {
            if (rbus_consumer_next(&e.c, &v) == RBUS_OK) {
                if (got == 0) t0 = now_ticks();
                sum += v.payload[0];
                got++;
                /* Release space every 256 events, and whenever the ring has been empty a while. */
                if (++uncommitted == 256) rbus_consumer_commit(&e.c), uncommitted = 0;
                empties = 0;
            } else {
                if (uncommitted && ++empties == 64) {
                    rbus_consumer_commit(&e.c);
                    uncommitted = 0;
                }
            }
        }
        atomic_store(&shared[0], now_ticks() - t0);
        atomic_store(&shared[8], sum + e.c.corrupt);
        _exit(0);
    }
    pin(0);
    static rb_end e;
    open_bus(&e.bus, name);
    open_producer(&e.bus, &e.p);
    while (!atomic_load(&shared[16])) {
    }
    uint8_t msg[4096];
    memset(msg, 1, size);
    for (uint64_t i = 0; i < n;) {
        uint32_t k = 0;
        while (k < batch && i + k < n) {
            uint8_t *dst;
            if (rbus_producer_claim(&e.p, TOPIC, TOPIC_LEN, 0, size, 0, 0, &dst) != RBUS_OK) break;
            memcpy(dst, msg, size);
            k++;
        }
        rbus_producer_commit(&e.p);
        i += k;
    }
    reap(pid);
    rbus_bus_remove(name, NULL);
    double secs = (double)ticks_to_ns(atomic_load(&shared[0])) / 1e9;
    printf("{\"bench\":\"rbus-tput-b%u-%u\",\"events\":%llu,\"events_per_sec\":%.0f,\"mb_per_sec\":%.1f}\n", batch, size,
           (unsigned long long)n, (double)n / secs, (double)n * size / secs / 1e6);
    fflush(stdout);
}

/* ---- publish while nobody sleeps (for strace -c) --------------------------------------------------- */
static void bench_rbus_nowake(uint64_t n) {
    char name[64];
    snprintf(name, sizeof name, "bench-%d-nowake", (int)getpid());
    make_bus(name, 8 << 20);
    static rb_end e;
    open_bus(&e.bus, name);
    open_producer(&e.bus, &e.p);
    /* No consumer at all: nobody can sleep, so a publish must never enter the kernel. The lossy
     * variant with a live spinning consumer is the rbus-tput run; the count here is exact. */
    for (uint64_t i = 0; i < n; i++) send_one(&e.p, i, 64);
    rbus_bus_remove(name, NULL);
    printf("{\"bench\":\"rbus-nowake\",\"events\":%llu,\"wakes\":%llu}\n", (unsigned long long)n,
           (unsigned long long)e.p.hdr->wakes);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: ringbench floor|futex|cring|cring-batch|rbus-spin|rbus-block|rbus-tput|rbus-nowake|all [N]\n");
        return 2;
    }
    uint64_t base, rt;
    rbus_clock_calibrate(&base, &rt, &tsc_mult);
    const char *m = argv[1];
    uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 0;
    int all = strcmp(m, "all") == 0;
    if (all || !strcmp(m, "floor")) bench_floor(n ? n : 200000);
    if (all || !strcmp(m, "rbus-spin")) bench_rbus_pingpong(n ? n : 200000, 0, 64);
    if (all || !strcmp(m, "futex")) bench_futex(n ? n : 20000);
    if (all || !strcmp(m, "rbus-block")) bench_rbus_pingpong(n ? n : 20000, 1, 64);
    if (all || !strcmp(m, "cring")) bench_cring(n ? n : 20000000);
    if (!strcmp(m, "cring-batch")) bench_cring_batch(n ? n : 200000000);
    if (all || !strcmp(m, "rbus-tput")) {
        bench_rbus_tput(n ? n : 20000000, 1, 64);
        bench_rbus_tput(n ? n : 50000000, 64, 64);
    }
    if (!strcmp(m, "rbus-nowake")) bench_rbus_nowake(n ? n : 1000000);
    return 0;
}
