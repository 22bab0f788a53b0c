/*
 * bench_credev.c -- what a poll of huellad's credential-event feed costs
 * (CREDENTIAL_EVENTS, matcher/credential_events.c), next to a PING round
 * trip over the same link in the same run.
 *
 * Writes EVENTS events (default 1000) straight into a temp data directory,
 * forks a real huellad on it (ops + ipc_server from libhuella), then times
 * CALLS round trips of: PING (ring thread), a poll with nothing new (SINCE
 * = head: what every nginx sends each interval), and a catch-up of all
 * EVENTS (SINCE = 0, MAX_EVENTS 1024, as many polls as one message holds;
 * what a follower that fell EVENTS behind does).  Prints p50/p99 and the
 * ratios to PING's p50.
 *
 *   bench_credev [EVENTS [CALLS]]        (defaults 1000, 2000)
 */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "credential_events.h"
#include "huella_ipc.h"
#include "ipc_client.h"
#include "ipc_server.h"
#include "ops.h"
#include "store.h"

static char      dir[64], sock[96], data[96];
static uint8_t   req[256], rep[HIPC_PAYLOAD_MAX];

static uint64_t
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t  x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return (x > y) - (x < y);
}

static void
fill(unsigned events)
{
    struct store  *st;
    MDB_dbi        dbi;
    MDB_txn       *txn;
    char           err[256], curp[32];
    unsigned       i;

    if (store_open(&st, data, 256u << 20, 16, err, sizeof(err)) != 0
        || credev_open(store_env(st), &dbi) != 0
        || store_write_begin(st, NULL, &txn) != 0)
    {
        fprintf(stderr, "bench_credev: %s\n", err);
        exit(1);
    }
    for (i = 0; i < events; i++) {
        snprintf(curp, sizeof(curp), "GARJ850312HDF%05u", i % 100000);
        if (credev_append(txn, dbi, curp, i % 3 ? CREDEV_PASSWORD
                : CREDEV_ROLES, 1790000000000ull + i, CREDEV_KEEP_DEFAULT,
                NULL) != 0)
        {
            fprintf(stderr, "bench_credev: append failed\n");
            exit(1);
        }
    }
    if (mdb_txn_commit(txn) != 0) {
        fprintf(stderr, "bench_credev: commit failed\n");
        exit(1);
    }
    store_close(st);
}

static pid_t
serve(void)
{
    struct hd_config  cfg;
    char              err[512];
    pid_t             pid = fork();

    if (pid == 0) {
        config_defaults(&cfg);
        snprintf(cfg.socket_path, sizeof(cfg.socket_path), "%s", sock);
        snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", data);
        cfg.map_size_mb = 256;
        if (ops_init(&cfg, err, sizeof(err)) != 0
            || ipc_server_start(&cfg, err, sizeof(err)) != 0)
        {
            fprintf(stderr, "bench_credev: huellad: %s\n", err);
            _exit(1);
        }
        for (;;) {
            pause();
        }
    }
    return pid;
}

static int
call(struct hipc_client *c, uint16_t op, size_t len, size_t *rep_len)
{
    int  status;

    if (hipc_client_call(c, op, req, len, rep, sizeof(rep), rep_len,
            &status, 10000) != 0 || status != HIPC_ST_OK)
    {
        fprintf(stderr, "bench_credev: op %u failed\n", op);
        exit(1);
    }
    return status;
}

/* One poll from since; the last event's seq (since when none), *n events. */
static uint64_t
poll_once(struct hipc_client *c, uint64_t since, unsigned *n, size_t *bytes)
{
    struct hipc_writer  w;
    struct hipc_reader  r, in;
    const uint8_t      *d, *e;
    uint32_t            len, m;
    uint16_t            tag, t;
    uint64_t            last = since;
    size_t              rl;

    hipc_writer_init(&w, req, sizeof(req));
    hipc_put_u64(&w, HIPC_F_SINCE, since);
    hipc_put_u32(&w, HIPC_F_MAX_EVENTS, 1024);
    call(c, HIPC_OP_CREDENTIAL_EVENTS, w.len, &rl);
    *n = 0;
    *bytes += rl;
    hipc_reader_init(&r, rep, rl);
    while (hipc_next(&r, &tag, &d, &len) == 1) {
        if (tag != HIPC_F_CRED_EVENT) {
            continue;
        }
        (*n)++;
        hipc_reader_init(&in, d, len);
        while (hipc_next(&in, &t, &e, &m) == 1) {
            if (t == HIPC_F_SEQ) {
                hipc_get_u64(e, m, &last);
            }
        }
    }
    return last;
}

