/*
 * rbus_testing.h: helpers for tests and benchmarks only (never used by the library's own paths).
 */
#ifndef RBUS_TESTING_H
#define RBUS_TESTING_H

#include <stdint.h>

#include "rbus_ring.h"

/* Fills `n` bytes with a pattern derived from `seed` and returns its 64-bit checksum. */
uint64_t rbus_test_fill(uint8_t *dst, uint32_t n, uint64_t seed);
/* The checksum rbus_test_fill would return for these bytes (FNV-1a 64). */
uint64_t rbus_test_checksum(const uint8_t *src, uint32_t n);

/* Lost-wakeup litmus: two threads race the real P1/P2/P3 commit against the real W1/W2/W3 steps
 * `iterations` times; returns how many rounds lost a wakeup (W3 saw no data and the doorbell did not
 * move). Must be 0; deleting the P2 fence makes it positive on x86. Needs a bus with one stream. */
uint64_t rbus_test_wakeup_litmus(rbus_bus *b, uint64_t iterations);

/* Space-wakeup litmus: the consumer's cursor commit + space check against the producer's flag store +
 * rescan. Returns lost wakeups. Needs a bus with one stream and a free slot. */
uint64_t rbus_test_space_litmus(rbus_bus *b, uint64_t iterations);

#endif /* RBUS_TESTING_H */
