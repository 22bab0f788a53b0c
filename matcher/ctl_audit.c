/*
 * ctl_audit.c -- `huellactl audit verify [--data DIR | --socket PATH]`.
 *
 * With --data it opens the LMDB environment read-only and walks the audit
 * chain itself (works with huellad stopped, e.g. on a backup); otherwise
 * it asks huellad (AUDIT_VERIFY).  Prints the entries checked, the head's
 * seq and hash (record them elsewhere as an anchor); exit 1 naming the
 * first altered or removed entry.
 */

#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "ctl.h"
#include "huella_ipc.h"
#include "identity_store.h"
#include "ipc_client.h"

static int
verify_offline(const char *dir)
{
    struct audit_report  r;
    MDB_env             *env;
    MDB_txn             *txn;
    MDB_dbi              dbi;
    char                 hex[65];
    int                  rc;

    if ((rc = mdb_env_create(&env)) != 0
        || (rc = mdb_env_set_maxdbs(env, 16)) != 0
        || (rc = mdb_env_open(env, dir, MDB_RDONLY, 0)) != 0)
    {
        fprintf(stderr, "huellactl: %s: %s\n", dir, mdb_strerror(rc));
        return 2;
    }
    if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0
        || (rc = mdb_dbi_open(txn, "audit", 0, &dbi)) != 0)
    {
        fprintf(stderr, "huellactl: %s: no audit trail: %s\n", dir,
            mdb_strerror(rc));
        mdb_env_close(env);
        return 2;
    }
    rc = ids_audit_verify(txn, dbi, &r);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    audit_hash_hex(r.head_hash, hex);
    printf("entries: %llu\nhead_seq: %llu\nhead_hash: %s\n",
        (unsigned long long) r.entries, (unsigned long long) r.head_seq,
        hex);
    if (rc != 0) {
        printf("FAILED: entry %llu: %s: %s\n",
            (unsigned long long) r.first_bad_seq,
            audit_verdict_code(r.verdict), r.message);
        return 1;
    }
    printf("ok\n");
    return 0;
}

static int
verify_online(const char *sock)
{
    struct hipc_client  *c;
    static uint8_t       rep[HIPC_PAYLOAD_MAX];
    const uint8_t       *d;
    uint32_t             n;
    uint64_t             v;
    size_t               len;
    char                 err[256];
    int                  status;

    c = hipc_client_connect(sock, 2000, err, sizeof(err));
    if (c == NULL) {
        fprintf(stderr, "huellactl: %s\n", err);
        return 2;
    }
    if (hipc_client_call(c, HIPC_OP_AUDIT_VERIFY, NULL, 0, rep, sizeof(rep),
            &len, &status, 60000) != 0)
    {
        fprintf(stderr, "huellactl: audit verify: no answer\n");
        hipc_client_close(c);
        return 2;
    }
    hipc_client_close(c);
    if (hipc_find(rep, len, HIPC_F_VALUE, &d, &n) == 1
        && hipc_get_u64(d, n, &v) == 0)
    {
        printf("entries: %llu\n", (unsigned long long) v);
    }
    if (status == HIPC_ST_OK) {
        if (hipc_find(rep, len, HIPC_F_SEQ, &d, &n) == 1
            && hipc_get_u64(d, n, &v) == 0)
        {
            printf("head_seq: %llu\n", (unsigned long long) v);
        }
        if (hipc_find(rep, len, HIPC_F_HEAD_HASH, &d, &n) == 1) {
            printf("head_hash: %.*s\n", (int) n, (const char *) d);
        }
        printf("ok\n");
        return 0;
    }
    if (hipc_find(rep, len, HIPC_F_MESSAGE, &d, &n) == 1) {
        printf("FAILED: %.*s\n", (int) n, (const char *) d);
    } else {
        printf("FAILED: %s\n", hipc_status_name(status));
    }
    return 1;
}

int
ctl_audit(int argc, char **argv)
{
    const char  *data = NULL, *sock = getenv("HUELLA_SOCKET");
    int          i;

    if (argc < 2 || strcmp(argv[1], "verify") != 0) {
        fprintf(stderr, "usage: huellactl audit verify [--data DIR | "
            "--socket PATH]\n");
        return 2;
    }
    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
            data = argv[++i];
        } else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
            sock = argv[++i];
        } else {
            fprintf(stderr, "huellactl audit: unknown argument %s\n",
                argv[i]);
            return 2;
        }
    }
    return data ? verify_offline(data)
                : verify_online(sock ? sock : "var/huellad.sock");
}
