/*
 * enrollment_jobs.c -- queued dedup jobs: their records, the FIFO queue,
 * the job thread and the status documents (see enrollment_jobs.h).
 */

#include "enrollment_jobs.h"

#include <jansson.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "identity.h"
#include "ipc_server.h"
#include "writer.h"

#define T(x) HIPC_F_##x

/* The job thread yields to the pool (kiosk punches, identifies) without
 * being starved on a busy machine: nice +5 is a third of a normal
 * thread's share of a contended core. */
#define JOB_NICE        5
/* DEDUP_JOB_LIST answers at most this many jobs, the newest. */
#define JOB_LIST_MAX    200
/* A job whose outcome could not be committed is tried again after this. */
#define JOB_RETRY_S     1

static struct {
    pthread_mutex_t     lock;
    pthread_cond_t      cond;
    pthread_t           thread;
    int                 wake;
    uint64_t            finished;          /* DEDUP_JOB_FINISH handled */
    char                running[EN_ID_MAX];/* "" when idle */
    struct en_progress  progress;
} jq = { .lock = PTHREAD_MUTEX_INITIALIZER,
         .cond = PTHREAD_COND_INITIALIZER };

/* ---- keys and records --------------------------------------------------- */

static void
seq_key(char *out, size_t cap, uint64_t seq)
{
    snprintf(out, cap, "%016llx", (unsigned long long) seq);
}

static uint64_t
next_job_seq(MDB_txn *txn, int *rc)
{
    char      kb[32];
    MDB_val   k = en_key(kb, sizeof(kb), "m:", "jobseq"), v;
    uint64_t  seq = 0;

    if (mdb_get(txn, en_db_enroll(), &k, &v) == 0
        && v.mv_size == sizeof(seq))
    {
        memcpy(&seq, v.mv_data, sizeof(seq));
    }
    seq++;
    v.mv_data = &seq;
    v.mv_size = sizeof(seq);
    *rc = mdb_put(txn, en_db_enroll(), &k, &v, 0);
    return seq;
}

int
en_jobs_pending(MDB_txn *txn, const char *curp, char *job_id, size_t cap)
{
    char     kb[64];
    MDB_val  k = en_key(kb, sizeof(kb), "p:", curp), v;
    int      rc = mdb_get(txn, en_db_enroll(), &k, &v);

    if (rc == 0) {
        snprintf(job_id, cap, "%.*s", (int) v.mv_size,
            (const char *) v.mv_data);
    }
    return rc;
}

/* 1-based rank of the job with sequence seq among the unfinished ones
 * (the running job is the first). */
