/*
 * bench_ipc.c -- round-trip latency of huellad's shared-memory link next to
 * a unix-domain-socket round trip of the same payload.
 *
 * Forks two servers: a real huellad (ops + ipc_server from libhuella, temp
 * data directory, default config: spin_us 50) and a plain blocking UDS echo
 * server (a thread per connection, 4-byte length + payload frames).  Then
 * measures 1 KiB ECHO round trips with 1, 2 and 4 concurrent clients (each
 * its own region or connection, each in its own thread), and prints p50/p99
 * of both and the shm/uds ratio.  Goal (issue 2): shm at most a third of
 * uds under load.
 *
 *   bench_ipc [CALLS_PER_CLIENT]        (default 20000)
 */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ipc_client.h"
#include "ipc_server.h"
#include "ops.h"

#define PAYLOAD  1024
#define WARMUP   1000

static char  dir[64], shm_sock[96], uds_sock[96];
static int   calls = 20000;

static uint64_t
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* ---- the UDS echo server --------------------------------------------------- */

static int
full_io(int fd, void *buf, size_t len, int wr)
{
    size_t   done = 0;
    ssize_t  n;

    while (done < len) {
        n = wr ? write(fd, (char *) buf + done, len - done)
               : read(fd, (char *) buf + done, len - done);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            return -1;
        }
        done += (size_t) n;
    }
    return 0;
}

static void *
uds_conn(void *arg)
{
    int       fd = (int) (intptr_t) arg;
    char      buf[PAYLOAD * 2];
    uint32_t  len;

    while (full_io(fd, &len, 4, 0) == 0 && len <= sizeof(buf)
           && full_io(fd, buf, len, 0) == 0)
    {
        if (full_io(fd, &len, 4, 1) != 0 || full_io(fd, buf, len, 1) != 0) {
            break;
        }
    }
    close(fd);
    return NULL;
}

static void
uds_server(void)
{
    struct sockaddr_un  sa = { .sun_family = AF_UNIX };
    int                 lfd = socket(AF_UNIX, SOCK_STREAM, 0), fd;
    pthread_t           t;

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", uds_sock);
    if (lfd < 0 || bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) != 0
        || listen(lfd, 64) != 0)
    {
        perror("uds server");
        _exit(1);
    }
    for (;;) {
        fd = accept(lfd, NULL, NULL);
        if (fd >= 0) {
            pthread_create(&t, NULL, uds_conn, (void *) (intptr_t) fd);
            pthread_detach(t);
        }
    }
}

static void
shm_server(void)
{
    struct hd_config  cfg;
    char              err[512];

    config_defaults(&cfg);
    snprintf(cfg.socket_path, sizeof(cfg.socket_path), "%s", shm_sock);
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s/data", dir);
    cfg.map_size_mb = 64;
    if (ops_init(&cfg, err, sizeof(err)) != 0
        || ipc_server_start(&cfg, err, sizeof(err)) != 0)
    {
        fprintf(stderr, "bench_ipc: huellad: %s\n", err);
        _exit(1);
    }
    for (;;) {
        pause();
    }
}

/* ---- clients ------------------------------------------------------------- */

struct run {
    int        shm;
    uint64_t  *lat;       /* calls entries */
    int        failed;
};

static void *
client_main(void *arg)
{
    struct run          *r = arg;
    char                 req[PAYLOAD], rep[PAYLOAD * 2], err[256];
    struct hipc_client  *c = NULL;
    struct sockaddr_un   sa = { .sun_family = AF_UNIX };
    int                  fd = -1, i, st;
    size_t               len;
    uint32_t             n = PAYLOAD;
    uint64_t             t0;

    memset(req, 'x', sizeof(req));
    if (r->shm) {
        c = hipc_client_connect(shm_sock, 2000, err, sizeof(err));
        if (c == NULL) {
            fprintf(stderr, "bench_ipc: %s\n", err);
            r->failed = 1;
            return NULL;
        }
        /* shm == 2: the client also spins (up to 50 us) before sleeping,
         * as a busy nginx worker effectively does. */
        hipc_client_set_spin(c, r->shm == 2 ? 50 : 0);
    } else {
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", uds_sock);
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
            perror("bench_ipc: uds connect");
            r->failed = 1;
            return NULL;
        }
    }
    for (i = -WARMUP; i < calls; i++) {
        t0 = now_ns();
        if (r->shm) {
            if (hipc_client_call(c, HIPC_OP_ECHO, req, sizeof(req), rep,
                    sizeof(rep), &len, &st, 2000) != 0 || st != HIPC_ST_OK
                || len != PAYLOAD)
            {
                r->failed = 1;
                break;
            }
        } else {
            if (full_io(fd, &n, 4, 1) != 0 || full_io(fd, req, n, 1) != 0
                || full_io(fd, &n, 4, 0) != 0 || n != PAYLOAD
                || full_io(fd, rep, n, 0) != 0)
            {
                r->failed = 1;
                break;
            }
        }
        if (i >= 0) {
            r->lat[i] = now_ns() - t0;
        }
    }
    if (c) {
        hipc_client_close(c);
    }
    if (fd >= 0) {
        close(fd);
    }
    return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t  x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return x < y ? -1 : x > y;
}

