/*
 * attendance_justify.c -- justifications and notifications:
 * JUSTIFY_CREATE, JUSTIFY_DECIDE, JUSTIFY_LIST, JUSTIFY_ATTACHMENT_GET,
 * JUSTIFY_ATTACHMENT_APPEND, NOTIFY_LIST.
 *
 * A worker files a justification for a day (or the day of one of their
 * punches) with a reason from attendance.reasons; their supervisor (anyone
 * up the chain) approves or rejects it once.  Filing notifies the direct
 * supervisor, deciding notifies the worker; both acts get a receipt and an
 * audit entry in the same transaction.  The day's incidents are not
 * stored: every query recomputes them from the justifications' states.
 *
 * Attachments: a request slot holds ~64 KiB, so a larger file arrives as
 * JUSTIFY_CREATE with the first chunk and JUSTIFY_ATTACHMENT_APPEND for
 * the rest (while the justification is pending), up to
 * attendance.max_attachment_kib, and is read back in chunks.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attendance.h"
#include "attendance_store.h"
#include "identity.h"
#include "ipc_server.h"
#include "store.h"

#define ATT_CHUNK_MAX  (60u * 1024u)

static void
just_id_text(uint64_t id, char out[32])
{
    snprintf(out, 32, "J-%08llu", (unsigned long long) id);
}

static json_t *
just_json(const struct att_just *j)
{
    const struct att_reason  *rs = att_reason_find(att_rules(), j->r.reason);
    json_t                   *o;
    char                      id[32], date[11], at[32];

    just_id_text(j->r.id, id);
    att_format_date(j->r.day, date);
    att_iso8601((time_t) j->r.created, at);
    /* a reason since removed from the catalog shows its code */
    o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "id", id,
        "curp", j->r.curp, "date", date, "incident",
        j->r.kind < 0 ? "all" : att_incident_name(j->r.kind),
        "reason", j->r.reason, "reason_label", rs ? rs->label : j->r.reason,
        "reason_label_en", rs ? att_reason_label_en(rs) : j->r.reason,
        "text", j->text, "state", att_just_state_name(j->r.state),
        "created", at);
    json_object_set_new(o, "filed_by", json_string(j->r.filed_by));
    json_object_set_new(o, "folio", j->r.folio[0]
        ? json_string(j->r.folio) : json_null());
    if (j->r.decided) {
        att_iso8601((time_t) j->r.decided, at);
        json_object_set_new(o, "decided", json_string(at));
        json_object_set_new(o, "decided_by", json_string(j->r.decided_by));
        json_object_set_new(o, "comment", json_string(j->comment));
        json_object_set_new(o, "decision_folio",
            json_string(j->r.decision_folio));
    }
    json_object_set_new(o, "attachment", j->r.attachment_len
        ? json_pack("{s:s,s:i}", "type", j->r.attachment_type, "bytes",
                    (json_int_t) j->r.attachment_len)
        : json_null());
    return o;
}

/* A notification for curp: {"time","kind","id","curp","state","date"}. */
static int
notify(MDB_txn *txn, const char *to, const char *kind,
    const struct att_just *j, time_t now)
{
    json_t  *o;
    char     id[32], at[32], date[11], *s;
    int      rc;

    if (to == NULL || to[0] == '\0') {
        return 0;
    }
    just_id_text(j->r.id, id);
    att_iso8601(now, at);
    att_format_date(j->r.day, date);
    o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "time", at, "kind", kind,
        "justification", id, "curp", j->r.curp, "state",
        att_just_state_name(j->r.state), "date", date);
    s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (s == NULL) {
        return ENOMEM;
    }
    rc = atts_notify_put(txn, att_dbi(), to, s);
    free(s);
    return rc;
}

static int
storage(struct hipc_writer *w, int rc)
{
    ops_error(w, "storage_error", NULL, "%s", mdb_strerror(rc));
    return HIPC_ST_INTERNAL;
}

