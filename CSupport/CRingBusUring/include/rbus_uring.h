/*
 * rbus_uring.h: what io_uring offers this process, probed at run time (never assumed).
 *
 * io_uring futex operations (kernel >= 6.7) could let one thread wait on many doorbells; Docker's
 * default seccomp profile blocks io_uring and users' kernels may be older, so nothing depends on them:
 * every wait in rbus_wait.h, the bus thread's included, uses futex(2) / futex_waitv(2). Today the only
 * caller of rbus_uring_probe is its test (Tests/CRingBusTests/SegmentTests.swift, "io_uring and its
 * futex opcodes are probed at run time"); neither the library, the bus thread nor the `ringbus` CLI
 * calls it; it is kept as the probe an io_uring wait would start from. Only uring.c includes
 * <liburing.h>; it is a target of its own (CRingBusUring), so the library does not link liburing.
 */
#ifndef RBUS_URING_H
#define RBUS_URING_H

typedef struct rbus_uring_support {
    int io_uring;             /* 1 if io_uring_setup works here */
    int futex_wait;           /* 1 if IORING_OP_FUTEX_WAIT is supported */
    int futex_waitv;          /* 1 if IORING_OP_FUTEX_WAITV is supported */
    int setup_errno;          /* errno of a failed io_uring_setup, else 0 */
} rbus_uring_support;

void rbus_uring_probe(rbus_uring_support *out);

#endif /* RBUS_URING_H */
