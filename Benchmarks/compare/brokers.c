/*
 * brokers.c: what users would pick instead of RingBus when they want a message library or a broker,
 * measured like ipc.c: two processes pinned to different CPUs (the broker, if any, runs where the
 * kernel puts it), one-way latency = round trip / 2, and 1 -> 1 messages per second.
 *
 *   brokers zmq pingpong SIZE N           ZeroMQ PAIR sockets over ipc://
 *   brokers zmq tput SIZE N               ZeroMQ PUSH -> PULL over ipc://, one zmq_send per message
 *   brokers redis pingpong SIZE N PORT    Redis pub/sub on 127.0.0.1:PORT (PUBLISH / SUBSCRIBE)
 *   brokers redis tput SIZE N PORT        Redis pub/sub, PUBLISH pipelined 64 at a time
 *   brokers nats pingpong SIZE N PORT     NATS core pub/sub on 127.0.0.1:PORT, by its text protocol
 *   brokers nats tput SIZE N PORT         NATS, PUB written 64 at a time
 *
 * Prints one JSON line like ipc.c. Built by Benchmarks/compare/run.py with -lzmq -lhiredis.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "peer_common.h"

static void latency_line(const char *peer, size_t size, uint64_t *rt, size_t n) {
    char bench[64];
    snprintf(bench, sizeof bench, "%s-pingpong-%zu", peer, size);
    report_latency(bench, rt, n);
}

static void tput_line(const char *peer, size_t size, size_t n, uint64_t ns) {
    char bench[64];
    snprintf(bench, sizeof bench, "%s-tput-%zu", peer, size);
    report_tput(bench, n, size, ns);
}

/* ---- ZeroMQ ----------------------------------------------------------------------------------- */
static void zmq_pingpong(size_t size, size_t n) {
    char ep[96];
    snprintf(ep, sizeof ep, "ipc:///tmp/ringbus-zmq-%d", (int)getpid());
    size_t warm = n / 10 < 1000 ? n / 10 : 1000;
    char *m = calloc(1, size);
    pid_t pid = fork();
    if (pid == 0) {
        pin(1);
        void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_PAIR);
        if (zmq_connect(s, ep)) die("zmq_connect");
        for (size_t i = 0; i < n + warm; i++) {
            if (zmq_recv(s, m, size, 0) < 0 || zmq_send(s, m, size, 0) < 0) die("zmq child");
        }
        zmq_close(s);
        zmq_ctx_term(ctx);
        _exit(0);
    }
    pin(0);
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_PAIR);
    if (zmq_bind(s, ep)) die("zmq_bind");
    uint64_t *rt = malloc(n * sizeof *rt);
    for (size_t i = 0; i < n + warm; i++) {
        uint64_t t0 = now_ns();
        if (zmq_send(s, m, size, 0) < 0 || zmq_recv(s, m, size, 0) < 0) die("zmq parent");
        if (i >= warm) rt[i - warm] = (now_ns() - t0) / 2;
    }
    waitpid(pid, NULL, 0);
    zmq_close(s);
    zmq_ctx_term(ctx);
    latency_line("zmq", size, rt, n);
}

static void zmq_tput(size_t size, size_t n) {
    char ep[96];
    snprintf(ep, sizeof ep, "ipc:///tmp/ringbus-zmq-%d", (int)getpid());
    int fds[2];
    if (pipe(fds)) die("pipe");
    char *m = calloc(1, size);
    pid_t pid = fork();
    if (pid == 0) {
        pin(1);
        void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_PULL);
        int hwm = 100000;
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
        if (zmq_connect(s, ep)) die("zmq_connect");
        uint64_t t0 = 0;
        for (size_t i = 0; i < n; i++) {
            if (zmq_recv(s, m, size, 0) < 0) die("zmq_recv");
            if (i == 0) t0 = now_ns();
        }
        uint64_t dt = now_ns() - t0;
        if (write(fds[1], &dt, sizeof dt) != sizeof dt) die("write");
        zmq_close(s);
        zmq_ctx_term(ctx);
        _exit(0);
    }
    pin(0);
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_PUSH);
    int hwm = 100000;
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (zmq_bind(s, ep)) die("zmq_bind");
    for (size_t i = 0; i < n; i++) if (zmq_send(s, m, size, 0) < 0) die("zmq_send");
    uint64_t dt = 0;
    if (read(fds[0], &dt, sizeof dt) != sizeof dt) die("read");
    waitpid(pid, NULL, 0);
    zmq_close(s);
    zmq_ctx_term(ctx);
    tput_line("zmq", size, n, dt);
}

/* ---- Redis pub/sub ------------------------------------------------------------------------------ */
static redisContext *redis(int port) {
    redisContext *c = redisConnect("127.0.0.1", port);
    if (!c || c->err) die("redisConnect");
    return c;
}

static void sub(redisContext *c, const char *channel) {
    redisReply *r = redisCommand(c, "SUBSCRIBE %s", channel);
    if (!r) die("SUBSCRIBE");
    freeReplyObject(r);
}

