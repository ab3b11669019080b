/*
 * alloc_counter.h: counts heap allocations in the test peer process (issue 4's zero-allocation proof).
 *
 * Linked only into RingBusTestPeer: alloc_counter.c defines malloc, calloc, realloc, posix_memalign,
 * aligned_alloc, memalign and valloc, which interpose glibc's for the whole process (an executable's
 * definitions come first in symbol lookup), count each call, and forward to glibc's __libc_* entry
 * points. Frees are not counted: an allocation is what the hot path must not do.
 */
#ifndef ALLOC_COUNTER_H
#define ALLOC_COUNTER_H

#include <stdint.h>

/* Allocation calls (of any kind) since the process started; UINT64_MAX in a sanitizer build, where the
 * sanitizer's allocator owns malloc and this counter is not installed. */
uint64_t alloc_counter_allocations(void);

#endif /* ALLOC_COUNTER_H */
