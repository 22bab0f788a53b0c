/*
 * enrollment_status.c -- subject biometric status, faces, quality
 * refusals, exceptions, EXCEPTION_LIST and SUBJECT_LOOKUP (see
 * enrollment_status.h).
 */

#include "enrollment_status.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "enrollment_jobs.h"
#include "identity.h"
#include "ipc_server.h"
#include "registry.h"

#define T(x) HIPC_F_##x
#define STATUS_MAX  4096

/* ---- status ----------------------------------------------------------------- */

int
en_status_state(MDB_txn *txn, const char *curp, char *out, size_t cap)
{
    const uint8_t  *rec;
    size_t          len;
    int             rc = en_record_get(txn, en_db_enroll(), "s:", curp, &rec,
                             &len);

    if (rc == 0) {
        en_record_str(rec, len, T(STATE), out, cap);
    }
    return rc;
}

int
en_status_enrolled(MDB_txn *txn, const struct en_fields *f, const char *nss,
    unsigned fingers, const char *folio)
{
    uint8_t             buf[STATUS_MAX];
    struct hipc_writer  w;
    struct hipc_reader  r;
    const uint8_t      *rec, *d;
    size_t              len, at;
    uint32_t            n;
    uint16_t            tag;
    unsigned            i;
    char                kb[64];
    MDB_val             k, v;
    int                 rc;

    hipc_writer_init(&w, buf, sizeof(buf));
    hipc_put_str(&w, T(STATE), "enrolled");
    hipc_put_str(&w, T(RFC), f->rfc);
    hipc_put_str(&w, T(DEVICE_ID), f->device_id);
    hipc_put_str(&w, T(FOLIO), folio);
    hipc_put_str(&w, T(ACTOR), f->actor);
    hipc_put_u64(&w, T(CREATED), (uint64_t) time(NULL));
    hipc_put_u32(&w, T(VALUE), fingers);
    if (f->has_face) {
        hipc_put_str(&w, T(FACE_MODEL), f->face_model);
    }
    for (i = 0; i < f->nmissing; i++) {
        at = hipc_open(&w, T(MISSING));
        hipc_put_u32(&w, T(POSITION), f->missing[i].position);
        hipc_put_str(&w, T(REASON), f->missing[i].reason);
        hipc_close(&w, at);
    }
    /* Flags set earlier (by an auditor) survive. */
    if (en_record_get(txn, en_db_enroll(), "s:", f->curp, &rec, &len) == 0) {
        hipc_reader_init(&r, rec, len);
        while (hipc_next(&r, &tag, &d, &n) == 1) {
            if (tag == T(WARNING)) {
                hipc_put(&w, T(WARNING), d, n);
            }
        }
    }
    rc = en_record_put(txn, en_db_enroll(), "s:", f->curp, &w);
    if (rc == 0 && nss && nss[0]) {
        k = en_key(kb, sizeof(kb), "n:", nss);
        v.mv_data = (void *) f->curp;
        v.mv_size = strlen(f->curp);
        rc = mdb_put(txn, en_db_enroll(), &k, &v, 0);
    }
    return rc;
}

int
en_status_flag(MDB_txn *txn, const char *curp, const char *flag,
    const char *state)
{
    uint8_t             buf[STATUS_MAX];
    struct hipc_writer  w;
    struct hipc_reader  r;
    const uint8_t      *rec = NULL, *d;
    size_t              len = 0;
    uint32_t            n;
    uint16_t            tag;
    int                 rc, had_state = 0;

    rc = en_record_get(txn, en_db_enroll(), "s:", curp, &rec, &len);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        return rc;
    }
    hipc_writer_init(&w, buf, sizeof(buf));
    if (state) {
        hipc_put_str(&w, T(STATE), state);
        had_state = 1;
    }
    hipc_reader_init(&r, rec, len);
    while (rec && hipc_next(&r, &tag, &d, &n) == 1) {
        if (tag == T(WARNING) && n == strlen(flag) && !memcmp(d, flag, n)) {
            continue;
        }
        if (tag == T(STATE)) {
            if (had_state) {
                continue;
            }
            had_state = 1;
        }
        hipc_put(&w, tag, d, n);
    }
    if (!had_state) {
        hipc_put_str(&w, T(STATE), "flagged");
    }
    hipc_put_str(&w, T(WARNING), flag);
    return en_record_put(txn, en_db_enroll(), "s:", curp, &w);
}