/* Waits for the next pub/sub message; returns its payload length. */
static size_t next_message(redisContext *c) {
    redisReply *r;
    if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) die("redisGetReply");
    size_t len = (r->type == REDIS_REPLY_ARRAY && r->elements == 3) ? r->element[2]->len : 0;
    freeReplyObject(r);
    return len;
}

static void redis_pingpong(size_t size, size_t n, int port) {
    size_t warm = n / 10 < 1000 ? n / 10 : 1000;
    char *m = malloc(size);
    memset(m, 'x', size);
    char ch[64], back[64];
    snprintf(ch, sizeof ch, "ping-%d", (int)getpid());
    snprintf(back, sizeof back, "pong-%d", (int)getpid());
    int ready[2];
    if (pipe(ready)) die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        pin(1);
        redisContext *s = redis(port), *p = redis(port);
        sub(s, ch);
        if (write(ready[1], "r", 1) != 1) die("write");
        for (size_t i = 0; i < n + warm; i++) {
            next_message(s);
            freeReplyObject(redisCommand(p, "PUBLISH %s %b", back, m, size));
        }
        _exit(0);
    }
    pin(0);
    redisContext *s = redis(port), *p = redis(port);
    sub(s, back);
    char b;
    if (read(ready[0], &b, 1) != 1) die("read");
    uint64_t *rt = malloc(n * sizeof *rt);
    for (size_t i = 0; i < n + warm; i++) {
        uint64_t t0 = now_ns();
        freeReplyObject(redisCommand(p, "PUBLISH %s %b", ch, m, size));
        next_message(s);
        if (i >= warm) rt[i - warm] = (now_ns() - t0) / 2;
    }
    waitpid(pid, NULL, 0);
    latency_line("redis", size, rt, n);
}

static void redis_tput(size_t size, size_t n, int port) {
    char *m = malloc(size);
    memset(m, 'x', size);
    char ch[64];
    snprintf(ch, sizeof ch, "tput-%d", (int)getpid());
    int fds[2], ready[2];
    if (pipe(fds) || pipe(ready)) die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        pin(1);
        redisContext *s = redis(port);
        sub(s, ch);
        if (write(ready[1], "r", 1) != 1) die("write");
        uint64_t t0 = 0;
        for (size_t i = 0; i < n; i++) {
            next_message(s);
            if (i == 0) t0 = now_ns();
        }
        uint64_t dt = now_ns() - t0;
        if (write(fds[1], &dt, sizeof dt) != sizeof dt) die("write");
        _exit(0);
    }
    pin(0);
    char b;
    if (read(ready[0], &b, 1) != 1) die("read");
    redisContext *p = redis(port);
    for (size_t i = 0; i < n; i += 64) { /* pipelined: 64 PUBLISH commands, then their 64 replies */
        size_t k = n - i < 64 ? n - i : 64;
        for (size_t j = 0; j < k; j++) redisAppendCommand(p, "PUBLISH %s %b", ch, m, size);
        for (size_t j = 0; j < k; j++) {
            redisReply *r;
            if (redisGetReply(p, (void **)&r) != REDIS_OK) die("PUBLISH");
            freeReplyObject(r);
        }
    }
    uint64_t dt = 0;
    if (read(fds[0], &dt, sizeof dt) != sizeof dt) die("read");
    waitpid(pid, NULL, 0);
    tput_line("redis", size, n, dt);
}

/* ---- NATS (core pub/sub, text protocol: INFO, CONNECT, PING/PONG, SUB, PUB, MSG) ----------------- */
typedef struct nats { int fd; char buf[1 << 20]; size_t len, off; } nats;

static void nats_write(nats *c, const void *p, size_t n) {
    const char *q = p;
    while (n) {
        ssize_t r = write(c->fd, q, n);
        if (r <= 0) die("nats write");
        q += r;
        n -= (size_t)r;
    }
}

/* The next protocol line (without CRLF), answering PINGs on the way. */
static char *nats_line(nats *c) {
    for (;;) {
        char *end = memmem(c->buf + c->off, c->len - c->off, "\r\n", 2);
        if (end) {
            char *line = c->buf + c->off;
            *end = 0;
            c->off = (size_t)(end - c->buf) + 2;
            if (!strcmp(line, "PING")) { nats_write(c, "PONG\r\n", 6); continue; }
            return line;
        }
        if (c->off) { memmove(c->buf, c->buf + c->off, c->len - c->off); c->len -= c->off; c->off = 0; }
        ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
        if (r <= 0) die("nats read");
        c->len += (size_t)r;
    }
}

/* Skips `n` payload bytes and their CRLF. */
static void nats_skip(nats *c, size_t n) {
    n += 2;
    while (c->len - c->off < n) {
        n -= c->len - c->off;
        c->off = c->len = 0;
        ssize_t r = read(c->fd, c->buf, sizeof c->buf);
        if (r <= 0) die("nats read");
        c->len = (size_t)r;
    }
    c->off += n;
}