/* Receipt + reply of a filed or decided justification. */
static int
just_reply(MDB_txn *txn, struct hipc_writer *w, struct att_just *j,
    const char *type, char *folio_out)
{
    json_t  *doc = just_json(j), *payload;
    char     id[32], folio[32], *jws = NULL, *s;
    int      rc;

    just_id_text(j->r.id, id);
    payload = json_pack("{s:s,s:s,s:s,s:s}", "justification", id, "curp",
        j->r.curp, "state", att_just_state_name(j->r.state), "reason",
        j->r.reason);
    folio[0] = '\0';
    if (payload) {
        att_receipt(txn, type, payload, j->r.curp, folio, &jws);
        json_decref(payload);
    }
    if (folio_out && jws) {
        snprintf(folio_out, ATT_FOLIO_MAX, "%s", folio);
        json_object_set_new(doc, "decision_folio", json_string(folio));
        if ((rc = atts_just_put(txn, att_dbi(), j)) != 0) {
            free(jws);
            json_decref(doc);
            return storage(w, rc);
        }
    }
    s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    hipc_put_str(w, HIPC_F_JUST_ID, id);
    if (s) {
        hipc_put_str(w, HIPC_F_JSON, s);
        free(s);
    }
    if (jws) {
        hipc_put_str(w, HIPC_F_FOLIO, folio);
        hipc_put_str(w, HIPC_F_RECEIPT, jws);
        free(jws);
    }
    return HIPC_ST_OK;
}

/* ---- writes ------------------------------------------------------------- */

static int
write_create(struct att_job *job, MDB_txn *txn, struct hipc_writer *w)
{
    const struct att_rules  *r = att_rules();
    struct att_just         *j;
    struct att_punch_rec     p;
    char                     curp[ATT_CURP_MAX], id[32];
    int                      rc, st;

    j = calloc(1, sizeof(*j));
    if (j == NULL) {
        ops_error(w, "out_of_memory", NULL, "huellad is out of memory");
        return HIPC_ST_BUSY;
    }
    j->r.version = 1;
    j->r.day = job->f.date;
    if (job->f.folio[0]) {
        rc = atts_punch_by_folio(txn, att_dbi(), job->f.folio, curp, &p);
        if (rc == MDB_NOTFOUND || (rc == 0 && strcmp(curp, job->f.curp))) {
            free(j);
            ops_error(w, "punch_not_found", "folio", "%s has no punch with "
                "folio %s", job->f.curp, job->f.folio);
            return HIPC_ST_NOT_FOUND;
        }
        if (rc != 0) {
            free(j);
            return storage(w, rc);
        }
        if (job->f.date != ATT_NO_DAY && job->f.date != p.day) {
            free(j);
            ops_error(w, "date_mismatch", "date", "punch %s belongs to "
                "another day", job->f.folio);
            return HIPC_ST_INVALID;
        }
        j->r.day = p.day;
        snprintf(j->r.folio, sizeof(j->r.folio), "%s", job->f.folio);
    }
    if ((rc = atts_counter_next(txn, att_dbi(), "just", &j->r.id)) != 0) {
        free(j);
        return storage(w, rc);
    }
    j->r.state = ATT_J_PENDIENTE;
    j->r.kind = (int8_t) job->f.kind;
    j->r.created = (uint64_t) job->now;
    j->r.attachment_len = job->f.attachment_len;
    snprintf(j->r.curp, sizeof(j->r.curp), "%s", job->f.curp);
    snprintf(j->r.reason, sizeof(j->r.reason), "%s", job->f.reason);
    snprintf(j->r.filed_by, sizeof(j->r.filed_by), "%.39s", job->f.actor);
    snprintf(j->r.attachment_type, sizeof(j->r.attachment_type), "%s",
        job->f.attachment_type);
    snprintf(j->text, sizeof(j->text), "%s", job->f.text);
    just_id_text(j->r.id, id);
    if ((rc = atts_just_put(txn, att_dbi(), j)) != 0
        || (job->f.attachment_len
            && (rc = atts_attachment_put(txn, att_dbi(), j->r.id,
                    job->f.attachment, job->f.attachment_len)) != 0)
        || (rc = notify(txn, att_person_supervisor(r,
                att_person_find(r, j->r.curp)), "justification_filed", j,
                job->now)) != 0
        || (rc = id_audit(txn, job->f.actor, "justification_filed",
                j->r.curp, job->f.client, "id", id, "reason", j->r.reason,
                NULL)) != 0)
    {
        free(j);
        return storage(w, rc);
    }
    st = just_reply(txn, w, j, "justification_filed", NULL);
    free(j);
    return st;
}