static void
report(const char *what, uint64_t *ns, int calls, double base)
{
    qsort(ns, (size_t) calls, sizeof(*ns), cmp_u64);
    printf("%-34s p50 %8.1f us  p99 %8.1f us  x%.1f PING\n", what,
        ns[calls / 2] / 1e3, ns[calls * 99 / 100] / 1e3,
        base > 0 ? ns[calls / 2] / base : 1.0);
}

int
main(int argc, char **argv)
{
    unsigned             events = argc > 1 ? (unsigned) atoi(argv[1]) : 1000;
    int                  calls = argc > 2 ? atoi(argv[2]) : 2000, i;
    struct hipc_client  *c = NULL;
    uint64_t            *ping, *idle, *catchup, t0, seq;
    size_t               rl, bytes = 0;
    unsigned             n, got, polls = 0;
    double               base;
    char                 err[256];
    pid_t                pid;

    snprintf(dir, sizeof(dir), "/tmp/huella-bench-ev-XXXXXX");
    if (mkdtemp(dir) == NULL || events == 0 || calls < 10) {
        fprintf(stderr, "usage: bench_credev [EVENTS [CALLS]]\n");
        return 2;
    }
    snprintf(sock, sizeof(sock), "%s/huellad.sock", dir);
    snprintf(data, sizeof(data), "%s/data", dir);
    fill(events);
    pid = serve();
    for (i = 0; i < 300 && c == NULL; i++) {
        c = hipc_client_connect(sock, 2000, err, sizeof(err));
        if (c == NULL) {
            usleep(10000);
        }
    }
    if (c == NULL) {
        fprintf(stderr, "bench_credev: %s\n", err);
        kill(pid, SIGKILL);
        return 1;
    }
    ping = calloc((size_t) calls, sizeof(*ping));
    idle = calloc((size_t) calls, sizeof(*idle));
    catchup = calloc((size_t) calls, sizeof(*catchup));

    for (i = -calls / 10; i < calls; i++) {      /* warm-up first */
        t0 = now_ns();
        call(c, HIPC_OP_PING, 0, &rl);
        if (i >= 0) {
            ping[i] = now_ns() - t0;
        }
        t0 = now_ns();
        (void) poll_once(c, events, &n, &bytes);
        if (i >= 0) {
            idle[i] = now_ns() - t0;
        }
        if (n != 0) {
            fprintf(stderr, "bench_credev: events after the head\n");
            return 1;
        }
    }
    for (i = 0; i < calls; i++) {
        t0 = now_ns();
        seq = 0;
        got = 0;
        bytes = 0;
        polls = 0;
        while (seq < events) {
            seq = poll_once(c, seq, &n, &bytes);
            got += n;
            polls++;
        }
        catchup[i] = now_ns() - t0;
        if (got != events) {
            fprintf(stderr, "bench_credev: %u events, want %u\n", got,
                events);
            return 1;
        }
    }
    base = 0;
    report("PING", ping, calls, 0);
    qsort(ping, (size_t) calls, sizeof(*ping), cmp_u64);
    base = (double) ping[calls / 2];
    report("poll, nothing new", idle, calls, base);
    snprintf(err, sizeof(err), "catch-up of %u events (%u polls)", events,
        polls);
    report(err, catchup, calls, base);
    printf("catch-up reply bytes: %zu (%.1f per event)\n", bytes,
        (double) bytes / events);

    hipc_client_close(c);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    snprintf(err, sizeof(err), "rm -rf '%s'", dir);
    if (system(err) != 0) {
        /* leave it */
    }
    return 0;
}