/* Runs nclients concurrent clients; p50/p99 in microseconds. */
static int
measure(int shm, int nclients, double *p50, double *p99)
{
    struct run  r[8];
    pthread_t   t[8];
    uint64_t   *all = malloc((size_t) calls * nclients * sizeof(uint64_t));
    int         i, failed = 0;
    size_t      n = (size_t) calls * nclients;

    for (i = 0; i < nclients; i++) {
        r[i].shm = shm;
        r[i].lat = all + (size_t) i * calls;
        r[i].failed = 0;
        pthread_create(&t[i], NULL, client_main, &r[i]);
    }
    for (i = 0; i < nclients; i++) {
        pthread_join(t[i], NULL);
        failed |= r[i].failed;
    }
    qsort(all, n, sizeof(*all), cmp_u64);
    *p50 = (double) all[n / 2] / 1e3;
    *p99 = (double) all[n * 99 / 100] / 1e3;
    free(all);
    return failed ? -1 : 0;
}

static int
wait_socket(const char *path)
{
    struct sockaddr_un  sa = { .sun_family = AF_UNIX };
    int                 i, fd, ok;

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    for (i = 0; i < 300; i++) {
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        ok = connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0;
        close(fd);
        if (ok) {
            return 0;
        }
        usleep(10000);
    }
    return -1;
}

int
main(int argc, char **argv)
{
    static const int  loads[] = { 1, 2, 4 };
    pid_t             shm_pid, uds_pid;
    double            s50, s99, u50, u99, b50, b99;
    char              cmd[128];
    size_t            i;
    int               rc = 0;

    if (argc > 1) {
        calls = atoi(argv[1]);
        if (calls < 100) {
            calls = 100;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof(dir), "/tmp/huella-bench-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(shm_sock, sizeof(shm_sock), "%s/huellad.sock", dir);
    snprintf(uds_sock, sizeof(uds_sock), "%s/echo.sock", dir);
    if ((shm_pid = fork()) == 0) {
        shm_server();
    }
    if ((uds_pid = fork()) == 0) {
        uds_server();
    }
    if (wait_socket(shm_sock) != 0 || wait_socket(uds_sock) != 0) {
        fprintf(stderr, "bench_ipc: servers did not start\n");
        rc = 1;
        goto out;
    }
    printf("IPC round trip, %d B ECHO request and reply, %d calls per "
        "client, %ld CPUs\n", PAYLOAD, calls, sysconf(_SC_NPROCESSORS_ONLN));
    printf("shm: client sleeps in poll() like an idle nginx worker; "
        "shm+spin: client spins <= 50 us first\n");
    printf("%-8s %17s %17s %17s %11s %11s\n", "clients", "shm p50/p99 us",
        "shm+spin p50/p99", "uds p50/p99 us", "shm/uds p50", "shm/uds p99");
    for (i = 0; i < sizeof(loads) / sizeof(loads[0]); i++) {
        if (measure(1, loads[i], &s50, &s99) != 0
            || measure(2, loads[i], &b50, &b99) != 0
            || measure(0, loads[i], &u50, &u99) != 0)
        {
            fprintf(stderr, "bench_ipc: a call failed\n");
            rc = 1;
            break;
        }
        printf("%-8d %8.1f/%-8.1f %8.1f/%-8.1f %8.1f/%-8.1f %11.2f %11.2f\n",
            loads[i], s50, s99, b50, b99, u50, u99, s50 / u50, s99 / u99);
    }
    printf("(ratios use the plain shm column; the goal under load is at "
        "most 0.33)\n");
out:
    kill(shm_pid, SIGKILL);
    kill(uds_pid, SIGKILL);
    waitpid(shm_pid, NULL, 0);
    waitpid(uds_pid, NULL, 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        /* leave it */
    }
    return rc;
}