static unsigned
queue_position(MDB_txn *txn, uint64_t seq)
{
    MDB_cursor  *cur;
    MDB_val      k = { 2, (void *) "J:" }, v;
    char         own[32], id[20];
    unsigned     n = 1;
    int          rc;

    seq_key(id, sizeof(id), seq);
    snprintf(own, sizeof(own), "J:%s", id);
    if (mdb_cursor_open(txn, en_db_enroll(), &cur) != 0) {
        return 0;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    {
        if (k.mv_size < 2 || memcmp(k.mv_data, "J:", 2) != 0
            || (k.mv_size == strlen(own)
                && memcmp(k.mv_data, own, k.mv_size) >= 0))
        {
            break;
        }
        n++;
    }
    mdb_cursor_close(cur);
    return n;
}

/* ---- accepting a job (writer) ------------------------------------------- */

int
en_jobs_write_queued(const struct en_fields *f, struct enroll_prep *p,
    const uint8_t *payload, size_t len, MDB_txn *txn, struct hipc_writer *w)
{
    struct hipc_writer  jw;
    uint8_t            *buf;
    char                job_id[EN_ID_MAX], kb[64], id[20];
    MDB_val             k, v;
    uint64_t            seq;
    size_t              cap = len + 2048;
    int                 rc;

    buf = malloc(cap);
    if (buf == NULL || en_random_id("dj_", job_id, sizeof(job_id)) != 0) {
        free(buf);
        ops_error(w, "out_of_memory", NULL, "cannot queue the dedup job");
        return HIPC_ST_INTERNAL;
    }
    seq = next_job_seq(txn, &rc);
    hipc_writer_init(&jw, buf, cap);
    hipc_put_str(&jw, T(JOB_ID), job_id);
    hipc_put_str(&jw, T(CURP), f->curp);
    hipc_put_str(&jw, T(RFC), f->rfc);
    hipc_put_str(&jw, T(DEVICE_ID), f->device_id);
    hipc_put_str(&jw, T(ACTOR), f->actor);
    hipc_put_str(&jw, T(STATE), "queued");
    hipc_put_u64(&jw, T(CREATED), (uint64_t) time(NULL));
    hipc_put_u64(&jw, T(JOB_SEQ), seq);
    hipc_put_u64(&jw, T(COMPARISONS), p->comparisons);
    hipc_put(&jw, T(PAYLOAD), payload, (uint32_t) len);
    if (rc == 0) {
        rc = en_record_put(txn, en_db_enroll(), "j:", job_id, &jw);
    }
    free(buf);
    if (rc == 0) {
        seq_key(id, sizeof(id), seq);
        k = en_key(kb, sizeof(kb), "J:", id);
        v.mv_data = job_id;
        v.mv_size = strlen(job_id);
        rc = mdb_put(txn, en_db_enroll(), &k, &v, 0);
    }
    if (rc == 0) {
        k = en_key(kb, sizeof(kb), "p:", f->curp);
        rc = mdb_put(txn, en_db_enroll(), &k, &v, 0);
    }
    if (rc == 0) {
        rc = id_audit(txn, f->actor, "dedup_job_queued", f->curp, f->client,
            "job_id", job_id, "employer_rfc", f->rfc, NULL);
    }
    if (rc != 0) {
        return ops_storage_error(w, rc);
    }
    hipc_put_str(w, T(JOB_ID), job_id);
    hipc_put_str(w, T(STATE), "queued");
    hipc_put_u32(w, T(QUEUE_POSITION), queue_position(txn, seq));
    hipc_put_u64(w, T(COMPARISONS), p->comparisons);
    hipc_put_str(w, T(CURP), f->curp);
    return HIPC_ST_OK;
}

/* ---- finishing a job (writer) ------------------------------------------- */

static const uint16_t finish_tags[] = { T(JOB_ID), 0 };

/* The outcome as the synchronous ENROLL would have answered it, in a
 * nested transaction of its own: a failure is recorded, not retried. */
static int
job_outcome(struct enroll_prep *p, const uint8_t *payload, size_t plen,
    MDB_txn *txn, struct hipc_writer *ow)
{
    struct en_fields  ef;
    struct en_err     e;
    MDB_txn          *inner;
    int               status, keep, rc;

    if (en_decode(payload, plen, en_enroll_allowed, en_enroll_required, &ef,
            &e) != 0)
    {
        return en_put_err(ow, &e);
    }
    if (p->nerr > 0) {
        ops_error(ow, p->errs[0].code, NULL, "finger %u (position %u): %s",
            p->errs[0].index, p->errs[0].position, p->errs[0].msg);
        return HIPC_ST_INVALID;
    }
    if ((rc = store_write_begin(ops_store(), txn, &inner)) != 0) {
        return ops_storage_error(ow, rc);
    }
    if (en_subject_preconditions(inner, &ef, &e) != 0) {
        status = en_put_err(ow, &e);
    } else if ((rc = en_dedup_recheck(inner, ef.curp, p)) != 0) {
        ops_error(ow, "dedup_failed", NULL, "the dedup recheck failed: %s",
            rc > 0 ? mdb_strerror(rc) : "out of memory");
        status = HIPC_ST_INTERNAL;
    } else if (p->nhits > 0) {
        status = en_write_case(&ef, p, payload, plen, inner, ow);
    } else {
        status = en_store_enrollment(&ef, p, NULL, inner, ow);
    }
    keep = (status & OPS_WRITE_KEEP) != 0;
    status &= ~OPS_WRITE_KEEP;
    if (status == HIPC_ST_OK || keep) {
        if ((rc = mdb_txn_commit(inner)) != 0) {
            hipc_writer_init(ow, ow->buf, ow->cap);
            return ops_storage_error(ow, rc);
        }
    } else {
        mdb_txn_abort(inner);
    }
    return status;
}

int
en_jobs_write_finish(struct hd_request *rq, MDB_txn *txn,
    struct hipc_writer *w)
{
    struct enroll_prep  *p = rq->prep;
    struct en_fields     f;
    struct en_err        e;
    struct hipc_writer   ow, jw;
    struct hipc_reader   r;
    const uint8_t       *rec, *d, *payload = NULL;
    uint8_t             *copy = NULL, *obuf = NULL, *jbuf = NULL;
    uint32_t             n, plen = 0;
    uint16_t             tag;
    size_t               len;
    char                 state[EN_WORD_MAX], curp[STORE_CURP_MAX];
    char                 code[64], kb[64], id[20];
    uint64_t             seq;
    MDB_val              k;
    int                  rc, status;

    if (en_decode(rq->payload, rq->len, finish_tags, finish_tags, &f, &e)
        != 0)
    {
        return en_put_err(w, &e);
    }
    rc = en_record_get(txn, en_db_enroll(), "j:", f.job_id, &rec, &len);
    if (rc != 0) {
        ops_error(w, "job_not_found", "job_id", "no dedup job %s", f.job_id);
        return HIPC_ST_NOT_FOUND;
    }
    en_record_str(rec, len, T(STATE), state, sizeof(state));
    if (strcmp(state, "queued") != 0) {
        return HIPC_ST_OK;          /* finished already: it completes once */
    }
    copy = malloc(len ? len : 1);
    obuf = malloc(HIPC_PAYLOAD_MAX);
    jbuf = malloc(HIPC_PAYLOAD_MAX + 1024);
    if (copy == NULL || obuf == NULL || jbuf == NULL) {
        free(copy);
        free(obuf);
        free(jbuf);
        ops_error(w, "out_of_memory", NULL, "cannot finish the job");
        return HIPC_ST_INTERNAL;
    }
    memcpy(copy, rec, len);
    if (hipc_find(copy, len, T(PAYLOAD), &payload, &plen) != 1) {
        payload = NULL;
        plen = 0;
    }
    hipc_writer_init(&ow, obuf, HIPC_PAYLOAD_MAX);
    status = job_outcome(p, payload ? payload : (const uint8_t *) "",
        plen, txn, &ow);
    en_record_str(ow.buf, ow.len, T(ERR_CODE), code, sizeof(code));

    /* The job record again: every field but STATE and the request (the
     * templates now live with the subject or the case), then the
     * outcome. */
    hipc_writer_init(&jw, jbuf, HIPC_PAYLOAD_MAX + 1024);
    hipc_reader_init(&r, copy, len);
    while (hipc_next(&r, &tag, &d, &n) == 1) {
        if (tag != T(STATE) && tag != T(PAYLOAD)) {
            hipc_put(&jw, tag, d, n);
        }
    }
    hipc_put_str(&jw, T(STATE), status == HIPC_ST_OK
        || (status == HIPC_ST_CONFLICT
            && strcmp(code, "duplicate_suspect") == 0) ? "done" : "failed");
    hipc_put_u64(&jw, T(FINISHED), (uint64_t) time(NULL));
    hipc_put_u64(&jw, T(COMPARED), p->comparisons);
    hipc_put_u64(&jw, T(SEARCHED), p->searched);
    hipc_put_u32(&jw, T(OUTCOME_STATUS), (uint32_t) status);
    hipc_put(&jw, T(OUTCOME), ow.buf, (uint32_t) ow.len);
    rc = en_record_put(txn, en_db_enroll(), "j:", f.job_id, &jw);
    seq = en_record_u64(copy, len, T(JOB_SEQ));
    en_record_str(copy, len, T(CURP), curp, sizeof(curp));
    if (rc == 0) {
        seq_key(id, sizeof(id), seq);
        k = en_key(kb, sizeof(kb), "J:", id);
        rc = mdb_del(txn, en_db_enroll(), &k, NULL);
    }
    if (rc == 0) {
        k = en_key(kb, sizeof(kb), "p:", curp);
        rc = mdb_del(txn, en_db_enroll(), &k, NULL);
        rc = rc == MDB_NOTFOUND ? 0 : rc;
    }
    if (rc == 0) {
        char  actor[IDS_ACTOR_MAX];

        en_record_str(copy, len, T(ACTOR), actor, sizeof(actor));
        rc = id_audit(txn, "huellad", "dedup_job_finished", curp, "",
            "job_id", f.job_id, "requested_by", actor, "outcome",
            status == HIPC_ST_OK ? "enrolled" : code, NULL);
    }
    free(copy);
    free(obuf);
    free(jbuf);
    if (rc != 0) {
        return ops_storage_error(w, rc);
    }
    hipc_put_str(w, T(JOB_ID), f.job_id);
    return HIPC_ST_OK;
}

/* ---- the job thread ----------------------------------------------------- */

void
en_jobs_wake(void)
{
    pthread_mutex_lock(&jq.lock);
    jq.wake = 1;
    pthread_cond_broadcast(&jq.cond);
    pthread_mutex_unlock(&jq.lock);
}

void
en_jobs_finish_done(void)
{
    pthread_mutex_lock(&jq.lock);
    jq.finished++;
    pthread_cond_broadcast(&jq.cond);
    pthread_mutex_unlock(&jq.lock);
}

/* The oldest queued job: its id and a copy of its request. */
static int
next_job(char *job_id, size_t cap, uint8_t **payload, uint32_t *plen)
{
    MDB_txn        *txn;
    MDB_cursor     *cur;
    MDB_val         k = { 2, (void *) "J:" }, v;
    const uint8_t  *rec, *d;
    size_t          len;
    uint32_t        n;
    int             rc;

    *payload = NULL;
    if ((rc = store_read_begin(ops_store(), &txn)) != 0) {
        return rc;
    }
    if ((rc = mdb_cursor_open(txn, en_db_enroll(), &cur)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && (k.mv_size < 2 || memcmp(k.mv_data, "J:", 2) != 0)) {
        rc = MDB_NOTFOUND;
    }
    if (rc == 0) {
        snprintf(job_id, cap, "%.*s", (int) v.mv_size,
            (const char *) v.mv_data);
        rc = en_record_get(txn, en_db_enroll(), "j:", job_id, &rec, &len);
    }
    if (rc == 0) {
        if (hipc_find(rec, len, T(PAYLOAD), &d, &n) != 1) {
            d = (const uint8_t *) "";
            n = 0;
        }
        *payload = malloc(n ? n : 1);
        if (*payload == NULL) {
            rc = ENOMEM;
        } else {
            memcpy(*payload, d, n);
            *plen = n;
        }
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return rc;
}

static void
set_running(const char *job_id)
{
    pthread_mutex_lock(&jq.lock);
    snprintf(jq.running, sizeof(jq.running), "%s", job_id);
    atomic_store(&jq.progress.compared, 0);
    pthread_mutex_unlock(&jq.lock);
}

/* Scans one job and hands its outcome to the writer; returns when the
 * writer has handled it.  -1 when the scan itself failed. */
static int
run_job(struct hd_thread *th, const char *job_id, uint8_t *payload,
    uint32_t plen)
{
    struct enroll_prep  *p;
    struct hd_request   *rq;
    struct hipc_writer   w;
    struct en_fields     f;
    struct en_err        e;
    MDB_txn             *txn;
    uint8_t              buf[64];
    uint64_t             gen;
    int                  rc = 0;

    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return -1;
    }
    p->job_finish = 1;
    set_running(job_id);
    if (en_decode(payload, plen, en_enroll_allowed, en_enroll_required, &f,
            &e) == 0)
    {
        if (en_prepare_fingers(th, &f, p) != 0) {
            rc = -1;
        } else if (p->nerr == 0) {
            if ((rc = store_read_begin(ops_store(), &txn)) == 0) {
                rc = en_dedup_scan(th, txn, f.curp, p, &jq.progress);
                mdb_txn_abort(txn);
            }
            p->comparisons = atomic_load(&jq.progress.compared);
        }
    }
    hipc_writer_init(&w, buf, sizeof(buf));
    hipc_put_str(&w, T(JOB_ID), job_id);
    rq = rc == 0 ? calloc(1, sizeof(*rq) + w.len) : NULL;
    if (rq == NULL) {
        fprintf(stderr, "huellad: dedup job %s: the scan failed (%s); "
            "trying again\n", job_id, rc > 0 ? mdb_strerror(rc)
            : "out of memory");
        p->job_finish = 0;
        en_prep_free(p);
        set_running("");
        return -1;
    }
    /* An internal request: no link to answer (conn NULL), no deadline. */
    rq->op = HIPC_OP_DEDUP_JOB_FINISH;
    rq->len = w.len;
    memcpy(rq->payload, buf, w.len);
    rq->prep = p;
    rq->prep_free = en_prep_free;
    pthread_mutex_lock(&jq.lock);
    gen = jq.finished;
    pthread_mutex_unlock(&jq.lock);
    writer_submit(rq);
    pthread_mutex_lock(&jq.lock);
    while (jq.finished == gen) {
        pthread_cond_wait(&jq.cond, &jq.lock);
    }
    jq.running[0] = '\0';
    pthread_mutex_unlock(&jq.lock);
    return 0;
}

static void *
jobs_main(void *arg)
{
    struct hd_thread  *th;
    char               job_id[EN_ID_MAX], last[EN_ID_MAX] = "";
    uint8_t           *payload;
    uint32_t           plen;

    (void) arg;
    /* Linux: the nice value of this thread only. */
    (void) setpriority(PRIO_PROCESS, (id_t) syscall(SYS_gettid), JOB_NICE);
    th = hd_thread_new();
    if (th == NULL) {
        fprintf(stderr, "huellad: dedup jobs: out of memory\n");
        return NULL;
    }
    for (;;) {
        if (next_job(job_id, sizeof(job_id), &payload, &plen) == 0) {
            if (strcmp(job_id, last) == 0) {
                sleep(JOB_RETRY_S);    /* its outcome did not commit */
            }
            snprintf(last, sizeof(last), "%s", job_id);
            if (run_job(th, job_id, payload, plen) != 0) {
                sleep(JOB_RETRY_S);
            }
            free(payload);
            continue;
        }
        last[0] = '\0';
        pthread_mutex_lock(&jq.lock);
        while (!jq.wake) {
            pthread_cond_wait(&jq.cond, &jq.lock);
        }
        jq.wake = 0;
        pthread_mutex_unlock(&jq.lock);
    }
    return NULL;
}

int
en_jobs_start(char *err, size_t errlen)
{
    pthread_attr_t  attr;
    int             rc;

    jq.progress.pause_ms = en_cfg()->debug_dedup_job_pause_ms;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&jq.thread, &attr, jobs_main, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the dedup job thread");
        return -1;
    }
    return 0;
}

/* ---- DEDUP_JOB_GET and DEDUP_JOB_LIST ----------------------------------- */

static int
http_status(int st)
{
    switch (st) {
    case HIPC_ST_OK: return 201;
    case HIPC_ST_NOT_FOUND: return 404;
    case HIPC_ST_CONFLICT: return 409;
    case HIPC_ST_INVALID: return 422;
    case HIPC_ST_BAD_REQUEST: return 400;
    case HIPC_ST_BUSY: return 503;
    case HIPC_ST_UNAUTHORIZED: return 401;
    case HIPC_ST_FORBIDDEN: return 403;
    default: return 500;
    }
}

/* The body the synchronous POST would have answered. */
static json_t *
result_json(int st, const uint8_t *o, size_t olen, const char *device,
    int with_receipt)
{
    char     folio[EN_FOLIO_MAX], curp[STORE_CURP_MAX], code[64];
    char     field[64], case_id[EN_ID_MAX], msg[512], *receipt;
    json_t  *err;
    const uint8_t *d;
    uint32_t n;

    if (st == HIPC_ST_OK) {
        en_record_str(o, olen, T(FOLIO), folio, sizeof(folio));
        en_record_str(o, olen, T(CURP), curp, sizeof(curp));
        err = json_pack("{s:s, s:s, s:s}", "folio", folio, "curp", curp,
            "device_id", device);
        if (err && with_receipt
            && hipc_find(o, olen, T(RECEIPT), &d, &n) == 1
            && (receipt = strndup((const char *) d, n)) != NULL)
        {
            json_object_set_new(err, "receipt", json_string(receipt));
            free(receipt);
        }
        return err;
    }
    en_record_str(o, olen, T(ERR_CODE), code, sizeof(code));
    en_record_str(o, olen, T(MESSAGE), msg, sizeof(msg));
    en_record_str(o, olen, T(FIELD), field, sizeof(field));
    en_record_str(o, olen, T(CASE_ID), case_id, sizeof(case_id));
    err = json_pack("{s:s, s:s}", "code", code, "message", msg);
    if (err && field[0]) {
        json_object_set_new(err, "field", json_string(field));
    }
    if (err && case_id[0]) {
        json_object_set_new(err, "case_id", json_string(case_id));
    }
    return json_pack("{s:o}", "error", err);
}

static json_t *
job_json(MDB_txn *txn, const uint8_t *rec, size_t len, int with_receipt)
{
    char            id[EN_ID_MAX], state[EN_WORD_MAX], curp[STORE_CURP_MAX];
    char            rfc[EN_RFC_MAX], device[EN_ID_MAX], code[64];
    const uint8_t  *o;
    uint32_t        olen;
    uint64_t        total, compared, finished;
    int             running, st;
    json_t         *doc;

    en_record_str(rec, len, T(JOB_ID), id, sizeof(id));
    en_record_str(rec, len, T(STATE), state, sizeof(state));
    en_record_str(rec, len, T(CURP), curp, sizeof(curp));
    en_record_str(rec, len, T(RFC), rfc, sizeof(rfc));
    en_record_str(rec, len, T(DEVICE_ID), device, sizeof(device));
    total = en_record_u64(rec, len, T(COMPARISONS));
    finished = en_record_u64(rec, len, T(FINISHED));
    compared = 0;
    pthread_mutex_lock(&jq.lock);
    running = strcmp(state, "queued") == 0 && strcmp(jq.running, id) == 0;
    if (running) {
        compared = atomic_load(&jq.progress.compared);
    }
    pthread_mutex_unlock(&jq.lock);
    if (finished) {
        compared = en_record_u64(rec, len, T(COMPARED));
        total = compared;       /* what was compared in the end */
    }
    if (compared > total) {
        total = compared;       /* the gallery grew since the estimate */
    }
    doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:{s:I, s:I}}",
        "job_id", id, "status", running ? "running" : state,
        "curp", curp, "employer_rfc", rfc, "device_id", device,
        "created", (json_int_t) en_record_u64(rec, len, T(CREATED)),
        "progress", "compared", (json_int_t) compared, "total",
        (json_int_t) total);
    if (doc == NULL) {
        return NULL;
    }
    if (!finished) {
        json_object_set_new(doc, "queue_position", json_integer(
            queue_position(txn, en_record_u64(rec, len, T(JOB_SEQ)))));
        json_object_set_new(doc, "finished", json_null());
        json_object_set_new(doc, "outcome", json_null());
        json_object_set_new(doc, "http_status", json_null());
        json_object_set_new(doc, "result", json_null());
        return doc;
    }
    json_object_set_new(doc, "queue_position", json_null());
    json_object_set_new(doc, "finished", json_integer((json_int_t) finished));
    st = (int) en_record_u32(rec, len, T(OUTCOME_STATUS));
    if (hipc_find(rec, len, T(OUTCOME), &o, &olen) != 1) {
        o = (const uint8_t *) "";
        olen = 0;
    }
    en_record_str(o, olen, T(ERR_CODE), code, sizeof(code));
    json_object_set_new(doc, "outcome", json_string(st == HIPC_ST_OK
        ? "enrolled" : strcmp(code, "duplicate_suspect") == 0
        ? "duplicate_suspect" : "refused"));
    json_object_set_new(doc, "http_status", json_integer(http_status(st)));
    json_object_set_new(doc, "result", result_json(st, o, olen, device,
        with_receipt));
    return doc;
}

