/*
 * identity_efirma.c -- e.firma sign-in ops: EFIRMA_CHALLENGE (a single-use
 * nonce stored with its expiry), EFIRMA_LOGIN (nonce consumed, signature,
 * validity and chain checked by efirma_verify_login, account created or
 * updated with role employer_rep bound to the certificate's RFC) and
 * EFIRMA_INSPECT (what a .cer says, as JSON).
 *
 * The RSA check runs on the worker pool; the nonce is consumed by the
 * writer, so of two logins racing with one nonce exactly one can win, and
 * a replay answers UNAUTHORIZED nonce_invalid even if its signature is
 * right.
 */

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "ipc_server.h"

#define T(x) HIPC_F_##x

static void
login_run(void *arg, struct hd_thread *th)
{
    struct hd_request  *rq = arg;
    struct id_job      *job = rq->prep;
    char                why[256];

    (void) th;
    if (hd_expired(rq)) {
        ops_reply_error(rq, HIPC_ST_EXPIRED, "deadline_exceeded", NULL,
            "the deadline passed before the work started");
        hd_request_free(rq);
        return;
    }
    job->efirma = efirma_verify_login(job->f.cert, job->f.cert_len,
        job->f.sig, job->f.sig_len, (const uint8_t *) job->f.nonce,
        strlen(job->f.nonce), id_rt()->trust, (time_t) id_now(), &job->info,
        why, sizeof(why));
    if (job->efirma != EFIRMA_OK) {
        snprintf(job->err.msg, sizeof(job->err.msg), "%s", why);
    } else if (job->info.curp[0] == '\0') {
        job->efirma = EFIRMA_CERTIFICATE_SUBJECT_INVALID;
        snprintf(job->err.msg, sizeof(job->err.msg), "the certificate "
            "carries no CURP (serialNumber): an account needs one");
    }
    id_to_writer(rq);
}

static int
login_write(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w)
{
    struct id_job       *job = rq->prep;
    struct ids_account  *a = &job->account;
    const char          *who = job->info.curp[0] ? job->info.curp
                               : job->info.rfc[0] ? job->info.rfc : "unknown";
    int                  rc;

    rc = ids_nonce_take(ops_store(), txn, job->f.nonce, id_now());
    if (rc == MDB_NOTFOUND) {
        rc = id_audit(txn, who, "login_failed", who, job->f.client,
            "method", "efirma", "reason", "nonce_invalid", "serial",
            job->info.serial[0] ? job->info.serial : NULL,
            (const char *) NULL);
        if (rc != 0) {
            goto storage;
        }
        ops_error(w, "nonce_invalid", "nonce", "the challenge is unknown, "
            "used or expired; ask for a new one");
        return HIPC_ST_UNAUTHORIZED | OPS_WRITE_KEEP;
    }
    if (rc != 0) {
        goto storage;
    }
    if (job->efirma != EFIRMA_OK) {
        rc = id_audit(txn, who, "login_failed", who, job->f.client,
            "method", "efirma", "reason", efirma_status_code(job->efirma),
            "rfc", job->info.rfc[0] ? job->info.rfc : NULL, "serial",
            job->info.serial[0] ? job->info.serial : NULL,
            (const char *) NULL);
        if (rc != 0) {
            goto storage;
        }
        ops_error(w, efirma_status_code(job->efirma),
            job->efirma == EFIRMA_SIGNATURE_INVALID ? "signature"
            : job->efirma == EFIRMA_TRUST_STORE_INVALID ? NULL
            : "certificate", "%s", job->err.msg);
        return (job->efirma == EFIRMA_TRUST_STORE_INVALID
                ? HIPC_ST_INTERNAL : HIPC_ST_UNAUTHORIZED) | OPS_WRITE_KEEP;
    }
    rc = ids_account_get(ops_store(), txn, job->info.curp, a);
    if (rc == MDB_NOTFOUND) {
        memset(a, 0, sizeof(*a));
        snprintf(a->curp, sizeof(a->curp), "%s", job->info.curp);
        snprintf(a->name, sizeof(a->name), "%s", job->info.name);
        a->created = id_now();
        rc = 0;
    }
    if (rc != 0) {
        goto storage;
    }
    id_roles_add(a->roles, sizeof(a->roles), "employer_rep");
    snprintf(a->account_rfc, sizeof(a->account_rfc), "%s", job->info.rfc);
    if ((rc = ids_account_put(ops_store(), txn, a)) != 0
        || (rc = id_audit(txn, a->curp, "login", a->curp, job->f.client,
                "method", "efirma", "rfc", job->info.rfc,
                "representative_rfc", job->info.representative_rfc[0]
                ? job->info.representative_rfc : NULL, "serial",
                job->info.serial, (const char *) NULL)) != 0)
    {
        goto storage;
    }
    id_put_identity(w, a, "efirma");
    id_put_password_changed(w, a);
    hipc_put_str(w, HIPC_F_RFC, job->info.rfc);
    hipc_put_str(w, HIPC_F_REP_RFC, job->info.representative_rfc[0]
        ? job->info.representative_rfc : job->info.rfc);
    return HIPC_ST_OK;

storage:
    ops_error(w, "storage_error", NULL, "%s", mdb_strerror(rc));
    return HIPC_ST_INTERNAL;
}

