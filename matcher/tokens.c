/*
 * tokens.c -- service accounts and their bearer tokens: TOKEN_CREATE,
 * TOKEN_REVOKE, TOKEN_CHECK, TOKEN_LIST, and the bootstrap admin token.
 *
 * A token is "hut_" + 43 base64url characters (256 random bits), shown
 * once by TOKEN_CREATE; only its SHA-256 is stored, as the key of the
 * tokens database, so TOKEN_CHECK is one hash and one B-tree lookup and
 * can run inline on the ring thread.  The id ("tk_" + 12 hex digits of the
 * hash) names a token in lists, audits and revocation without revealing
 * it.  At start the token in identity.bootstrap_token_file (the file nginx
 * also reads) is stored as the service account "admin" with role admin,
 * replacing an earlier bootstrap token.
 */

#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "credential_events.h"
#include "identity.h"
#include "ipc_server.h"

#define T(x) HIPC_F_##x
#define TOKEN_BOOTSTRAP_ID  "admin"

static void
token_id_of(const uint8_t hash[32], char out[IDS_TOKEN_ID_MAX])
{
    snprintf(out, IDS_TOKEN_ID_MAX, "tk_%02x%02x%02x%02x%02x%02x", hash[0],
        hash[1], hash[2], hash[3], hash[4], hash[5]);
}

static void
put_token_identity(struct hipc_writer *w, const struct ids_token *t)
{
    hipc_put_str(w, HIPC_F_TOKEN_ID, t->id);
    hipc_put_str(w, HIPC_F_NAME, t->name);
    hipc_put_str(w, HIPC_F_ROLES, t->roles);
    if (t->account_rfc[0]) {
        hipc_put_str(w, HIPC_F_ACCOUNT_RFC, t->account_rfc);
    }
    hipc_put_str(w, HIPC_F_AUTH_METHOD, "token");
}

static void
check(struct hd_request *rq, struct hd_thread *th)
{
    static const uint16_t  tags[] = { T(TOKEN), 0 };
    struct id_fields       f;
    struct ops_err          e;
    struct ids_token       t;
    struct hipc_writer     w;
    uint8_t                hash[32];
    MDB_txn               *txn;
    int                    rc = MDB_NOTFOUND;

    if (id_decode(rq, tags, tags, &f, &e) != 0) {
        ops_reply_err(rq, &e);
        return;
    }
    id_sha256(f.token, strlen(f.token), hash);
    if (f.token[0] && (rc = store_read_begin(ops_store(), &txn)) == 0) {
        rc = ids_token_get(ops_store(), txn, hash, &t);
        mdb_txn_abort(txn);
    }
    OPENSSL_cleanse(&f, sizeof(f));
    if (rc == MDB_NOTFOUND) {
        ops_reply_error(rq, HIPC_ST_UNAUTHORIZED, "token_invalid", NULL,
            "the token is unknown or revoked");
        return;
    }
    if (rc != 0) {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
        return;
    }
    hipc_writer_init(&w, th->reply, sizeof(th->reply));
    put_token_identity(&w, &t);
    hd_reply(rq, HIPC_ST_OK, th->reply, w.len);
}

struct list_ctx {
    json_t  *array;
};

static int
list_one(void *arg, const struct ids_token *t)
{
    struct list_ctx  *lc = arg;
    json_t           *roles = json_array(), *o;
    char              buf[IDS_ROLES_MAX], *p, *save = NULL;

    snprintf(buf, sizeof(buf), "%s", t->roles);
    for (p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        json_array_append_new(roles, json_string(p));
    }
    o = json_pack("{s:s, s:s, s:o, s:I, s:s}", "id", t->id, "name", t->name,
        "roles", roles, "created", (json_int_t) t->created, "created_by",
        t->created_by);
    if (o && t->account_rfc[0]) {
        json_object_set_new(o, "account_rfc", json_string(t->account_rfc));
    }
    json_array_append_new(lc->array, o);
    return 0;
}

