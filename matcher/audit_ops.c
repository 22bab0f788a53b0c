/*
 * audit_ops.c -- the audit trail's ops: AUDIT_APPEND (events the nginx
 * module reports, e.g. logout), AUDIT_VERIFY (walk the whole chain on the
 * worker pool) and AUDIT_LIST (the newest entries as JSON).  Entries for
 * huellad's own changes are appended by the ops that make them, inside
 * the same transaction (id_audit()).
 */

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "ipc_server.h"
#include "search.h"

#define T(x) HIPC_F_##x
#define AUDIT_LIST_DEFAULT  50u
#define AUDIT_LIST_MAX      1000u

static void
verify_run(void *arg, struct hd_thread *th)
{
    struct hd_request   *rq = arg;
    struct audit_report  rep;
    struct hipc_writer   w;
    MDB_txn             *txn;
    char                 hex[65];
    int                  rc;

    rc = store_read_begin(ops_store(), &txn);
    if (rc != 0) {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
        hd_request_free(rq);
        return;
    }
    rc = ids_audit_verify(txn, store_identity(ops_store())->audit, &rep);
    mdb_txn_abort(txn);
    hipc_writer_init(&w, th->reply, sizeof(th->reply));
    audit_hash_hex(rep.head_hash, hex);
    if (rc == 0) {
        hipc_put_u64(&w, HIPC_F_VALUE, rep.entries);
        hipc_put_u64(&w, HIPC_F_SEQ, rep.head_seq);
        hipc_put_str(&w, HIPC_F_HEAD_HASH, hex);
        hd_reply(rq, HIPC_ST_OK, th->reply, w.len);
    } else {
        ops_error(&w, audit_verdict_code(rep.verdict), NULL, "entry %llu: "
            "%s", (unsigned long long) rep.first_bad_seq, rep.message);
        hipc_put_u64(&w, HIPC_F_SEQ, rep.first_bad_seq);
        hipc_put_u64(&w, HIPC_F_VALUE, rep.entries);
        ops_count_error();
        hd_reply(rq, rep.verdict == AUDIT_READ_ERROR ? HIPC_ST_INTERNAL
            : HIPC_ST_CONFLICT, th->reply, w.len);
    }
    hd_request_free(rq);
}

struct list_ctx {
    json_t  *array;
};

static json_t *
json_n(const char *s, size_t n)
{
    return json_stringn(s ? s : "", s ? n : 0);
}

static int
list_one(void *arg, const struct audit_view *v)
{
    struct list_ctx  *lc = arg;
    json_t           *o = json_object();

    json_object_set_new(o, "seq", json_integer((json_int_t) v->seq));
    json_object_set_new(o, "time_ms", json_integer(v->time_ms));
    json_object_set_new(o, "actor", json_n(v->actor, v->actor_len));
    json_object_set_new(o, "action", json_n(v->action, v->action_len));
    json_object_set_new(o, "target", json_n(v->target, v->target_len));
    json_object_set_new(o, "detail", json_n(v->detail, v->detail_len));
    json_array_append_new(lc->array, o);
    return 0;
}