static int
write_decide(struct att_job *job, MDB_txn *txn, struct hipc_writer *w)
{
    struct att_just  *j = calloc(1, sizeof(*j));
    char              id[32];
    int               rc, st;

    if (j == NULL) {
        ops_error(w, "out_of_memory", NULL, "huellad is out of memory");
        return HIPC_ST_BUSY;
    }
    just_id_text(job->f.just_id, id);
    rc = atts_just_get(txn, att_dbi(), job->f.just_id, j);
    if (rc == MDB_NOTFOUND) {
        free(j);
        ops_error(w, "justification_not_found", "id", "no justification "
            "%s", id);
        return HIPC_ST_NOT_FOUND;
    }
    if (rc != 0) {
        free(j);
        return storage(w, rc);
    }
    /* only the person's supervisor (or theirs, up the chain) decides; not
     * an admin, not the person */
    if (!att_reports_to(att_rules(), j->r.curp, job->f.actor)) {
        ops_error(w, "not_your_report", "id", "%s does not report to the "
            "caller", j->r.curp);
        free(j);
        return HIPC_ST_FORBIDDEN;
    }
    if (j->r.state != ATT_J_PENDIENTE) {
        ops_error(w, "already_decided", "id", "%s was already %s", id,
            j->r.state == ATT_J_JUSTIFICADA ? "approved" : "rejected");
        free(j);
        return HIPC_ST_CONFLICT;
    }
    j->r.state = job->f.approve ? ATT_J_JUSTIFICADA : ATT_J_RECHAZADA;
    j->r.decided = (uint64_t) job->now;
    snprintf(j->r.decided_by, sizeof(j->r.decided_by), "%.39s",
        job->f.actor);
    snprintf(j->comment, sizeof(j->comment), "%s", job->f.comment);
    if ((rc = atts_just_put(txn, att_dbi(), j)) != 0
        || (rc = notify(txn, j->r.curp, "justification_decided", j,
                job->now)) != 0
        || (rc = id_audit(txn, job->f.actor, job->f.approve
                ? "justification_approved" : "justification_rejected",
                j->r.curp, job->f.client, "id", id, "comment",
                j->comment, NULL)) != 0)
    {
        free(j);
        return storage(w, rc);
    }
    st = just_reply(txn, w, j, job->f.approve ? "justification_approved"
        : "justification_rejected", j->r.decision_folio);
    free(j);
    return st;
}

static int
write_append(struct att_job *job, MDB_txn *txn, struct hipc_writer *w)
{
    struct att_just  *j = calloc(1, sizeof(*j));
    MDB_val           old;
    uint8_t          *buf;
    size_t            have = 0, total;
    int               rc;

    if (j == NULL) {
        ops_error(w, "out_of_memory", NULL, "huellad is out of memory");
        return HIPC_ST_BUSY;
    }
    rc = atts_just_get(txn, att_dbi(), job->f.just_id, j);
    if (rc != 0 || strcmp(j->r.curp, job->f.actor) != 0) {
        free(j);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            return storage(w, rc);
        }
        ops_error(w, "justification_not_found", "id", "no such "
            "justification of yours");
        return HIPC_ST_NOT_FOUND;
    }
    if (j->r.state != ATT_J_PENDIENTE) {
        free(j);
        ops_error(w, "already_decided", "id", "a decided justification "
            "cannot change");
        return HIPC_ST_CONFLICT;
    }
    rc = atts_attachment_get(txn, att_dbi(), j->r.id, &old);
    if (rc == 0) {
        have = old.mv_size;
    } else if (rc != MDB_NOTFOUND) {
        free(j);
        return storage(w, rc);
    }
    total = have + job->f.attachment_len;
    if (total > att_rules()->max_attachment_bytes) {
        free(j);
        ops_error(w, "attachment_too_large", "attachment", "attachments "
            "are limited to %u bytes", att_rules()->max_attachment_bytes);
        return HIPC_ST_TOO_LARGE;
    }
    buf = malloc(total ? total : 1);
    if (buf == NULL) {
        free(j);
        ops_error(w, "out_of_memory", NULL, "huellad is out of memory");
        return HIPC_ST_BUSY;
    }
    if (have) {
        memcpy(buf, old.mv_data, have);
    }
    memcpy(buf + have, job->f.attachment, job->f.attachment_len);
    j->r.attachment_len = (uint32_t) total;
    if (job->f.attachment_type[0]) {
        snprintf(j->r.attachment_type, sizeof(j->r.attachment_type), "%s",
            job->f.attachment_type);
    }
    rc = atts_attachment_put(txn, att_dbi(), j->r.id, buf, total);
    free(buf);
    if (rc == 0) {
        rc = atts_just_put(txn, att_dbi(), j);
    }
    free(j);
    if (rc != 0) {
        return storage(w, rc);
    }
    hipc_put_u32(w, HIPC_F_TOTAL, (uint32_t) total);
    return HIPC_ST_OK;
}