static void
list(struct hd_request *rq, struct hd_thread *th)
{
    static const uint16_t  none[] = { 0 };
    struct id_fields       f;
    struct ops_err          e;
    struct list_ctx        lc;
    struct hipc_writer     w;
    MDB_txn               *txn;
    char                  *text = NULL;
    int                    rc;

    if (id_decode(rq, none, none, &f, &e) != 0) {
        ops_reply_err(rq, &e);
        return;
    }
    lc.array = json_array();
    rc = store_read_begin(ops_store(), &txn);
    if (rc == 0) {
        rc = ids_token_each(ops_store(), txn, list_one, &lc);
        mdb_txn_abort(txn);
    }
    if (rc == 0) {
        text = json_dumps(lc.array, JSON_COMPACT);
    }
    json_decref(lc.array);
    if (text == NULL || strlen(text) > HIPC_PAYLOAD_MAX - 64) {
        free(text);
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL,
            "cannot list the tokens");
        return;
    }
    hipc_writer_init(&w, th->reply, sizeof(th->reply));
    hipc_put_str(&w, HIPC_F_JSON, text);
    free(text);
    hd_reply(rq, HIPC_ST_OK, th->reply, w.len);
}

void
tokens_handle(struct hd_request *rq, struct hd_thread *th)
{
    static const uint16_t  create_tags[] = { T(NAME), T(ROLES),
        T(ACCOUNT_RFC), T(ACTOR), T(CLIENT), 0 };
    static const uint16_t  create_req[] = { T(NAME), T(ROLES), T(ACTOR), 0 };
    static const uint16_t  revoke_tags[] = { T(TOKEN_ID), T(ACTOR),
        T(CLIENT), 0 };
    static const uint16_t  revoke_req[] = { T(TOKEN_ID), T(ACTOR), 0 };
    struct id_job         *job;

    switch (rq->op) {
    case HIPC_OP_TOKEN_CHECK:
        check(rq, th);
        return;
    case HIPC_OP_TOKEN_LIST:
        list(rq, th);
        return;
    case HIPC_OP_TOKEN_CREATE:
        if ((job = id_job_new(rq, create_tags, create_req)) == NULL) {
            return;
        }
        if (id_roles_has(job->f.roles, "employer_rep")
            && !job->f.account_rfc[0])
        {
            free(job);
            ops_reply_error(rq, HIPC_ST_INVALID, "account_rfc_required",
                "account_rfc", "the employer_rep role is bound to a company "
                "RFC: give ACCOUNT_RFC");
            return;
        }
        memcpy(job->secret, "hut_", 4);
        if (id_random_token(job->secret + 4, sizeof(job->secret) - 4, 32)
            != 0)
        {
            free(job);
            ops_reply_error(rq, HIPC_ST_INTERNAL, "no_randomness", NULL,
                "cannot draw a token");
            return;
        }
        id_sha256(job->secret, strlen(job->secret), job->secret_hash);
        id_dispatch(rq, job, NULL);
        return;
    default:
        if ((job = id_job_new(rq, revoke_tags, revoke_req)) != NULL) {
            id_dispatch(rq, job, NULL);
        }
        return;
    }
}