static int
challenge_write(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w)
{
    struct id_job  *job = rq->prep;
    int             rc;

    ids_prune(ops_store(), txn, id_now(), 32);
    rc = ids_nonce_put(ops_store(), txn, job->secret, job->expires);
    if (rc != 0) {
        ops_error(w, "storage_error", NULL, "%s", mdb_strerror(rc));
        return HIPC_ST_INTERNAL;
    }
    hipc_put_str(w, HIPC_F_NONCE, job->secret);
    hipc_put_u64(w, HIPC_F_EXPIRES, job->expires);
    return HIPC_ST_OK;
}

static void
inspect(struct hd_request *rq, struct hd_thread *th)
{
    static const uint16_t  tags[] = { T(CERT), 0 };
    struct id_fields       f;
    struct ops_err          e;
    struct efirma_info     info;
    struct hipc_writer     w;
    enum efirma_status     st;
    json_t                *o;
    char                   why[256], *text;

    if (id_decode(rq, tags, tags, &f, &e) != 0) {
        ops_reply_err(rq, &e);
        return;
    }
    st = efirma_inspect(f.cert, f.cert_len, (time_t) id_now(), &info, why,
        sizeof(why));
    if (st != EFIRMA_OK) {
        ops_reply_error(rq, HIPC_ST_INVALID, efirma_status_code(st),
            "certificate", "%s", why);
        return;
    }
    o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s}",
        "rfc", info.rfc, "representative_rfc", info.representative_rfc,
        "curp", info.curp, "name", info.name, "serial", info.serial,
        "not_before", info.not_before, "not_after", info.not_after,
        "expired", info.expired, "issuer", info.issuer,
        "type", info.is_seal ? "csd" : "efirma");
    text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (text == NULL) {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "out_of_memory", NULL,
            "cannot build the document");
        return;
    }
    hipc_writer_init(&w, th->reply, sizeof(th->reply));
    hipc_put_str(&w, HIPC_F_JSON, text);
    free(text);
    hd_reply(rq, HIPC_ST_OK, th->reply, w.len);
}

void
efirma_ops_handle(struct hd_request *rq, struct hd_thread *th)
{
    static const uint16_t  none[] = { 0 };
    static const uint16_t  login_tags[] = { T(CERT), T(SIGNATURE), T(NONCE),
        T(CLIENT), 0 };
    static const uint16_t  login_req[] = { T(CERT), T(SIGNATURE), T(NONCE),
        0 };
    struct id_job         *job;

    switch (rq->op) {
    case HIPC_OP_EFIRMA_CHALLENGE:
        if ((job = id_job_new(rq, none, none)) == NULL) {
            return;
        }
        if (id_random_token(job->secret, sizeof(job->secret), 32) != 0) {
            free(job);
            ops_reply_error(rq, HIPC_ST_INTERNAL, "no_randomness", NULL,
                "cannot draw a nonce");
            return;
        }
        job->expires = id_now() + id_rt()->cfg->challenge_lifetime_s;
        id_dispatch(rq, job, NULL);
        return;
    case HIPC_OP_EFIRMA_LOGIN:
        if ((job = id_job_new(rq, login_tags, login_req)) != NULL) {
            id_dispatch(rq, job, login_run);
        }
        return;
    default:
        inspect(rq, th);
        return;
    }
}

int
efirma_ops_write(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w)
{
    return rq->op == HIPC_OP_EFIRMA_CHALLENGE ? challenge_write(rq, txn, w)
           : login_write(rq, txn, w);
}