static void
list(struct hd_request *rq, struct hd_thread *th)
{
    static const uint16_t  tags[] = { T(VALUE), 0 };
    static const uint16_t  none[] = { 0 };
    struct id_fields       f;
    struct ops_err          e;
    struct list_ctx        lc;
    struct hipc_writer     w;
    MDB_txn               *txn;
    unsigned               max;
    char                  *text = NULL;
    int                    rc;

    if (id_decode(rq, tags, none, &f, &e) != 0) {
        ops_reply_err(rq, &e);
        return;
    }
    max = id_has(&f, HIPC_F_VALUE) ? f.value : AUDIT_LIST_DEFAULT;
    if (max < 1 || max > AUDIT_LIST_MAX) {
        ops_reply_error(rq, HIPC_ST_INVALID, "invalid_limit", "limit",
            "limit must be 1..%u", AUDIT_LIST_MAX);
        return;
    }
    for (;;) {
        lc.array = json_array();
        rc = store_read_begin(ops_store(), &txn);
        if (rc == 0) {
            rc = ids_audit_latest(ops_store(), txn, max, list_one, &lc);
            mdb_txn_abort(txn);
        }
        text = rc == 0 ? json_dumps(lc.array, JSON_COMPACT) : NULL;
        json_decref(lc.array);
        /* big details: fewer entries until the document fits a slot */
        if (text && strlen(text) > HIPC_PAYLOAD_MAX - 64 && max > 1) {
            free(text);
            max /= 2;
            continue;
        }
        break;
    }
    if (text == NULL || strlen(text) > HIPC_PAYLOAD_MAX - 64) {
        free(text);
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL,
            "cannot list the audit trail");
        return;
    }
    hipc_writer_init(&w, th->reply, sizeof(th->reply));
    hipc_put_str(&w, HIPC_F_JSON, text);
    free(text);
    hd_reply(rq, HIPC_ST_OK, th->reply, w.len);
}

void
audit_ops_handle(struct hd_request *rq, struct hd_thread *th)
{
    static const uint16_t  append_tags[] = { T(ACTOR), T(ACTION), T(TARGET),
        T(CLIENT), T(DETAIL), 0 };
    static const uint16_t  append_req[] = { T(ACTOR), T(ACTION), 0 };
    static const uint16_t  none[] = { 0 };
    struct id_job         *job;
    struct hd_request     *copy;

    switch (rq->op) {
    case HIPC_OP_AUDIT_LIST:
        list(rq, th);
        return;
    case HIPC_OP_AUDIT_VERIFY:
        if ((job = id_job_new(rq, none, none)) == NULL) {
            return;
        }
        free(job);
        copy = hd_request_dup(rq);
        if (copy == NULL || pool_submit(verify_run, copy) != 0) {
            hd_request_free(copy);
            ops_reply_error(rq, HIPC_ST_BUSY, "busy", NULL,
                "huellad cannot queue the request");
        }
        return;
    default:
        if ((job = id_job_new(rq, append_tags, append_req)) != NULL) {
            id_dispatch(rq, job, NULL);
        }
        return;
    }
}

int
audit_ops_write(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w)
{
    struct id_job  *job = rq->prep;
    char           *detail = NULL;
    uint64_t        seq;
    int             rc;

    /* The module's detail (JSON) is kept as sent; the client address goes
     * in front when given. */
    if (job->f.detail_len || job->f.client[0]) {
        detail = malloc(job->f.detail_len + IDS_CLIENT_MAX + 32);
        if (detail == NULL) {
            ops_error(w, "out_of_memory", NULL, "huellad is out of memory");
            return HIPC_ST_BUSY;
        }
        if (job->f.client[0] && job->f.detail_len) {
            sprintf(detail, "{\"client\":\"%s\",\"event\":%.*s}",
                job->f.client, (int) job->f.detail_len, job->f.detail);
        } else if (job->f.client[0]) {
            sprintf(detail, "{\"client\":\"%s\"}", job->f.client);
        } else {
            memcpy(detail, job->f.detail, job->f.detail_len);
            detail[job->f.detail_len] = '\0';
        }
    }
    rc = ids_audit_append(ops_store(), txn, id_now_ms(), job->f.actor,
        job->f.action, job->f.target, detail, &seq);
    free(detail);
    if (rc == MDB_BAD_VALSIZE) {
        ops_error(w, "invalid_entry", NULL, "the entry is not acceptable "
            "(a field too long or not text)");
        return HIPC_ST_INVALID;
    }
    if (rc != 0) {
        ops_error(w, "storage_error", NULL, "%s", mdb_strerror(rc));
        return HIPC_ST_INTERNAL;
    }
    hipc_put_u64(w, HIPC_F_SEQ, seq);
    return HIPC_ST_OK;
}