int
en_face_put(MDB_txn *txn, const char *curp, const char *model, uint32_t dim,
    const uint8_t *data)
{
    struct hipc_writer  w;
    uint8_t            *buf;
    size_t              cap = (size_t) dim * 4 + 256;
    int                 rc;

    buf = malloc(cap);
    if (buf == NULL) {
        return ENOMEM;
    }
    hipc_writer_init(&w, buf, cap);
    hipc_put_str(&w, T(FACE_MODEL), model);
    hipc_put_u32(&w, T(FACE_DIM), dim);
    hipc_put(&w, T(FACE_DATA), data, (size_t) dim * 4);
    hipc_put_u64(&w, T(CREATED), (uint64_t) time(NULL));
    rc = en_record_put(txn, en_db_enroll(), "f:", curp, &w);
    free(buf);
    return rc;
}

/* ---- exceptions and quality refusals ----------------------------------------- */

int
en_exception_open(MDB_txn *txn, const char *curp, const char *reason,
    const char *detail, const char *actor, const char *client)
{
    uint8_t             buf[2048];
    struct hipc_writer  w;
    const uint8_t      *rec;
    size_t              len;
    char                state[EN_WORD_MAX];
    int                 rc;

    rc = en_record_get(txn, en_db_enroll(), "x:", curp, &rec, &len);
    if (rc == 0) {
        en_record_str(rec, len, T(STATE), state, sizeof(state));
        if (strcmp(state, "open") == 0) {
            return 0;
        }
    } else if (rc != MDB_NOTFOUND) {
        return rc;
    }
    hipc_writer_init(&w, buf, sizeof(buf));
    hipc_put_str(&w, T(CURP), curp);
    hipc_put_str(&w, T(REASON), reason);
    hipc_put_str(&w, T(MESSAGE), EN_EXCEPTION_MESSAGE);
    hipc_put_str(&w, T(DETAIL), detail);
    hipc_put_str(&w, T(STATE), "open");
    hipc_put_str(&w, T(ACTOR), actor);
    hipc_put_u64(&w, T(CREATED), (uint64_t) time(NULL));
    rc = en_record_put(txn, en_db_enroll(), "x:", curp, &w);
    if (rc == 0) {
        rc = id_audit(txn, actor, "exception_opened", curp, client, "reason",
            reason, NULL);
    }
    return rc;
}

int
en_quality_refused(MDB_txn *txn, const char *curp, const char *actor,
    const char *client, int *opened)
{
    struct {
        uint64_t  count;
        uint64_t  window_start;
    } q = { 0, 0 };
    uint64_t  now = (uint64_t) time(NULL);
    char      kb[64], detail[96];
    MDB_val   k = en_key(kb, sizeof(kb), "q:", curp), v;
    int       rc;

    *opened = 0;
    rc = mdb_get(txn, en_db_enroll(), &k, &v);
    if (rc == 0 && v.mv_size == sizeof(q)) {
        memcpy(&q, v.mv_data, sizeof(q));
    } else if (rc != 0 && rc != MDB_NOTFOUND) {
        return rc;
    }
    if (now - q.window_start >= en_cfg()->quality_window_s) {
        q.count = 0;
        q.window_start = now;
    }
    q.count++;
    v.mv_data = &q;
    v.mv_size = sizeof(q);
    if ((rc = mdb_put(txn, en_db_enroll(), &k, &v, 0)) != 0) {
        return rc;
    }
    if (q.count == en_cfg()->quality_failures) {
        snprintf(detail, sizeof(detail), "%llu captures refused for quality "
            "within %u s", (unsigned long long) q.count,
            en_cfg()->quality_window_s);
        rc = en_exception_open(txn, curp, "repeated_quality_failure", detail,
            actor, client);
        *opened = rc == 0;
    }
    return rc;
}

/* ---- EXCEPTION_LIST --------------------------------------------------------- */

static json_t *
exception_json(const uint8_t *rec, size_t len)
{
    char  s[6][STORE_NAME_MAX];

    en_record_str(rec, len, T(CURP), s[0], sizeof(s[0]));
    en_record_str(rec, len, T(REASON), s[1], sizeof(s[1]));
    en_record_str(rec, len, T(MESSAGE), s[2], sizeof(s[2]));
    en_record_str(rec, len, T(DETAIL), s[3], sizeof(s[3]));
    en_record_str(rec, len, T(STATE), s[4], sizeof(s[4]));
    en_record_str(rec, len, T(ACTOR), s[5], sizeof(s[5]));
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "curp", s[0],
        "reason", s[1], "message", s[2], "detail", s[3], "status", s[4],
        "opened_by", s[5], "created",
        (json_int_t) en_record_u64(rec, len, T(CREATED)));
}