static nats *nats_connect(int port) {
    nats *c = calloc(1, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a)) die("nats connect");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    nats_line(c); /* INFO */
    const char *hello = "CONNECT {\"verbose\":false,\"pedantic\":false,\"echo\":false}\r\nPING\r\n";
    nats_write(c, hello, strlen(hello));
    while (strcmp(nats_line(c), "PONG")) {}
    return c;
}

static void nats_sub(nats *c, const char *subject) {
    char cmd[128];
    int n = snprintf(cmd, sizeof cmd, "SUB %s 1\r\nPING\r\n", subject);
    nats_write(c, cmd, (size_t)n);
    while (strcmp(nats_line(c), "PONG")) {} /* the server has the subscription */
}

/* Waits for the next MSG; returns its size. */
static size_t nats_next(nats *c) {
    for (;;) {
        char *line = nats_line(c);
        if (strncmp(line, "MSG ", 4)) continue;
        char *last = strrchr(line, ' ');
        size_t n = strtoull(last + 1, NULL, 10);
        nats_skip(c, n);
        return n;
    }
}

static size_t nats_pub_frame(char *out, const char *subject, const char *m, size_t size) {
    int h = sprintf(out, "PUB %s %zu\r\n", subject, size);
    memcpy(out + h, m, size);
    memcpy(out + h + size, "\r\n", 2);
    return (size_t)h + size + 2;
}

static void nats_pingpong(size_t size, size_t n, int port) {
    size_t warm = n / 10 < 1000 ? n / 10 : 1000;
    char *m = malloc(size), *frame = malloc(size + 128);
    memset(m, 'x', size);
    char ping[64], pong[64];
    snprintf(ping, sizeof ping, "ping.%d", (int)getpid());
    snprintf(pong, sizeof pong, "pong.%d", (int)getpid());
    int ready[2];
    if (pipe(ready)) die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        pin(1);
        nats *c = nats_connect(port);
        nats_sub(c, ping);
        if (write(ready[1], "r", 1) != 1) die("write");
        size_t fl = nats_pub_frame(frame, pong, m, size);
        for (size_t i = 0; i < n + warm; i++) {
            nats_next(c);
            nats_write(c, frame, fl);
        }
        _exit(0);
    }
    pin(0);
    nats *c = nats_connect(port);
    nats_sub(c, pong);
    char b;
    if (read(ready[0], &b, 1) != 1) die("read");
    size_t fl = nats_pub_frame(frame, ping, m, size);
    uint64_t *rt = malloc(n * sizeof *rt);
    for (size_t i = 0; i < n + warm; i++) {
        uint64_t t0 = now_ns();
        nats_write(c, frame, fl);
        nats_next(c);
        if (i >= warm) rt[i - warm] = (now_ns() - t0) / 2;
    }
    waitpid(pid, NULL, 0);
    latency_line("nats", size, rt, n);
}

static void nats_tput(size_t size, size_t n, int port) {
    char *m = malloc(size);
    memset(m, 'x', size);
    char subject[64];
    snprintf(subject, sizeof subject, "tput.%d", (int)getpid());
    int fds[2], ready[2];
    if (pipe(fds) || pipe(ready)) die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        pin(1);
        nats *c = nats_connect(port);
        nats_sub(c, subject);
        if (write(ready[1], "r", 1) != 1) die("write");
        uint64_t t0 = 0;
        for (size_t i = 0; i < n; i++) {
            nats_next(c);
            if (i == 0) t0 = now_ns();
        }
        uint64_t dt = now_ns() - t0;
        if (write(fds[1], &dt, sizeof dt) != sizeof dt) die("write");
        _exit(0);
    }
    pin(0);
    char b;
    if (read(ready[0], &b, 1) != 1) die("read");
    nats *c = nats_connect(port);
    size_t one = size + 128;
    char *batch = malloc(one * 64);
    for (size_t i = 0; i < n; i += 64) { /* 64 PUB frames per write */
        size_t k = n - i < 64 ? n - i : 64, len = 0;
        for (size_t j = 0; j < k; j++) len += nats_pub_frame(batch + len, subject, m, size);
        nats_write(c, batch, len);
    }
    uint64_t dt = 0;
    if (read(fds[0], &dt, sizeof dt) != sizeof dt) die("read");
    waitpid(pid, NULL, 0);
    tput_line("nats", size, n, dt);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: brokers zmq|redis pingpong|tput SIZE N [PORT]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    size_t size = strtoull(argv[3], NULL, 10), n = strtoull(argv[4], NULL, 10);
    int port = argc > 5 ? atoi(argv[5]) : 6379;
    if (size < 8 || n < 10) die("bad arguments");
    if (!strcmp(argv[1], "zmq")) {
        if (!strcmp(argv[2], "pingpong")) zmq_pingpong(size, n); else zmq_tput(size, n);
    } else if (!strcmp(argv[1], "redis")) {
        if (!strcmp(argv[2], "pingpong")) redis_pingpong(size, n, port); else redis_tput(size, n, port);
    } else if (!strcmp(argv[1], "nats")) {
        if (!strcmp(argv[2], "pingpong")) nats_pingpong(size, n, port); else nats_tput(size, n, port);
    } else {
        die("unknown peer");
    }
    return 0;
}