int
tokens_write(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w)
{
    struct id_job     *job = rq->prep;
    struct ids_token   t;
    int                rc;

    if (rq->op == HIPC_OP_TOKEN_REVOKE) {
        rc = ids_token_delete_id(ops_store(), txn, job->f.token_id);
        if (rc == MDB_NOTFOUND) {
            ops_error(w, "token_not_found", "token_id", "no token with id "
                "%s", job->f.token_id);
            return HIPC_ST_NOT_FOUND;
        }
        if (rc == 0) {
            /* other nginx instances drop their cached answer for it */
            rc = credev_record(txn, job->f.token_id, CREDEV_TOKEN,
                (uint64_t) id_now_ms());
        }
        if (rc == 0) {
            rc = id_audit(txn, job->f.actor, "token_revoked",
                job->f.token_id, job->f.client, (const char *) NULL);
        }
        if (rc != 0) {
            goto storage;
        }
        hipc_put_str(w, HIPC_F_TOKEN_ID, job->f.token_id);
        return HIPC_ST_OK;
    }
    memset(&t, 0, sizeof(t));
    token_id_of(job->secret_hash, t.id);
    snprintf(t.name, sizeof(t.name), "%s", job->f.name);
    snprintf(t.roles, sizeof(t.roles), "%s", job->f.roles);
    snprintf(t.account_rfc, sizeof(t.account_rfc), "%s", job->f.account_rfc);
    snprintf(t.created_by, sizeof(t.created_by), "%s", job->f.actor);
    t.created = id_now();
    rc = ids_token_put(ops_store(), txn, job->secret_hash, &t);
    if (rc == 0) {
        rc = id_audit(txn, job->f.actor, "token_created", t.id,
            job->f.client, "name", t.name, "roles", t.roles, "account_rfc",
            t.account_rfc[0] ? t.account_rfc : NULL, (const char *) NULL);
    }
    if (rc != 0) {
        goto storage;
    }
    hipc_put_str(w, HIPC_F_TOKEN, job->secret);
    hipc_put_str(w, HIPC_F_TOKEN_ID, t.id);
    hipc_put_str(w, HIPC_F_NAME, t.name);
    hipc_put_str(w, HIPC_F_ROLES, t.roles);
    return HIPC_ST_OK;

storage:
    ops_error(w, "storage_error", NULL, "%s", mdb_strerror(rc));
    return HIPC_ST_INTERNAL;
}

int
tokens_bootstrap(struct store *st, const char *path, char *err,
    size_t errlen)
{
    struct ids_token  t, old;
    char              buf[512], *p, *end;
    uint8_t           hash[32];
    MDB_txn          *txn;
    FILE             *f;
    size_t            n;
    int               rc;

    f = fopen(path, "r");
    if (f == NULL) {
        if (errno == ENOENT) {
            fprintf(stderr, "huellad: %s absent: no bootstrap admin token\n",
                path);
            return 0;
        }
        snprintf(err, errlen, "identity.bootstrap_token_file: %s: %s", path,
            strerror(errno));
        return -1;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* trimmed as nginx trims it (huella_admin_token_file) */
    for (p = buf; *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'; p++) {
    }
    for (end = p + strlen(p); end > p && (end[-1] == ' ' || end[-1] == '\t'
         || end[-1] == '\r' || end[-1] == '\n'); end--) {
    }
    *end = '\0';
    if (end - p < 16) {
        snprintf(err, errlen, "identity.bootstrap_token_file: %s: the token "
            "is shorter than 16 characters", path);
        return -1;
    }
    id_sha256(p, (size_t) (end - p), hash);
    OPENSSL_cleanse(buf, sizeof(buf));
    rc = store_write_begin(st, NULL, &txn);
    if (rc != 0) {
        goto fail;
    }
    if (ids_token_get(st, txn, hash, &old) == 0) {
        mdb_txn_abort(txn);     /* already there */
        return 0;
    }
    rc = ids_token_delete_id(st, txn, TOKEN_BOOTSTRAP_ID);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        goto fail;
    }
    memset(&t, 0, sizeof(t));
    snprintf(t.id, sizeof(t.id), TOKEN_BOOTSTRAP_ID);
    snprintf(t.name, sizeof(t.name), "admin");
    snprintf(t.roles, sizeof(t.roles), "admin");
    snprintf(t.created_by, sizeof(t.created_by), "bootstrap");
    t.created = id_now();
    if ((rc = ids_token_put(st, txn, hash, &t)) != 0
        || (rc = ids_audit_append(st, txn, id_now_ms(), "system",
                "token_created", TOKEN_BOOTSTRAP_ID,
                "{\"source\":\"bootstrap_token_file\"}", NULL)) != 0)
    {
        mdb_txn_abort(txn);
        goto fail;
    }
    rc = mdb_txn_commit(txn);
    if (rc == 0) {
        return 0;
    }
fail:
    snprintf(err, errlen, "storing the bootstrap token: %s",
        mdb_strerror(rc));
    return -1;
}
