/*
 * huellad.c -- the matcher daemon's entry point: options, configuration,
 * start-up order, signals and shutdown.
 *
 *   huellad [-c CONFIG] [-s SOCKET] [-d DATADIR] [-p PIDFILE]
 *
 * CONFIG defaults to config/huella.yaml (relative to the cwd, like every
 * relative path in it); -s and -d override matcher.socket and
 * matcher.data_dir (tests use them).  The pid file is written once the
 * socket accepts, so its presence means "ready".  SIGINT/SIGTERM: stop
 * accepting, let the writer commit and answer what it holds, exit 0.
 * Nothing else is needed for safety: every acknowledged write is already
 * durable, and kill -9 loses nothing acknowledged.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ipc_server.h"
#include "ops.h"
#include "search.h"

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: huellad [-c CONFIG] [-s SOCKET] [-d DATADIR] [-p PIDFILE]\n"
        "  -c CONFIG   YAML configuration (default config/huella.yaml)\n"
        "  -s SOCKET   unix socket to listen on (overrides matcher.socket)\n"
        "  -d DATADIR  LMDB directory (overrides matcher.data_dir)\n"
        "  -p PIDFILE  write the pid here once ready\n");
}

int
main(int argc, char **argv)
{
    struct hd_config  cfg;
    const char       *config_path = NULL, *socket_path = NULL;
    const char       *data_dir = NULL, *pidfile = NULL;
    char              err[1024];
    sigset_t          sigs;
    FILE             *f;
    int               opt, sig;

    while ((opt = getopt(argc, argv, "c:s:d:p:h")) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 's': socket_path = optarg; break;
        case 'd': data_dir = optarg; break;
        case 'p': pidfile = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }

    config_defaults(&cfg);
    if (config_path == NULL && access("config/huella.yaml", R_OK) == 0) {
        config_path = "config/huella.yaml";
    }
    if (config_path && config_load(config_path, &cfg, err, sizeof(err)) != 0)
    {
        fprintf(stderr, "huellad: %s\n", err);
        return 1;
    }
    if (socket_path) {
        if (strlen(socket_path) >= sizeof(cfg.socket_path)) {
            fprintf(stderr, "huellad: -s: socket path too long\n");
            return 2;
        }
        snprintf(cfg.socket_path, sizeof(cfg.socket_path), "%s",
            socket_path);
    }
    if (data_dir) {
        snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", data_dir);
    }

    /* Signals go to this thread only (sigwait below); every thread started
     * from here on inherits the mask. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    if (ops_init(&cfg, err, sizeof(err)) != 0
        || ipc_server_start(&cfg, err, sizeof(err)) != 0)
    {
        fprintf(stderr, "huellad: %s\n", err);
        return 1;
    }
    if (pidfile) {
        f = fopen(pidfile, "w");
        if (f == NULL || fprintf(f, "%d\n", (int) getpid()) < 0
            || fclose(f) != 0)
        {
            fprintf(stderr, "huellad: cannot write %s: %s\n", pidfile,
                strerror(errno));
            ipc_server_stop();
            return 1;
        }
    }
    fprintf(stderr, "huellad[%d]: ready on %s (data %s, %u workers, fmr %g "
        "-> threshold %.4f, spin %u us)\n", (int) getpid(), cfg.socket_path,
        cfg.data_dir, search_threads(), cfg.fmr, ops_threshold(),
        cfg.spin_us);

    for (;;) {
        if (sigwait(&sigs, &sig) != 0) {
            continue;
        }
        if (sig == SIGHUP) {
            fprintf(stderr, "huellad[%d]: SIGHUP ignored (restart to reload "
                "the configuration)\n", (int) getpid());
            continue;
        }
        break;
    }
    fprintf(stderr, "huellad[%d]: %s, shutting down\n", (int) getpid(),
        strsignal(sig));
    ipc_server_stop();
    ops_shutdown();
    if (pidfile) {
        unlink(pidfile);
    }
    fflush(stderr);
    /* Ring and worker threads may still be inside read transactions:
     * leave without tearing the environment down under them. */
    _exit(0);
}
