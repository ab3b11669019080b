/* system.c: CPU count and thread pinning (see rbus_system.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "include/rbus_system.h"

int rbus_online_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int rbus_pin_thread(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu % rbus_online_cpus(), &set);
    return -pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

/* ---- the one-cache-line floor ------------------------------------------------------------------ */
#include <stdatomic.h>
#include <stdlib.h>

#include "include/rbus_clock.h"

typedef struct floor_probe {
    _Alignas(64) _Atomic uint64_t line; /* the ball: one 64-byte line */
    uint8_t pad[56];
    uint64_t rounds;
    int cpu;
} floor_probe;

static void *floor_responder(void *arg) {
    floor_probe *f = arg;
    (void)rbus_pin_thread(f->cpu);
    for (uint64_t i = 1; i <= f->rounds; i++) {
        while (atomic_load_explicit(&f->line, memory_order_acquire) != 2 * i - 1) rbus_cpu_relax();
        atomic_store_explicit(&f->line, 2 * i, memory_order_release);
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

uint64_t rbus_measure_floor_ns(uint32_t rounds) {
    if (rbus_online_cpus() < 2 || rounds == 0) return 0;
    floor_probe *f = aligned_alloc(64, sizeof *f);
    uint64_t *rt = malloc((size_t)rounds * sizeof *rt);
    if (!f || !rt) {
        free(f);
        free(rt);
        return 0;
    }
    atomic_store(&f->line, 0);
    f->rounds = rounds;
    f->cpu = 1;
    pthread_t t;
    if (pthread_create(&t, NULL, floor_responder, f) != 0) {
        free(f);
        free(rt);
        return 0;
    }
    cpu_set_t old;
    int had = pthread_getaffinity_np(pthread_self(), sizeof old, &old) == 0;
    (void)rbus_pin_thread(0);
    for (uint64_t i = 1; i <= rounds; i++) {
        uint64_t t0 = rbus_clock_monotonic_ns();
        atomic_store_explicit(&f->line, 2 * i - 1, memory_order_release);
        while (atomic_load_explicit(&f->line, memory_order_acquire) != 2 * i) rbus_cpu_relax();
        rt[i - 1] = rbus_clock_monotonic_ns() - t0;
    }
    pthread_join(t, NULL);
    if (had) (void)pthread_setaffinity_np(pthread_self(), sizeof old, &old);
    qsort(rt, rounds, sizeof *rt, cmp_u64);
    uint64_t median = rt[rounds / 2] / 2; /* one way: half a round trip */
    free(rt);
    free(f);
    return median;
}