int
att_justify_write(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w)
{
    struct att_job  *job = rq->prep;

    switch (rq->op) {
    case HIPC_OP_JUSTIFY_CREATE: return write_create(job, txn, w);
    case HIPC_OP_JUSTIFY_DECIDE: return write_decide(job, txn, w);
    default: return write_append(job, txn, w);
    }
}

/* ---- reads (pool) ------------------------------------------------------- */

struct list_ctx {
    const struct att_job  *job;
    int                    everyone;
    json_t                *arr;
};

static int
list_one(void *arg, const struct att_just *j)
{
    struct list_ctx  *c = arg;

    if (c->job->f.team && !c->everyone
        && !att_reports_to(att_rules(), j->r.curp, c->job->f.actor))
    {
        return 0;
    }
    json_array_insert_new(c->arr, 0, just_json(j));   /* newest first */
    return 0;
}

static void
list_run(void *arg, struct hd_thread *th)
{
    struct hd_request  *rq = arg;
    struct att_job     *job = rq->prep;
    struct list_ctx     c = { job, 0, json_array() };
    MDB_txn            *txn;
    int                 rc;

    c.everyone = att_role(job->f.roles, "admin")
                 || att_role(job->f.roles, "auditor");
    if ((rc = store_read_begin(ops_store(), &txn)) == 0) {
        rc = atts_just_each(txn, att_dbi(), job->f.team ? NULL
            : job->f.actor, list_one, &c);
        mdb_txn_abort(txn);
    }
    if (rc != 0) {
        json_decref(c.arr);
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
    } else {
        /* the newest 200 are enough for an inbox */
        while (json_array_size(c.arr) > 200) {
            json_array_remove(c.arr, json_array_size(c.arr) - 1);
        }
        att_reply_json(rq, th, c.arr);
    }
    hd_request_free(rq);
}

