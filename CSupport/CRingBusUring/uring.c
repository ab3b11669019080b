/*
 * uring.c: probes io_uring and its futex opcodes at run time. The only file that includes liburing.
 * Debian's liburing 2.3 has no futex helpers and its uapi headers do not name the opcodes, so the
 * numbers come from the kernel's uapi (linux/io_uring.h, 6.7+).
 */
#include <errno.h>
#include <liburing.h>
#include <string.h>

#include "include/rbus_uring.h"

enum { RBUS_IORING_OP_FUTEX_WAIT = 51, RBUS_IORING_OP_FUTEX_WAITV = 53 };

void rbus_uring_probe(rbus_uring_support *out) {
    memset(out, 0, sizeof *out);
    struct io_uring ring;
    int r = io_uring_queue_init(2, &ring, 0);
    if (r < 0) {
        out->setup_errno = -r;
        return;
    }
    out->io_uring = 1;
    struct io_uring_probe *probe = io_uring_get_probe_ring(&ring);
    if (probe) {
        out->futex_wait = io_uring_opcode_supported(probe, RBUS_IORING_OP_FUTEX_WAIT);
        out->futex_waitv = io_uring_opcode_supported(probe, RBUS_IORING_OP_FUTEX_WAITV);
        io_uring_free_probe(probe);
    }
    io_uring_queue_exit(&ring);
}
