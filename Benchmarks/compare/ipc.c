/*
 * ipc.c: what users would pick instead of RingBus on one host, measured the way Benchmarks/ring
 * measures RingBus: two processes pinned to different CPUs, 64 B / 1 KiB / 64 KiB messages.
 *
 *   ipc pingpong pipe|uds|mq SIZE N        one-way latency (round trip / 2) percentiles, ns
 *   ipc tput pipe|uds|mq SIZE N BATCH      1 -> 1 messages per second; BATCH messages per write(2)
 *                                          (uds and pipe; mq sends one message per mq_send)
 * Prints one JSON line: {"bench", "samples", "p50", "p90", "p99", "p999", "max"} or
 * {"bench", "events", "events_per_sec", "mb_per_sec"}.
 *
 * pipe: two pipes; uds: a SOCK_STREAM socketpair (the framing is fixed-size); mq: two POSIX message
 * queues. Latency uses CLOCK_MONOTONIC around each round trip.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "peer_common.h"

/* Reads or writes exactly n bytes (streams may split). */
static void full_read(int fd, void *buf, size_t n) {
    uint8_t *p = buf;
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) die("read");
        p += r;
        n -= (size_t)r;
    }
}

static void full_write(int fd, const void *buf, size_t n) {
    const uint8_t *p = buf;
    while (n) {
        ssize_t r = write(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) die("write");
        p += r;
        n -= (size_t)r;
    }
}

/* A channel in each direction: fds for pipe/uds, queues for mq. */
typedef struct chan { int rfd, wfd; mqd_t rq, wq; int kind; size_t size; } chan;
enum { PIPE, UDS, MQ };

static void send_msg(chan *c, const void *m, size_t n) {
    if (c->kind == MQ) {
        while (mq_send(c->wq, m, n, 0) != 0) if (errno != EINTR) die("mq_send");
    } else {
        full_write(c->wfd, m, n);
    }
}

static void recv_msg(chan *c, void *m, size_t n) {
    if (c->kind == MQ) {
        for (;;) {
            ssize_t r = mq_receive(c->rq, m, c->size < 8192 ? 8192 : c->size, NULL);
            if (r >= 0) return;
            if (errno != EINTR) die("mq_receive");
        }
    } else {
        full_read(c->rfd, m, n);
    }
}

static char qa[64], qb[64];

/* Sets up a <-> b: `a` is the parent's end, `b` the child's. */
static void make_channels(int kind, size_t size, chan *a, chan *b) {
    memset(a, 0, sizeof *a);
    memset(b, 0, sizeof *b);
    a->kind = b->kind = kind;
    a->size = b->size = size;
    if (kind == PIPE) {
        int p1[2], p2[2];
        if (pipe(p1) || pipe(p2)) die("pipe");
        fcntl(p1[1], F_SETPIPE_SZ, 1 << 20);
        fcntl(p2[1], F_SETPIPE_SZ, 1 << 20);
        a->wfd = p1[1]; b->rfd = p1[0];
        b->wfd = p2[1]; a->rfd = p2[0];
    } else if (kind == UDS) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) die("socketpair");
        int buf = 4 << 20;
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
        setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
        a->rfd = a->wfd = sv[0];
        b->rfd = b->wfd = sv[1];
    } else {
        snprintf(qa, sizeof qa, "/ipcbench-%d-a", (int)getpid());
        snprintf(qb, sizeof qb, "/ipcbench-%d-b", (int)getpid());
        struct mq_attr attr = {0};
        attr.mq_maxmsg = 10; /* the default limit for unprivileged queues (/proc/sys/fs/mqueue/msg_max) */
        attr.mq_msgsize = (long)(size < 8192 ? 8192 : size);
        mq_unlink(qa);
        mq_unlink(qb);
        a->wq = mq_open(qa, O_CREAT | O_WRONLY, 0600, &attr);
        b->rq = mq_open(qa, O_RDONLY);
        b->wq = mq_open(qb, O_CREAT | O_WRONLY, 0600, &attr);
        a->rq = mq_open(qb, O_RDONLY);
        if (a->wq < 0 || b->rq < 0 || b->wq < 0 || a->rq < 0) die("mq_open (msgsize above /proc/sys/fs/mqueue/msgsize_max?)");
    }
}

static const char *kind_name(int k) { return k == PIPE ? "pipe" : k == UDS ? "uds" : "mq"; }

static void pingpong(int kind, size_t size, size_t n) {
    chan a, b;
    make_channels(kind, size, &a, &b);
    uint8_t *m = calloc(1, size < 8192 ? 8192 : size);
    size_t warm = n / 10 < 1000 ? n / 10 : 1000;
    pid_t pid = fork();
    if (pid == 0) {
        pin(1);
        for (size_t i = 0; i < n + warm; i++) {
            recv_msg(&b, m, size);
            send_msg(&b, m, size);
        }
        _exit(0);
    }
    pin(0);
    uint64_t *rt = malloc(n * sizeof *rt);
    for (size_t i = 0; i < n + warm; i++) {
        uint64_t t0 = now_ns();
        send_msg(&a, m, size);
        recv_msg(&a, m, size);
        if (i >= warm) rt[i - warm] = (now_ns() - t0) / 2;
    }
    waitpid(pid, NULL, 0);
    char bench[64];
    snprintf(bench, sizeof bench, "%s-pingpong-%zu", kind_name(kind), size);
    report_latency(bench, rt, n);
    if (kind == MQ) { mq_unlink(qa); mq_unlink(qb); }
}

static void tput(int kind, size_t size, size_t n, size_t batch) {
    chan a, b;
    make_channels(kind, size, &a, &b);
    if (kind == MQ) batch = 1;
    size_t chunk = size * batch;
    uint8_t *m = calloc(1, chunk < 8192 ? 8192 : chunk);
    pid_t pid = fork();
    if (pid == 0) {
        pin(1);
        uint64_t t0 = 0;
        for (size_t i = 0; i < n; i += batch) {
            size_t k = n - i < batch ? n - i : batch;
            recv_msg(&b, m, size * k);
            if (i == 0) t0 = now_ns();
        }
        uint64_t dt = now_ns() - t0;
        send_msg(&b, &dt, sizeof dt < size ? sizeof dt : size); /* report back (mq: at least 8 bytes) */
        _exit(0);
    }
    pin(0);
    for (size_t i = 0; i < n; i += batch) {
        size_t k = n - i < batch ? n - i : batch;
        send_msg(&a, m, size * k);
    }
    uint64_t dt = 0;
    recv_msg(&a, m, sizeof dt);
    memcpy(&dt, m, sizeof dt);
    waitpid(pid, NULL, 0);
    char bench[64];
    snprintf(bench, sizeof bench, "%s-tput-b%zu-%zu", kind_name(kind), batch, size);
    report_tput(bench, n, size, dt);
    if (kind == MQ) { mq_unlink(qa); mq_unlink(qb); }
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: ipc pingpong|tput pipe|uds|mq SIZE N [BATCH]\n");
        return 2;
    }
    int kind = !strcmp(argv[2], "pipe") ? PIPE : !strcmp(argv[2], "uds") ? UDS : !strcmp(argv[2], "mq") ? MQ : -1;
    size_t size = strtoull(argv[3], NULL, 10), n = strtoull(argv[4], NULL, 10);
    if (kind < 0 || size < 8 || n < 10) {
        fprintf(stderr, "ipc: bad arguments\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(argv[1], "pingpong")) pingpong(kind, size, n);
    else tput(kind, size, n, argc > 5 ? strtoull(argv[5], NULL, 10) : 1);
    return 0;
}
