/*
 * rbus_clock.h: event timestamps without a system call per event.
 *
 * Records carry raw ticks of the bus's clock kind (stored in the bus header at create): the invariant
 * TSC where the CPU has one (constant_tsc and nonstop_tsc), else CLOCK_REALTIME nanoseconds. The creator
 * calibrates the TSC rate against CLOCK_REALTIME once (5 ms; about 10 ppm); each attaching process
 * takes its own anchor (ticks, realtime) and converts with the shared rate, so the conversion error is
 * the rate error times the time since that process attached, not since the bus was created.
 */
#ifndef RBUS_CLOCK_H
#define RBUS_CLOCK_H

#include <stdint.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "rbus_layout.h"

static inline uint64_t rbus_clock_realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t rbus_clock_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Ticks of the given clock kind. The TSC read is not serialising: a timestamp, not a fence. */
static inline uint64_t rbus_clock_ticks(uint32_t kind) {
#if defined(__x86_64__) || defined(__i386__)
    if (kind == RBUS_CLOCK_TSC) return __rdtsc();
#endif
    (void)kind;
    return rbus_clock_realtime_ns();
}

/* Which clock kind this machine should use for a new bus. */
uint32_t rbus_clock_pick_kind(void);

/* Fills tsc_base, realtime_base_ns and tsc_mult (ns per tick in 32.32 fixed point); takes ~2 ms. */
void rbus_clock_calibrate(uint64_t *tsc_base, uint64_t *realtime_base_ns, uint64_t *tsc_mult);

/* Wall-clock nanoseconds of a record timestamp, given the bus's calibration. */
static inline uint64_t rbus_clock_convert(uint32_t kind, uint64_t ticks, uint64_t tsc_base,
                                          uint64_t realtime_base_ns, uint64_t tsc_mult) {
    if (kind != RBUS_CLOCK_TSC) return ticks;
    if (ticks >= tsc_base) {
        return realtime_base_ns + (uint64_t)(((unsigned __int128)(ticks - tsc_base) * tsc_mult) >> 32);
    }
    uint64_t back = (uint64_t)(((unsigned __int128)(tsc_base - ticks) * tsc_mult) >> 32);
    return back > realtime_base_ns ? 0 : realtime_base_ns - back;
}

#endif /* RBUS_CLOCK_H */
