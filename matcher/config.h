/*
 * config.h -- huellad's configuration: the `matcher:` section of
 * config/huella.yaml, validated strictly at start.
 *
 * Owns: struct hd_config, its defaults and the loader.  Every mistake is
 * refused with "FILE:LINE: key 'matcher.X': what was expected" so that an
 * operator can fix the file without reading code.  The `portal:` and `log:`
 * sections belong to other components; the loader only checks that they are
 * mappings.
 */

#ifndef HUELLA_CONFIG_H
#define HUELLA_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#define HD_SOCKET_PATH_MAX  (sizeof(((struct sockaddr_un *) 0)->sun_path))

struct hd_config {
    char      socket_path[HD_SOCKET_PATH_MAX];  /* unix socket to listen on */
    unsigned  socket_mode;       /* chmod of the socket (octal in YAML) */
    char      data_dir[PATH_MAX];/* LMDB environment directory */
    uint64_t  map_size_mb;       /* LMDB map size */
    unsigned  threads;           /* search workers; 0 = one per core */
    double    fmr;               /* target false match rate -> threshold */
    unsigned  spin_us;           /* ring thread's spin before sleeping */
    unsigned  max_clients;       /* concurrent client links */
};

void config_defaults(struct hd_config *cfg);

/* Loads path over the defaults already in cfg.  0, or -1 with a message
 * "FILE:LINE: ..." in err. */
int config_load(const char *path, struct hd_config *cfg, char *err,
    size_t errlen);

/* Worker threads to start: cfg->threads, or the online CPU count. */
unsigned config_threads(const struct hd_config *cfg);

#endif /* HUELLA_CONFIG_H */
