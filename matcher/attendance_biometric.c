/*
 * attendance_biometric.c -- a person's biometric punches disabled after
 * `throttle.disable_after` (50) consecutive failed attempts (NIST SP
 * 800-63B 5.2.2, as the password lockout in accounts.c), and the admin
 * ops that list and re-enable them: BIOMETRIC_LIST (103) and
 * BIOMETRIC_ENABLE (102).
 *
 * The count is the per-person throttle counter ('T' "p:" CURP,
 * attendance_punch.c), which a match clears; a person is disabled while
 * it is at or past the limit, so the state is durable with the counter
 * and needs no record of its own.  Only an admin's BIOMETRIC_ENABLE
 * clears it once reached (a punch of a disabled person is refused before
 * matching, so no match can clear it).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attendance.h"
#include "attendance_store.h"
#include "identity.h"
#include "ipc_server.h"
#include "store.h"

int
att_biometric_disabled(MDB_txn *txn, const char *curp, unsigned *failures)
{
    struct att_throttle  t;
    char                 name[ATT_CURP_MAX + 4];

    snprintf(name, sizeof(name), "p:%s", curp);
    if (atts_throttle_get(txn, att_dbi(), name, &t) != 0) {
        t.failures = 0;
    }
    if (failures) {
        *failures = t.failures;
    }
    return t.failures >= att_rules()->disable_after;
}

/* ---- BIOMETRIC_LIST (pool) ---------------------------------------------- */

struct list_ctx {
    MDB_txn  *txn;
    json_t   *a;
};

static int
list_one(void *arg, const char *name, const struct att_throttle *t)
{
    struct list_ctx       *c = arg;
    struct store_subject   subj;
    char                   at[32];
    const char            *curp = name + 2;

    if (t->failures < att_rules()->disable_after) {
        return 0;
    }
    subj.name[0] = '\0';
    if (store_subject_get(ops_store(), c->txn, curp, &subj) != 0) {
        subj.name[0] = '\0';
    }
    att_iso8601((time_t) t->last_failure, at);
    json_array_append_new(c->a, json_pack("{s:s,s:s?,s:i,s:s}", "curp", curp,
        "name", subj.name[0] ? subj.name : NULL, "failures",
        (int) t->failures, "last_failure", at));
    return json_array_size(c->a) >= 500;
}

static void
list_run(void *arg, struct hd_thread *th)
{
    struct hd_request  *rq = arg;
    struct list_ctx     c = { NULL, json_array() };
    int                 rc;

    if ((rc = store_read_begin(ops_store(), &c.txn)) != 0) {
        json_decref(c.a);
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
        hd_request_free(rq);
        return;
    }
    rc = atts_throttle_each(c.txn, att_dbi(), "p:", list_one, &c);
    mdb_txn_abort(c.txn);
    if (rc != 0) {
        json_decref(c.a);
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
    } else {
        att_reply_json(rq, th, json_pack("{s:i,s:o}", "disable_after",
            (int) att_rules()->disable_after, "disabled", c.a));
    }
    hd_request_free(rq);
}

/* ---- dispatch ----------------------------------------------------------- */

void
att_biometric_handle(struct hd_request *rq, struct hd_thread *th)
{
    static const uint16_t  list_allowed[] = { HIPC_F_ACTOR, HIPC_F_ROLES,
                                              HIPC_F_CLIENT, 0 };
    static const uint16_t  list_required[] = { HIPC_F_ACTOR, HIPC_F_ROLES,
                                               0 };
    static const uint16_t  enable_allowed[] = { HIPC_F_CURP, HIPC_F_ACTOR,
                                                HIPC_F_ROLES, HIPC_F_CLIENT,
                                                0 };
    static const uint16_t  enable_required[] = { HIPC_F_CURP, HIPC_F_ACTOR,
                                                 HIPC_F_ROLES, 0 };
    struct att_job        *job;
    int                    list = rq->op == HIPC_OP_BIOMETRIC_LIST;

    (void) th;
    job = att_job_new(rq, list ? list_allowed : enable_allowed,
        list ? list_required : enable_required);
    if (job == NULL) {
        return;
    }
    if (!att_role(job->f.roles, "admin")
        && !(list && att_role(job->f.roles, "auditor")))
    {
        free(job);
        ops_reply_error(rq, HIPC_ST_FORBIDDEN, "admin_only", NULL,
            "only an admin %s biometric punches", list ? "lists disabled"
            : "re-enables");
        return;
    }
    att_dispatch(rq, job, list ? list_run : NULL);
}

/* BIOMETRIC_ENABLE (writer): clears the count, with its audit entry. */
int
att_biometric_write(struct hd_request *rq, MDB_txn *txn,
    struct hipc_writer *w)
{
    struct att_job  *job = rq->prep;
    char             name[ATT_CURP_MAX + 4], n[16];
    unsigned         failures;
    json_t          *doc;
    char            *s;
    int              rc;

    if (!att_biometric_disabled(txn, job->f.curp, &failures)) {
        ops_error(w, "not_disabled", "curp", "the biometric punches of %s "
            "are not disabled (%u consecutive failures of %u)",
            job->f.curp, failures, att_rules()->disable_after);
        return HIPC_ST_CONFLICT;
    }
    snprintf(name, sizeof(name), "p:%s", job->f.curp);
    snprintf(n, sizeof(n), "%u", failures);
    if ((rc = atts_throttle_clear(txn, att_dbi(), name)) != 0
        || (rc = id_audit(txn, job->f.actor, "biometric_enabled",
                job->f.curp, job->f.client, "failures", n, NULL)) != 0)
    {
        ops_error(w, "storage_error", NULL, "%s", mdb_strerror(rc));
        return HIPC_ST_INTERNAL;
    }
    doc = json_pack("{s:s,s:b,s:i}", "curp", job->f.curp, "enabled", 1,
        "failures_cleared", (int) failures);
    s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (s == NULL) {
        ops_error(w, "out_of_memory", NULL, "huellad is out of memory");
        return HIPC_ST_BUSY;
    }
    hipc_put(w, HIPC_F_JSON, s, strlen(s));
    free(s);
    return HIPC_ST_OK;
}
