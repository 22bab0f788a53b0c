/*
 * testd.h -- a real huellad for a unit test: forked from the test (so it
 * can be killed with -9 and restarted on the same data) on a socket and
 * data directory inside a temp directory, then reached through ipc_client.
 * Used by test_ipc.c, test_identity.c, test_attendance.c and (through
 * enroll_harness.h) test_devices.c and test_enrollment.c.
 * Header-only on purpose: each test program is a single translation unit.
 */

#ifndef HUELLA_TESTD_H
#define HUELLA_TESTD_H

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "ipc_client.h"
#include "ipc_server.h"
#include "ops.h"

static char    dir[64], sock_path[96];
static pid_t   server = -1;

/* Makes the temp directory from tmpl ("/tmp/huella-xxx-XXXXXX") and puts
 * the socket path inside it. */
static void
testd_mkdir(const char *tmpl)
{
    snprintf(dir, sizeof(dir), "%s", tmpl);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(sock_path, sizeof(sock_path), "%s/huellad.sock", dir);
}

/* Forks the server.  The child starts from config_defaults(), lets
 * configure (may be NULL) change it, then takes the socket and data
 * directory in `dir`, a 64 MB map and 2 threads, and serves until killed. */
static void
testd_fork(void (*configure)(struct hd_config *cfg))
{
    struct hd_config  cfg;
    char              err[512];

    server = fork();
    ck_assert_int_ge(server, 0);
    if (server == 0) {
        config_defaults(&cfg);
        if (configure) {
            configure(&cfg);
        }
        snprintf(cfg.socket_path, sizeof(cfg.socket_path), "%s", sock_path);
        snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s/data", dir);
        cfg.map_size_mb = 64;
        cfg.threads = 2;
        if (ops_init(&cfg, err, sizeof(err)) != 0
            || ipc_server_start(&cfg, err, sizeof(err)) != 0)
        {
            fprintf(stderr, "test server: %s\n", err);
            _exit(1);
        }
        for (;;) {
            pause();
        }
    }
}

/* Connects to the server, trying every 10 ms up to `tries` times; fails
 * the test when it does not come up. */
static struct hipc_client *
testd_connect(int tries)
{
    struct hipc_client  *c;
    char                 err[512];
    int                  i;

    for (i = 0; i < tries; i++) {
        c = hipc_client_connect(sock_path, 1000, err, sizeof(err));
        if (c) {
            return c;
        }
        usleep(10000);
    }
    ck_abort_msg("the test server did not come up: %s", err);
    return NULL;
}

/* kill -9 and reap. */
static void
testd_kill(void)
{
    if (server > 0) {
        kill(server, SIGKILL);
        waitpid(server, NULL, 0);
        server = -1;
    }
}

static void
testd_rmdir(void)
{
    char  cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        /* leave it */
    }
}

#endif /* HUELLA_TESTD_H */