static void
attachment_run(void *arg, struct hd_thread *th)
{
    struct hd_request   *rq = arg;
    struct att_job      *job = rq->prep;
    struct att_just     *j = malloc(sizeof(*j));
    struct hipc_writer   w;
    MDB_txn             *txn = NULL;
    MDB_val              v;
    size_t               n;
    int                  rc;

    if (j == NULL || (rc = store_read_begin(ops_store(), &txn)) != 0) {
        ops_reply_error(rq, HIPC_ST_BUSY, "busy", NULL, "cannot read now");
        goto done;
    }
    rc = atts_just_get(txn, att_dbi(), job->f.just_id, j);
    if (rc != 0 || !att_may_view(&job->f, j->r.curp)) {
        ops_reply_error(rq, rc == 0 ? HIPC_ST_FORBIDDEN : HIPC_ST_NOT_FOUND,
            rc == 0 ? "not_your_report" : "justification_not_found", "id",
            "no such justification for the caller");
        goto done;
    }
    rc = atts_attachment_get(txn, att_dbi(), j->r.id, &v);
    if (rc != 0) {
        ops_reply_error(rq, HIPC_ST_NOT_FOUND, "attachment_not_found", "id",
            "this justification has no attachment");
        goto done;
    }
    if (job->f.offset > v.mv_size) {
        ops_reply_error(rq, HIPC_ST_INVALID, "invalid_offset", "offset",
            "offset past the end (%zu bytes)", v.mv_size);
        goto done;
    }
    n = v.mv_size - job->f.offset;
    if (n > ATT_CHUNK_MAX) {
        n = ATT_CHUNK_MAX;
    }
    hipc_writer_init(&w, th->reply, sizeof(th->reply));
    hipc_put(&w, HIPC_F_ATTACHMENT, (const uint8_t *) v.mv_data
        + job->f.offset, n);
    hipc_put_str(&w, HIPC_F_ATTACHMENT_TYPE, j->r.attachment_type);
    hipc_put_u32(&w, HIPC_F_TOTAL, (uint32_t) v.mv_size);
    hd_reply(rq, HIPC_ST_OK, th->reply, w.len);

done:
    if (txn) {
        mdb_txn_abort(txn);
    }
    free(j);
    hd_request_free(rq);
}

static int
notify_one(void *arg, const char *json, size_t len)
{
    json_t  *o = json_loadb(json, len, 0, NULL);

    if (o) {
        json_array_append_new(arg, o);
    }
    return 0;
}

static void
notify_run(void *arg, struct hd_thread *th)
{
    struct hd_request  *rq = arg;
    struct att_job     *job = rq->prep;
    json_t             *arr = json_array();
    MDB_txn            *txn;
    int                 rc;

    if ((rc = store_read_begin(ops_store(), &txn)) == 0) {
        rc = atts_notify_latest(txn, att_dbi(), job->f.actor,
            job->f.value ? job->f.value : 50, notify_one, arr);
        mdb_txn_abort(txn);
    }
    if (rc != 0) {
        json_decref(arr);
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
    } else {
        att_reply_json(rq, th, arr);
    }
    hd_request_free(rq);
}

/* ---- ring thread -------------------------------------------------------- */

static int
create_check(struct hd_request *rq, struct att_job *job)
{
    const struct att_rules  *r = att_rules();

    if (!att_has(&job->f, HIPC_F_DATE) && !att_has(&job->f, HIPC_F_FOLIO)) {
        ops_reply_error(rq, HIPC_ST_BAD_REQUEST, "missing_field", "date",
            "a justification names a date or a punch folio");
        return -1;
    }
    if (strcmp(job->f.actor, job->f.curp) != 0
        && !att_role(job->f.roles, "admin"))
    {
        ops_reply_error(rq, HIPC_ST_FORBIDDEN, "not_yourself", "curp",
            "workers file justifications for themselves");
        return -1;
    }
    if (att_reason_find(r, job->f.reason) == NULL) {
        ops_reply_error(rq, HIPC_ST_INVALID, "unknown_reason", "reason",
            "reason '%s' is not in the catalog (attendance.reasons)",
            job->f.reason);
        return -1;
    }
    if (job->f.attachment_len > r->max_attachment_bytes) {
        ops_reply_error(rq, HIPC_ST_TOO_LARGE, "attachment_too_large",
            "attachment", "attachments are limited to %u bytes",
            r->max_attachment_bytes);
        return -1;
    }
    if (job->f.attachment && !job->f.attachment_type[0]) {
        ops_reply_error(rq, HIPC_ST_INVALID, "invalid_attachment_type",
            "attachment_type", "an attachment needs its MIME type");
        return -1;
    }
    return 0;
}

