/*
 * clock.c: picks the bus clock and calibrates the TSC against CLOCK_REALTIME (creator only, once).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "include/rbus_clock.h"

uint32_t rbus_clock_pick_kind(void) {
#if defined(__x86_64__) || defined(__i386__)
    const char *force = getenv("RINGBUS_CLOCK");
    if (force && strcmp(force, "realtime") == 0) return RBUS_CLOCK_REALTIME;
    /* Only an invariant TSC (constant rate, ticking in deep C-states) is a clock across CPUs. */
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return RBUS_CLOCK_REALTIME;
    char line[4096];
    int constant = 0, nonstop = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5) != 0) continue;
        constant = strstr(line, " constant_tsc") != NULL;
        nonstop = strstr(line, " nonstop_tsc") != NULL;
        break;
    }
    fclose(f);
    return constant && nonstop ? RBUS_CLOCK_TSC : RBUS_CLOCK_REALTIME;
#else
    return RBUS_CLOCK_REALTIME;
#endif
}

/* Brackets a realtime read between two TSC reads and keeps the tightest of a few tries. */
static void sample(uint64_t *tsc, uint64_t *rt) {
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 5; i++) {
        uint64_t a = rbus_clock_ticks(RBUS_CLOCK_TSC);
        uint64_t r = rbus_clock_realtime_ns();
        uint64_t b = rbus_clock_ticks(RBUS_CLOCK_TSC);
        if (b - a < best) {
            best = b - a;
            *tsc = a + (b - a) / 2;
            *rt = r;
        }
    }
}

void rbus_clock_calibrate(uint64_t *tsc_base, uint64_t *realtime_base_ns, uint64_t *tsc_mult) {
    uint64_t t0, r0, t1, r1;
    sample(&t0, &r0);
    struct timespec ts = {0, 5 * 1000000};
    nanosleep(&ts, NULL);
    sample(&t1, &r1);
    uint64_t dt = t1 > t0 ? t1 - t0 : 1;
    *tsc_mult = (uint64_t)(((unsigned __int128)(r1 - r0) << 32) / dt);
    *tsc_base = t1;
    *realtime_base_ns = r1;
}
