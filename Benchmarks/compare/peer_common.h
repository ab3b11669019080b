/*
 * peer_common.h: what the comparison's C programs (ipc.c, brokers.c) share: the clock, pinning a
 * process to a CPU, dying with a message, and the JSON lines the runner reads.
 */
#ifndef PEER_COMMON_H
#define PEER_COMMON_H

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Pins the calling process to `cpu` (modulo the online CPUs) when there is more than one. */
static void pin(int cpu) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 2) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu % n, &set);
    sched_setaffinity(0, sizeof set, &set);
}

/* One line on standard error naming what failed (and errno's text when it is set), exit 1. */
static void die(const char *what) {
    if (errno) fprintf(stderr, "%s: %s\n", what, strerror(errno));
    else fprintf(stderr, "%s\n", what);
    exit(1);
}

static int cmp_u64(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

/* {"bench", "samples", "p50", "p90", "p99", "p999", "max"} from `n` one-way samples (sorted here). */
static void report_latency(const char *bench, uint64_t *rt, size_t n) {
    qsort(rt, n, sizeof *rt, cmp_u64);
    printf("{\"bench\":\"%s\",\"samples\":%zu,\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"p999\":%llu,\"max\":%llu}\n", bench,
           n, (unsigned long long)rt[n / 2], (unsigned long long)rt[n * 9 / 10], (unsigned long long)rt[n * 99 / 100],
           (unsigned long long)rt[n * 999 / 1000], (unsigned long long)rt[n - 1]);
}

/* {"bench", "events", "events_per_sec", "mb_per_sec"} for `n` messages of `size` bytes in `ns`. */
static void report_tput(const char *bench, size_t n, size_t size, uint64_t ns) {
    double secs = ns / 1e9;
    printf("{\"bench\":\"%s\",\"events\":%zu,\"events_per_sec\":%.0f,\"mb_per_sec\":%.1f}\n", bench, n, n / secs,
           n * (double)size / secs / 1e6);
}

#endif /* PEER_COMMON_H */