static const uint16_t get_tags[] = { T(JOB_ID), T(RFC), 0 };
static const uint16_t get_required[] = { T(JOB_ID), 0 };
static const uint16_t list_tags[] = { T(RFC), T(STATE), 0 };

static void
op_job_get(struct hd_request *rq, struct hd_thread *th)
{
    struct en_fields  f;
    struct en_err     e;
    MDB_txn          *txn;
    const uint8_t    *rec;
    size_t            len;
    char              rfc[EN_RFC_MAX];
    json_t           *doc;
    int               rc;

    if (en_decode(rq->payload, rq->len, get_tags, get_required, &f, &e)
        != 0)
    {
        en_reply_err(rq, &e);
        return;
    }
    if ((rc = store_read_begin(ops_store(), &txn)) != 0) {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
        return;
    }
    rc = en_record_get(txn, en_db_enroll(), "j:", f.job_id, &rec, &len);
    if (rc == 0 && f.rfc[0]) {
        en_record_str(rec, len, T(RFC), rfc, sizeof(rfc));
        rc = strcmp(rfc, f.rfc) == 0 ? 0 : MDB_NOTFOUND;  /* not theirs */
    }
    if (rc != 0) {
        mdb_txn_abort(txn);
        ops_reply_error(rq, rc == MDB_NOTFOUND ? HIPC_ST_NOT_FOUND
            : HIPC_ST_INTERNAL, rc == MDB_NOTFOUND ? "job_not_found"
            : "storage_error", "job_id", "no dedup job %s", f.job_id);
        return;
    }
    doc = job_json(txn, rec, len, 1);
    mdb_txn_abort(txn);
    en_reply_json(rq, th, doc ? json_dumps(doc, JSON_COMPACT) : NULL);
    json_decref(doc);
}

