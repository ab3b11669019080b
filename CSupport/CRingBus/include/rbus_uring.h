/*
 * rbus_uring.h: what io_uring offers this process, probed at run time (never assumed).
 *
 * io_uring futex operations (kernel >= 6.7) would let one bus thread wait on many doorbells without a
 * thread per wait; Docker's default seccomp profile blocks io_uring and users' kernels may be older,
 * so correctness never depends on them: the waits in rbus_wait.h use futex(2). This probe reports
 * availability for the bus thread and for `ringbus` diagnostics. Only uring.c includes <liburing.h>.
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