static void
op_exception_list(struct hd_request *rq, struct hd_thread *th)
{
    static const uint16_t  tags[] = { T(CURP), 0 };
    struct en_fields       f;
    MDB_txn               *txn = NULL;
    MDB_cursor            *cur = NULL;
    MDB_val                k = { 2, (void *) "x:" }, v;
    json_t                *arr, *o;
    char                   kb[64];
    int                    rc;

    if (en_list_open(rq, tags, en_db_enroll(), &f, &txn, &cur) != 0) {
        return;
    }
    if (f.curp[0]) {
        k = en_key(kb, sizeof(kb), "x:", f.curp);
    }
    arr = json_array();
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    {
        if (k.mv_size < 2 || memcmp(k.mv_data, "x:", 2) != 0
            || (f.curp[0] && (k.mv_size != 2 + strlen(f.curp)
                || memcmp((char *) k.mv_data + 2, f.curp, k.mv_size - 2))))
        {
            break;
        }
        if (v.mv_size > 1 && (o = exception_json((const uint8_t *) v.mv_data
                + 1, v.mv_size - 1)) != NULL)
        {
            json_array_append_new(arr, o);
        }
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    en_reply_json(rq, th, json_dumps(arr, JSON_COMPACT));
    json_decref(arr);
}

/* ---- SUBJECT_LOOKUP --------------------------------------------------------- */

struct finger_positions {
    json_t  *arr;
};

static int
add_position(void *arg, const struct store_finger *fg)
{
    struct finger_positions  *fp = arg;

    json_array_append_new(fp->arr, json_integer(fg->position));
    return 0;
}

/* CURP of an NSS: the enrollment index, else the accounts' index, else
 * the registered subjects (a worker not yet enrolled and without an
 * account is the lookup's red-flag case). */
static int
resolve_nss(MDB_txn *txn, const char *nss, char *curp)
{
    char                kb[64];
    MDB_val             k = en_key(kb, sizeof(kb), "n:", nss), v;
    struct ids_account  a;

    if (mdb_get(txn, en_db_enroll(), &k, &v) == 0
        && v.mv_size < STORE_CURP_MAX)
    {
        memcpy(curp, v.mv_data, v.mv_size);
        curp[v.mv_size] = '\0';
        return 0;
    }
    if (ids_account_resolve(ops_store(), txn, nss, &a) == 0) {
        snprintf(curp, STORE_CURP_MAX, "%s", a.curp);
        return 0;
    }
    return store_subject_find_nss(ops_store(), txn, nss, curp);
}

static void
op_lookup(struct hd_request *rq, struct hd_thread *th)
{
    static const uint16_t  tags[] = { T(CURP), T(NSS), 0 }, none[] = { 0 };
    struct en_fields       f;
    struct en_err          e;
    struct store_subject   s;
    struct ids_account     a;
    struct finger_positions fp;
    const struct registry_person *person = NULL;
    const uint8_t         *rec, *d;
    size_t                 len;
    uint32_t               n;
    uint16_t               tag;
    struct hipc_reader     r;
    MDB_txn               *txn;
    json_t                *o, *flags, *missing, *exc = json_null();
    char                   curp[STORE_CURP_MAX], state[EN_WORD_MAX];
    char                   buf[STORE_NAME_MAX], rfc[EN_RFC_MAX];
    char                   folio[EN_FOLIO_MAX], model[EN_MODEL_MAX];
    char                   job_id[EN_ID_MAX];
    int                    have_subject, have_account, have_status, held;
    int                    have_exc;
    int                    rc;

    if (en_decode(rq->payload, rq->len, tags, none, &f, &e) != 0) {
        en_reply_err(rq, &e);
        return;
    }
    if (!!f.curp[0] == !!f.nss[0]) {
        ops_reply_error(rq, HIPC_ST_BAD_REQUEST, "missing_field", "curp",
            "give exactly one of CURP and NSS");
        return;
    }
    if ((rc = store_read_begin(ops_store(), &txn)) != 0) {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
        return;
    }
    if (f.curp[0]) {
        snprintf(curp, sizeof(curp), "%s", f.curp);
    } else if (resolve_nss(txn, f.nss, curp) != 0) {
        mdb_txn_abort(txn);
        ops_reply_error(rq, HIPC_ST_NOT_FOUND, "subject_not_found", "nss",
            "no subject with NSS %s", f.nss);
        return;
    }
    have_subject = store_subject_get(ops_store(), txn, curp, &s) == 0;
    have_account = ids_account_get(ops_store(), txn, curp, &a) == 0;
    if (id_rt()->registry) {
        person = registry_find(id_rt()->registry, curp);
    }
    have_status = en_record_get(txn, en_db_enroll(), "s:", curp, &rec, &len)
                  == 0;
    {
        char     kb[64];
        MDB_val  k = en_key(kb, sizeof(kb), "o:", curp), v;

        /* an enrollment held by a dedup case or waiting for its job, or
         * an exception after refused captures, is all there may be of a
         * worker yet: the lookup must say so */
        held = mdb_get(txn, en_db_enroll(), &k, &v) == 0;
        k = en_key(kb, sizeof(kb), "x:", curp);
        have_exc = mdb_get(txn, en_db_enroll(), &k, &v) == 0;
    }
    if (en_jobs_pending(txn, curp, job_id, sizeof(job_id)) != 0) {
        job_id[0] = '\0';
    }
    if (!have_subject && !have_account && !person && !have_status && !held
        && !have_exc && job_id[0] == '\0')
    {
        mdb_txn_abort(txn);
        ops_reply_error(rq, HIPC_ST_NOT_FOUND, "subject_not_found",
            f.curp[0] ? "curp" : "nss", "no subject with CURP %s", curp);
        return;
    }
    fp.arr = json_array();
    if (have_subject) {
        store_finger_each(ops_store(), txn, curp, add_position, &fp);
    }
    flags = json_array();
    missing = json_array();
    state[0] = rfc[0] = folio[0] = model[0] = '\0';
    if (have_status) {
        en_record_str(rec, len, T(STATE), state, sizeof(state));
        en_record_str(rec, len, T(RFC), rfc, sizeof(rfc));
        en_record_str(rec, len, T(FOLIO), folio, sizeof(folio));
        en_record_str(rec, len, T(FACE_MODEL), model, sizeof(model));
        hipc_reader_init(&r, rec, len);
        while (hipc_next(&r, &tag, &d, &n) == 1) {
            if (tag == T(WARNING)) {
                json_array_append_new(flags, json_stringn((const char *) d,
                    n));
            } else if (tag == T(MISSING)) {
                en_record_str(d, n, T(REASON), buf, sizeof(buf));
                json_array_append_new(missing, json_pack("{s:I, s:s}",
                    "position", (json_int_t) en_record_u32(d, n,
                    T(POSITION)), "reason", buf));
            }
        }
    }
    if (en_record_get(txn, en_db_enroll(), "x:", curp, &rec, &len) == 0) {
        exc = exception_json(rec, len);
    }
    if (held) {
        json_array_append_new(flags, json_string("dedup_pending"));
    }
    if (job_id[0]) {
        /* an enrollment accepted, its dedup job not finished */
        json_array_append_new(flags, json_string("dedup_queued"));
    }
    if (json_array_size(fp.arr) == 0 && model[0] == '\0') {
        json_array_append_new(flags, json_string("no_biometrics"));
    }
    if (exc && !json_is_null(exc)) {
        json_array_append_new(flags, json_string("exception"));
    }
    o = json_pack("{s:s, s:s, s:s, s:o, s:{s:s, s:I, s:o, s:b, s:o, s:o},"
        " s:o, s:o}", "curp", curp,
        "nss", have_subject && s.nss[0] ? s.nss : have_account ? a.nss : "",
        "name", have_subject && s.name[0] ? s.name : person ? person->name
        : have_account ? a.name : "",
        "employer_rfc", rfc[0] ? json_string(rfc) : json_null(),
        "biometrics", "status", state[0] ? state
        : json_array_size(fp.arr) ? "templates_only" : "none",
        "fingers_enrolled", (json_int_t) json_array_size(fp.arr),
        "finger_positions", fp.arr, "face", model[0] != '\0',
        "face_model", model[0] ? json_string(model) : json_null(),
        "missing", missing, "flags", flags, "exception", exc);
    if (o && folio[0]) {
        json_object_set_new(o, "folio", json_string(folio));
    }
    if (o && job_id[0]) {
        json_object_set_new(o, "dedup_job_id", json_string(job_id));
    }
    mdb_txn_abort(txn);
    en_reply_json(rq, th, o ? json_dumps(o, JSON_COMPACT) : NULL);
    json_decref(o);
}

void
en_status_handle(struct hd_request *rq, struct hd_thread *th)
{
    if (rq->op == HIPC_OP_EXCEPTION_LIST) {
        op_exception_list(rq, th);
    } else {
        op_lookup(rq, th);
    }
}