void
att_justify_handle(struct hd_request *rq, struct hd_thread *th)
{
    static const uint16_t  c_allowed[] = { HIPC_F_CURP, HIPC_F_DATE,
        HIPC_F_FOLIO, HIPC_F_REASON, HIPC_F_TEXT, HIPC_F_KIND,
        HIPC_F_ATTACHMENT, HIPC_F_ATTACHMENT_TYPE, HIPC_F_ACTOR,
        HIPC_F_ROLES, HIPC_F_CLIENT, HIPC_F_TEST_NOW, 0 };
    static const uint16_t  c_required[] = { HIPC_F_CURP, HIPC_F_REASON,
        HIPC_F_ACTOR, HIPC_F_ROLES, 0 };
    static const uint16_t  d_allowed[] = { HIPC_F_JUST_ID, HIPC_F_DECISION,
        HIPC_F_COMMENT, HIPC_F_ACTOR, HIPC_F_ROLES, HIPC_F_CLIENT,
        HIPC_F_TEST_NOW, 0 };
    static const uint16_t  d_required[] = { HIPC_F_JUST_ID, HIPC_F_DECISION,
        HIPC_F_ACTOR, HIPC_F_ROLES, 0 };
    static const uint16_t  l_allowed[] = { HIPC_F_SCOPE, HIPC_F_ACTOR,
        HIPC_F_ROLES, HIPC_F_CLIENT, 0 };
    static const uint16_t  l_required[] = { HIPC_F_SCOPE, HIPC_F_ACTOR,
        HIPC_F_ROLES, 0 };
    static const uint16_t  g_allowed[] = { HIPC_F_JUST_ID, HIPC_F_ACTOR,
        HIPC_F_ROLES, HIPC_F_OFFSET, HIPC_F_CLIENT, 0 };
    static const uint16_t  g_required[] = { HIPC_F_JUST_ID, HIPC_F_ACTOR,
        HIPC_F_ROLES, 0 };
    static const uint16_t  a_allowed[] = { HIPC_F_JUST_ID, HIPC_F_ACTOR,
        HIPC_F_ROLES, HIPC_F_ATTACHMENT, HIPC_F_ATTACHMENT_TYPE,
        HIPC_F_CLIENT, 0 };
    static const uint16_t  a_required[] = { HIPC_F_JUST_ID, HIPC_F_ACTOR,
        HIPC_F_ROLES, HIPC_F_ATTACHMENT, 0 };
    static const uint16_t  n_allowed[] = { HIPC_F_ACTOR, HIPC_F_ROLES,
        HIPC_F_VALUE, HIPC_F_CLIENT, 0 };
    static const uint16_t  n_required[] = { HIPC_F_ACTOR, 0 };
    struct att_job        *job;

    (void) th;
    switch (rq->op) {
    case HIPC_OP_JUSTIFY_CREATE:
        if ((job = att_job_new(rq, c_allowed, c_required)) == NULL) {
            return;
        }
        if (create_check(rq, job) != 0) {
            free(job);
            return;
        }
        att_dispatch(rq, job, NULL);
        return;
    case HIPC_OP_JUSTIFY_DECIDE:
        if ((job = att_job_new(rq, d_allowed, d_required)) != NULL) {
            att_dispatch(rq, job, NULL);
        }
        return;
    case HIPC_OP_JUSTIFY_LIST:
        if ((job = att_job_new(rq, l_allowed, l_required)) != NULL) {
            att_dispatch(rq, job, list_run);
        }
        return;
    case HIPC_OP_JUSTIFY_ATTACHMENT_GET:
        if ((job = att_job_new(rq, g_allowed, g_required)) != NULL) {
            att_dispatch(rq, job, attachment_run);
        }
        return;
    case HIPC_OP_JUSTIFY_ATTACHMENT_APPEND:
        if ((job = att_job_new(rq, a_allowed, a_required)) != NULL) {
            att_dispatch(rq, job, NULL);
        }
        return;
    case HIPC_OP_NOTIFY_LIST:
        if ((job = att_job_new(rq, n_allowed, n_required)) == NULL) {
            return;
        }
        if (job->f.value > 500) {
            free(job);
            ops_reply_error(rq, HIPC_ST_INVALID, "invalid_limit", "limit",
                "at most 500 notifications at once");
            return;
        }
        att_dispatch(rq, job, notify_run);
        return;
    default:
        ops_reply_error(rq, HIPC_ST_BAD_REQUEST, "unknown_op", NULL,
            "operation %u is unknown", rq->op);
        return;
    }
}
