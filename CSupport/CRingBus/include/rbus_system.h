/*
 * rbus_system.h: small facts about and requests to the machine (CPU count, thread pinning), for the
 * benchmarks and the demo: two spinners on one CPU take turns by scheduler ticks, milliseconds apart.
 */
#ifndef RBUS_SYSTEM_H
#define RBUS_SYSTEM_H

#include <stdint.h>

/* Online CPUs (at least 1). */
int rbus_online_cpus(void);

/* Pins the calling thread to CPU `cpu` modulo the online CPUs; 0 or -errno. */
int rbus_pin_thread(int cpu);

/* The one-cache-line floor: the median one-way time (ns) of a 64-byte line bounced `rounds` times
 * between this thread (pinned to CPU 0 meanwhile) and a thread pinned to CPU 1, including half a clock
 * read per round trip. 0 on a single-CPU machine. Spins both CPUs for the duration. */
uint64_t rbus_measure_floor_ns(uint32_t rounds);

/* A spin-wait hint to the CPU (x86 `pause`): lets the sibling hyperthread run and saves power. */
static inline void rbus_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Asks for the cache line at `p` in a writable state ahead of a store to it (x86 `prefetchw`). */
static inline void rbus_prefetch_for_write(const void *p) { __builtin_prefetch(p, 1, 3); }

#endif /* RBUS_SYSTEM_H */