static int
by_seq_desc(const void *a, const void *b)
{
    json_int_t  x = json_integer_value(json_object_get(*(json_t *const *) a,
                    "seq"));
    json_int_t  y = json_integer_value(json_object_get(*(json_t *const *) b,
                    "seq"));

    return x < y ? 1 : x > y ? -1 : 0;
}

static void
op_job_list(struct hd_request *rq, struct hd_thread *th)
{
    struct en_fields   f;
    MDB_txn           *txn = NULL;
    MDB_cursor        *cur = NULL;
    MDB_val            k = { 2, (void *) "j:" }, v;
    json_t           **all = NULL, **nall, *arr, *o;
    const uint8_t     *rec;
    size_t             len, n = 0, cap = 0, i;
    char               s[EN_RFC_MAX];
    const char        *st;
    int                rc;

    if (en_list_open(rq, list_tags, en_db_enroll(), &f, &txn, &cur) != 0) {
        return;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    {
        if (k.mv_size < 2 || memcmp(k.mv_data, "j:", 2) != 0) {
            break;
        }
        if (v.mv_size < 1) {
            continue;
        }
        rec = (const uint8_t *) v.mv_data + 1;
        len = v.mv_size - 1;
        en_record_str(rec, len, T(RFC), s, sizeof(s));
        if (f.rfc[0] && strcmp(s, f.rfc) != 0) {
            continue;
        }
        o = job_json(txn, rec, len, 0);
        if (o == NULL) {
            continue;
        }
        st = json_string_value(json_object_get(o, "status"));
        if (f.state[0] && (st == NULL || strcmp(st, f.state) != 0)) {
            json_decref(o);
            continue;
        }
        json_object_set_new(o, "seq", json_integer((json_int_t)
            en_record_u64(rec, len, T(JOB_SEQ))));
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            nall = realloc(all, cap * sizeof(*all));
            if (nall == NULL) {
                json_decref(o);
                break;
            }
            all = nall;
        }
        all[n++] = o;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (n > 0) {
        qsort(all, n, sizeof(*all), by_seq_desc);
    }
    arr = json_array();
    for (i = 0; i < n; i++) {
        json_object_del(all[i], "seq");
        if (i < JOB_LIST_MAX) {
            json_array_append_new(arr, all[i]);
        } else {
            json_decref(all[i]);
        }
    }
    free(all);
    en_reply_json(rq, th, json_dumps(arr, JSON_COMPACT));
    json_decref(arr);
}

void
en_jobs_handle(struct hd_request *rq, struct hd_thread *th)
{
    if (rq->op == HIPC_OP_DEDUP_JOB_GET) {
        op_job_get(rq, th);
    } else {
        op_job_list(rq, th);
    }
}
