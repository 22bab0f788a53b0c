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

#include "attendance_rules.h"

#define HD_SOCKET_PATH_MAX  (sizeof(((struct sockaddr_un *) 0)->sun_path))

#define HD_TRUSTED_CA_MAX   16
#define HD_URL_MAX          512
#define HD_HOST_MAX         256
#define HD_MAIL_FROM_MAX    256

/* The `identity:` section (config_identity.c).  An empty path means "not
 * configured": no registry (every CURP is absent), no blocklist, no
 * bootstrap token, mail is logged instead of sent. */
struct hd_identity_config {
    char      registry_file[PATH_MAX];
    char      blocklist_file[PATH_MAX];
    uint32_t  argon2_t_cost;
    uint32_t  argon2_m_cost_kib;
    uint32_t  argon2_parallelism;
    unsigned  max_concurrent_hashes;   /* each takes m_cost of memory */
    unsigned  password_min_chars;      /* 15: password as single factor */
    char      matricula_pattern[256];  /* POSIX extended regex */
    /* lockout (NIST SP 800-63B rev 4 3.2.2) */
    unsigned  lockout_threshold;       /* consecutive failures before delays */
    unsigned  lockout_base_delay_s;    /* first delay, doubling after */
    unsigned  lockout_max_delay_s;
    unsigned  lockout_disable_after;   /* failures that disable the account */
    unsigned  client_threshold;        /* failures from one address */
    char      trusted_ca[HD_TRUSTED_CA_MAX][PATH_MAX];
    unsigned  trusted_ca_count;
    unsigned  challenge_lifetime_s;
    unsigned  recovery_lifetime_s;
    char      outbox_dir[PATH_MAX];
    char      smtp_host[HD_HOST_MAX];
    unsigned  smtp_port;               /* 0 = no SMTP */
    char      mail_from[HD_MAIL_FROM_MAX];
    char      portal_base_url[HD_URL_MAX];
    char      bootstrap_token_file[PATH_MAX];
    uint64_t  credential_events_keep;  /* newest events retained */
};

/* The `receipts:` and `enrollment:` sections (config_enrollment.c). */
struct hd_enroll_config {
    char      receipt_key_file[PATH_MAX]; /* ES256 PEM, made if absent */
    double    dedup_fmr;                  /* per comparison, <= 1e-6 */
    unsigned  quality_failures;           /* refusals that open an exception */
    unsigned  quality_window_s;           /* ... within this window */
    unsigned  last_used_flush_s;          /* device last use: batched writes */
    uint64_t  dedup_sync_max_comparisons; /* more: a queued dedup job */
    unsigned  debug_dedup_job_pause_ms;   /* tests: a slow job (allow_debug) */
};

struct hd_config {
    char      socket_path[HD_SOCKET_PATH_MAX];  /* unix socket to listen on */
    unsigned  socket_mode;       /* chmod of the socket (octal in YAML) */
    char      data_dir[PATH_MAX];/* LMDB environment directory */
    uint64_t  map_size_mb;       /* LMDB map size */
    int       allow_debug;       /* tests only: enables the debug_ keys */
    unsigned  debug_delay_ms;    /* tests only: every op waits this long */
    unsigned  threads;           /* search workers; 0 = one per core */
    double    fmr;               /* target false match rate -> threshold */
    unsigned  spin_us;           /* ring thread's spin before sleeping */
    unsigned  max_clients;       /* concurrent client links */
    struct hd_identity_config identity;
    struct hd_enroll_config   enroll;
    struct att_rules          attendance;   /* config_attendance.c */
};

void config_defaults(struct hd_config *cfg);
void config_identity_defaults(struct hd_identity_config *id);
void config_enroll_defaults(struct hd_enroll_config *en);

/* Loads path over the defaults already in cfg.  0, or -1 with a message
 * "FILE:LINE: ..." in err. */
int config_load(const char *path, struct hd_config *cfg, char *err,
    size_t errlen);

/* Worker threads to start: cfg->threads, or the online CPU count. */
unsigned config_threads(const struct hd_config *cfg);

#endif /* HUELLA_CONFIG_H */
