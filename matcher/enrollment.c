/*
 * enrollment.c -- ENROLL with its quality gate and dedup search, dedup
 * cases and their resolution (see enrollment.h).  Exceptions and the
 * worker lookup are enrollment_status.c's.
 */

#include "enrollment.h"

#include <jansson.h>
#include <math.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices.h"
#include "enroll_ops.h"
#include "enrollment_jobs.h"
#include "enrollment_status.h"
#include "fingerprint.h"
#include "identity.h"
#include "ipc_server.h"
#include "match.h"
#include "receipt.h"
#include "registry.h"
#include "writer.h"

#define T(x) HIPC_F_##x

const uint16_t en_enroll_allowed[] = { T(CURP), T(RFC), T(DEVICE_ID),
    T(FINGER), T(MISSING), T(FACE), T(ACTOR), T(CLIENT), T(ASYNC), 0 };
const uint16_t en_enroll_required[] = { T(CURP), T(RFC), T(DEVICE_ID),
    T(ACTOR), 0 };

static void
hex32(const uint8_t d[32], char out[65])
{
    unsigned  i;

    for (i = 0; i < 32; i++) {
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    }
}

void
en_prep_free(void *arg)
{
    struct enroll_prep  *p = arg;

    if (p == NULL) {
        return;
    }
    if (p->job_finish) {
        en_jobs_finish_done();      /* committed or not: the thread looks */
    } else if (p->queue) {
        en_jobs_wake();             /* a job was queued (or not) */
    }
    free(p->blob);
    free(p->payload);
    free(p);
}

/* ---- decoding and the quality gate -------------------------------------- */

/* Cross-field rules the decoder cannot see. */
static int
enroll_check(const struct en_fields *f, struct en_err *e)
{
    unsigned  seen = 0, i, bit;

    if (f->nfingers == 0 && !f->has_face) {
        return en_fail(e, HIPC_ST_INVALID, "no_biometrics", "fingers",
            "an enrollment needs at least one finger or a face");
    }
    for (i = 0; i < f->nfingers; i++) {
        bit = 1u << f->fingers[i].position;
        if (seen & bit) {
            char  field[32];

            snprintf(field, sizeof(field), "fingers[%u].position", i);
            return en_fail(e, HIPC_ST_INVALID, "duplicate_position", field,
                "finger position %u is given twice", f->fingers[i].position);
        }
        seen |= bit;
    }
    for (i = 0; i < f->nmissing; i++) {
        bit = 1u << f->missing[i].position;
        if (seen & bit) {
            char  field[32];

            snprintf(field, sizeof(field), "missing[%u].position", i);
            return en_fail(e, HIPC_ST_INVALID, "duplicate_position", field,
                "finger position %u is both given and declared missing",
                f->missing[i].position);
        }
        seen |= bit;
    }
    return 0;
}

/* Parses, gates and encodes every finger into p (pool or job thread). */
int
en_prepare_fingers(struct hd_thread *th, const struct en_fields *f,
    struct enroll_prep *p)
{
    const struct en_finger     *in;
    struct en_prepared_finger  *out;
    struct en_finger_error     *fe;
    uint8_t                  digest[32];
    unsigned                 i;
    long                     n;
    void                    *nb;

    for (i = 0; i < f->nfingers; i++) {
        in = &f->fingers[i];
        th->why[0] = '\0';
        fe = &p->errs[p->nerr];
        if (hm_parse((int) in->format, in->tmpl, in->tmpl_len, &th->fp,
                th->why, sizeof(th->why)) != 0)
        {
            snprintf(fe->code, sizeof(fe->code), "invalid_template");
        } else if (hm_quality_gate(&th->fp, th->why, sizeof(th->why)) != 0) {
            snprintf(fe->code, sizeof(fe->code), "low_quality");
            p->low_quality = 1;
        } else if ((n = hm_encode(&th->fp, th->encoded, sizeof(th->encoded),
                       th->why, sizeof(th->why))) <= 0)
        {
            snprintf(fe->code, sizeof(fe->code), "low_quality");
            p->low_quality = 1;
        } else {
            nb = realloc(p->blob, p->blob_len + (size_t) n);
            if (nb == NULL) {
                return -1;
            }
            p->blob = nb;
            out = &p->fingers[p->nfingers++];
            out->position = in->position;
            out->format = in->format;
            out->off = p->blob_len;
            out->len = (size_t) n;
            memcpy(p->blob + p->blob_len, th->encoded, (size_t) n);
            p->blob_len += (size_t) n;
            out->minutiae = (uint16_t) hm_stored_minutiae(th->encoded,
                (size_t) n);
            out->quality = (uint8_t) hm_stored_quality(th->encoded,
                (size_t) n);
            SHA256(in->tmpl, in->tmpl_len, digest);
            hex32(digest, out->sha256);
            continue;
        }
        fe->index = i;
        fe->position = in->position;
        snprintf(fe->msg, sizeof(fe->msg), "%.150s", th->why[0] ? th->why
            : "the template is not usable");
        p->nerr++;
    }
    if (f->has_face) {
        SHA256(f->face_data, f->face_data_len, digest);
        hex32(digest, p->face_sha256);
    }
    return 0;
}

/* ---- the enrollment journal --------------------------------------------- */

/* "e:" + 16 hex digits of the sequence -> CURP, one per stored enrollment,
 * and "m:enrseq" -> the last sequence (u64). */

static uint64_t
journal_seq(MDB_txn *txn)
{
    char      kb[32];
    MDB_val   k = en_key(kb, sizeof(kb), "m:", "enrseq"), v;
    uint64_t  seq = 0;

    if (mdb_get(txn, en_db_enroll(), &k, &v) == 0
        && v.mv_size == sizeof(seq))
    {
        memcpy(&seq, v.mv_data, sizeof(seq));
    }
    return seq;
}

static int
journal_append(MDB_txn *txn, const char *curp)
{
    char      kb[32], id[20];
    MDB_val   k, v;
    uint64_t  seq = journal_seq(txn) + 1;
    int       rc;

    snprintf(id, sizeof(id), "%016llx", (unsigned long long) seq);
    k = en_key(kb, sizeof(kb), "e:", id);
    v.mv_data = (void *) curp;
    v.mv_size = strlen(curp);
    rc = mdb_put(txn, en_db_enroll(), &k, &v, 0);
    if (rc == 0) {
        k = en_key(kb, sizeof(kb), "m:", "enrseq");
        v.mv_data = &seq;
        v.mv_size = sizeof(seq);
        rc = mdb_put(txn, en_db_enroll(), &k, &v, 0);
    }
    return rc;
}

/* ---- dedup -------------------------------------------------------------- */

static void
add_hit(struct enroll_prep *p, const char *curp, unsigned probe_pos,
    unsigned pos, double score)
{
    unsigned  i, worst = 0;

    for (i = 0; i < p->nhits; i++) {
        if (p->hits[i].probe_position == probe_pos
            && p->hits[i].position == pos
            && strcmp(p->hits[i].curp, curp) == 0)
        {
            return;     /* the recheck met a finger the scan had seen */
        }
    }
    if (p->nhits < EN_HITS_MAX) {
        i = p->nhits++;
    } else {
        for (i = 1; i < EN_HITS_MAX; i++) {
            if (p->hits[i].score < p->hits[worst].score) {
                worst = i;
            }
        }
        if (p->hits[worst].score >= score) {
            return;
        }
        i = worst;
    }
    snprintf(p->hits[i].curp, sizeof(p->hits[i].curp), "%s", curp);
    p->hits[i].probe_position = probe_pos;
    p->hits[i].position = pos;
    p->hits[i].score = score;
}

static void
probes_free(struct hm_probe **probes, unsigned n)
{
    unsigned  i;

    for (i = 0; i < n; i++) {
        hm_probe_free(probes[i]);
        probes[i] = NULL;
    }
}

static int
probes_new(struct enroll_prep *p, struct hm_probe **probes)
{
    unsigned  i;

    for (i = 0; i < p->nfingers; i++) {
        probes[i] = hm_probe_new(p->blob + p->fingers[i].off,
            p->fingers[i].len);
        if (probes[i] == NULL) {
            probes_free(probes, i);
            return -1;
        }
    }
    return 0;
}

/* How many gallery templates a job compares between progress updates
 * (fewer when a test slows it, so small galleries show progress). */
#define SCAN_CHUNK        256
#define SCAN_CHUNK_DEBUG  16

int
en_dedup_scan(struct hd_thread *th, MDB_txn *txn, const char *curp,
    struct enroll_prep *p, struct en_progress *progress)
{
    struct hm_probe     *probes[EN_FINGERS_MAX] = { 0 };
    struct store_finger  fg;
    struct timespec      ts;
    MDB_cursor          *cur;
    MDB_val              k, v;
    char                 other[STORE_CURP_MAX];
    unsigned             i, chunk = 0;
    uint64_t             compared = 0;
    double               s;
    int                  rc;

    p->threshold = hm_threshold_for_fmr(en_cfg()->dedup_fmr);
    p->snapshot = journal_seq(txn);
    if (p->nfingers == 0) {
        return 0;
    }
    if (probes_new(p, probes) != 0) {
        return -1;
    }
    if ((rc = store_finger_cursor(ops_store(), txn, &cur)) != 0) {
        goto done;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    {
        if (store_finger_decode(&k, &v, other, &fg) != 0
            || strcmp(other, curp) == 0)
        {
            continue;
        }
        p->searched++;
        for (i = 0; i < p->nfingers; i++) {
            s = hm_compare(probes[i], fg.stored, fg.stored_len, th->scratch);
            compared++;
            if (s >= p->threshold) {
                add_hit(p, other, p->fingers[i].position, fg.position, s);
            }
        }
        if (progress && ++chunk == (progress->pause_ms ? SCAN_CHUNK_DEBUG
                                                        : SCAN_CHUNK))
        {
            chunk = 0;
            atomic_store(&progress->compared, compared);
            if (progress->pause_ms) {
                ts.tv_sec = progress->pause_ms / 1000;
                ts.tv_nsec = (long) (progress->pause_ms % 1000) * 1000000L;
                nanosleep(&ts, NULL);
            }
        }
    }
    mdb_cursor_close(cur);
    rc = rc == MDB_NOTFOUND ? 0 : rc;
    if (progress) {
        atomic_store(&progress->compared, compared);
    }
done:
    ops_count_comparisons(compared);
    probes_free(probes, p->nfingers);
    return rc;
}

struct recheck {
    struct enroll_prep   *p;
    struct hm_probe     **probes;
    struct hm_scratch    *scratch;
    const char           *other;
    uint64_t              compared;
};

static int
recheck_finger(void *arg, const struct store_finger *fg)
{
    struct recheck  *rc = arg;
    unsigned         i;
    double           s;

    rc->p->searched++;              /* one more gallery template */
    for (i = 0; i < rc->p->nfingers; i++) {
        s = hm_compare(rc->probes[i], fg->stored, fg->stored_len,
            rc->scratch);
        rc->compared++;
        if (s >= rc->p->threshold) {
            add_hit(rc->p, rc->other, rc->p->fingers[i].position,
                fg->position, s);
        }
    }
    return 0;
}

int
en_dedup_recheck(MDB_txn *txn, const char *curp, struct enroll_prep *p)
{
    struct hm_probe  *probes[EN_FINGERS_MAX] = { 0 };
    struct recheck    r = { p, probes, NULL, NULL, 0 };
    MDB_cursor       *cur;
    MDB_val           k, v;
    char              kb[32], id[20], other[STORE_CURP_MAX];
    int               rc;

    if (p->nfingers == 0 || journal_seq(txn) <= p->snapshot) {
        return 0;              /* nobody enrolled since the scan began */
    }
    p->threshold = hm_threshold_for_fmr(en_cfg()->dedup_fmr);
    if (probes_new(p, probes) != 0) {
        return -1;
    }
    r.scratch = hm_scratch_new();
    if (r.scratch == NULL
        || (rc = mdb_cursor_open(txn, en_db_enroll(), &cur)) != 0)
    {
        hm_scratch_free(r.scratch);
        probes_free(probes, p->nfingers);
        return -1;
    }
    snprintf(id, sizeof(id), "%016llx", (unsigned long long) p->snapshot + 1);
    k = en_key(kb, sizeof(kb), "e:", id);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    {
        if (k.mv_size < 2 || memcmp(k.mv_data, "e:", 2) != 0) {
            break;
        }
        if (v.mv_size >= sizeof(other)) {
            continue;
        }
        memcpy(other, v.mv_data, v.mv_size);
        other[v.mv_size] = '\0';
        if (strcmp(other, curp) == 0) {
            continue;
        }
        r.other = other;
        rc = store_finger_each(ops_store(), txn, other, recheck_finger, &r);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            break;
        }
    }
    mdb_cursor_close(cur);
    ops_count_comparisons(r.compared);
    hm_scratch_free(r.scratch);
    probes_free(probes, p->nfingers);
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

/* ---- the checks shared by the pool and the writer ----------------------- */

static int
subject_open_case(MDB_txn *txn, const char *curp, char *case_id, size_t cap)
{
    char     kb[64];
    MDB_val  k = en_key(kb, sizeof(kb), "o:", curp), v;
    int      rc = mdb_get(txn, en_db_enroll(), &k, &v);

    if (rc == 0) {
        snprintf(case_id, cap, "%.*s", (int) v.mv_size,
            (const char *) v.mv_data);
    }
    return rc;
}

int
en_subject_preconditions(MDB_txn *txn, const struct en_fields *f,
    struct en_err *e)
{
    char  case_id[EN_ID_MAX], state[EN_WORD_MAX], why[256];
    int   rc;

    /* the subject takes the registry's name: its record must agree with
     * the CURP (issue 4: a mismatch is reported, never accepted) */
    if (id_rt()->registry
        && registry_check(id_rt()->registry, f->curp, NULL, NULL, why,
                          sizeof(why)) == REGISTRY_MISMATCH)
    {
        return en_fail(e, HIPC_ST_INVALID, "registry_mismatch", "curp",
            "%s", why);
    }
    rc = subject_open_case(txn, f->curp, case_id, sizeof(case_id));
    if (rc == 0) {
        return en_fail(e, HIPC_ST_CONFLICT, "duplicate_suspect", "curp",
            "case %s about this CURP awaits review by an auditor", case_id);
    }
    rc = en_status_state(txn, f->curp, state, sizeof(state));
    if (rc == 0 && strcmp(state, "enrolled") == 0) {
        return en_fail(e, HIPC_ST_CONFLICT, "already_enrolled", "curp",
            "the CURP %s is already enrolled", f->curp);
    }
    if (rc == 0 && strcmp(state, "duplicate_confirmed") == 0) {
        return en_fail(e, HIPC_ST_CONFLICT, "duplicate_confirmed", "curp",
            "the CURP %s is flagged; attend the subdelegación", f->curp);
    }
    return 0;
}

/* A new enrollment: also the device, and no dedup job already pending for
 * the CURP (job_id gets its id then). */
static int
enroll_preconditions(MDB_txn *txn, const struct en_fields *f,
    struct en_err *e, char *job_id, size_t cap)
{
    if (devices_check(txn, f->device_id, f->rfc, "enrollment", e) != 0) {
        return -1;
    }
    if (en_subject_preconditions(txn, f, e) != 0) {
        return -1;
    }
    if (en_jobs_pending(txn, f->curp, job_id, cap) == 0) {
        return en_fail(e, HIPC_ST_CONFLICT, "dedup_pending", "curp",
            "dedup job %s for this CURP is not finished; follow its status",
            job_id);
    }
    return 0;
}

/* ---- ENROLL: ring -> pool -> writer (or the job queue) ------------------ */

static void
en_reply_job_err(struct hd_request *rq, const struct en_err *e,
    const char *job_id)
{
    struct hipc_writer  w;
    uint8_t             buf[1024];

    if (strcmp(e->code, "dedup_pending") != 0) {
        en_reply_err(rq, e);
        return;
    }
    hipc_writer_init(&w, buf, sizeof(buf));
    en_put_err(&w, e);
    hipc_put_str(&w, T(JOB_ID), job_id);
    hd_reply(rq, e->status, buf, w.len);
}

static void
enroll_pool(void *arg, struct hd_thread *th)
{
    struct hd_request   *rq = arg;
    struct enroll_prep  *p = rq->prep;
    struct en_fields     f;
    struct en_err        e;
    MDB_txn             *txn;
    char                 job_id[EN_ID_MAX];
    int                  rc;

    if (hd_expired(rq)) {
        ops_reply_error(rq, HIPC_ST_EXPIRED, "deadline_exceeded", NULL,
            "the deadline passed before the enrollment started");
        hd_request_free(rq);
        return;
    }
    if (en_decode(rq->payload, rq->len, en_enroll_allowed,
            en_enroll_required, &f, &e) != 0
        || en_prepare_fingers(th, &f, p) != 0)
    {
        ops_reply_error(rq, HIPC_ST_BUSY, "out_of_memory", NULL,
            "huellad is out of memory");
        hd_request_free(rq);
        return;
    }
    if (p->nerr > 0) {
        writer_submit(rq);         /* the refusal is counted durably */
        return;
    }
    if ((rc = store_read_begin(ops_store(), &txn)) != 0) {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
        hd_request_free(rq);
        return;
    }
    if (enroll_preconditions(txn, &f, &e, job_id, sizeof(job_id)) != 0) {
        mdb_txn_abort(txn);
        en_reply_job_err(rq, &e, job_id);
        hd_request_free(rq);
        return;
    }
    /* Too much work for the request's deadline, or the client asked:
     * the writer stores it as a job and the job thread searches. */
    p->comparisons = (uint64_t) p->nfingers
                     * store_count_fingers(ops_store(), txn);
    if (p->nfingers > 0
        && (f.async
            || p->comparisons > en_cfg()->dedup_sync_max_comparisons))
    {
        mdb_txn_abort(txn);
        p->queue = 1;
        writer_submit(rq);
        return;
    }
    rc = en_dedup_scan(th, txn, f.curp, p, NULL);
    mdb_txn_abort(txn);
    if (rc != 0) {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "dedup_failed", NULL,
            "the dedup search failed: %s", rc > 0 ? mdb_strerror(rc)
            : "out of memory");
        hd_request_free(rq);
        return;
    }
    writer_submit(rq);
}

static void
op_enroll(struct hd_request *rq)
{
    struct en_fields     f;
    struct en_err        e;
    struct enroll_prep  *p;

    if (en_decode(rq->payload, rq->len, en_enroll_allowed,
            en_enroll_required, &f, &e) != 0 || enroll_check(&f, &e) != 0)
    {
        en_reply_err(rq, &e);
        return;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        ops_reply_error(rq, HIPC_ST_BUSY, "out_of_memory", NULL,
            "huellad is out of memory");
        return;
    }
    en_dispatch(rq, p, en_prep_free, enroll_pool);
}

/* The refusal: every failing finger named, the failure counted. */
static int
write_refusal(const struct en_fields *f, struct enroll_prep *p, MDB_txn *txn,
    struct hipc_writer *w)
{
    char      field[32];
    unsigned  i;
    size_t    at;
    int       opened = 0, rc = 0;

    if (p->low_quality) {
        rc = en_quality_refused(txn, f->curp, f->actor, f->client, &opened);
        if (rc != 0) {
            ops_error(w, "storage_error", NULL, "%s", mdb_strerror(rc));
            return HIPC_ST_INTERNAL;
        }
    }
    snprintf(field, sizeof(field), "fingers[%u]", p->errs[0].index);
    ops_error(w, p->errs[0].code, field, "finger %u (position %u): %s",
        p->errs[0].index, p->errs[0].position, p->errs[0].msg);
    for (i = 0; i < p->nerr; i++) {
        at = hipc_open(w, T(FINGER_ERROR));
        hipc_put_u32(w, T(INDEX), p->errs[i].index);
        hipc_put_u32(w, T(POSITION), p->errs[i].position);
        hipc_put_str(w, T(ERR_CODE), p->errs[i].code);
        hipc_put_str(w, T(MESSAGE), p->errs[i].msg);
        hipc_close(w, at);
    }
    if (opened) {
        hipc_put_str(w, T(WARNING), "exception_opened");
    }
    return HIPC_ST_INVALID | OPS_WRITE_KEEP;
}

/* Opens a dedup case holding the whole request, to be resolved later. */
int
en_write_case(const struct en_fields *f, struct enroll_prep *p,
    const uint8_t *payload, size_t len, MDB_txn *txn, struct hipc_writer *w)
{
    struct hipc_writer  cw;
    uint8_t            *buf;
    char                case_id[EN_ID_MAX], kb[64];
    MDB_val             k, v;
    unsigned            i;
    size_t              at, cap = len + 8192;
    int                 rc;

    buf = malloc(cap);
    if (buf == NULL || en_random_id("dd_", case_id, sizeof(case_id)) != 0) {
        free(buf);
        ops_error(w, "out_of_memory", NULL, "cannot open the case");
        return HIPC_ST_INTERNAL;
    }
    hipc_writer_init(&cw, buf, cap);
    hipc_put_str(&cw, T(CASE_ID), case_id);
    hipc_put_str(&cw, T(CURP), f->curp);
    hipc_put_str(&cw, T(RFC), f->rfc);
    hipc_put_str(&cw, T(DEVICE_ID), f->device_id);
    hipc_put_str(&cw, T(STATE), "open");
    hipc_put_str(&cw, T(ACTOR), f->actor);
    hipc_put_u64(&cw, T(CREATED), (uint64_t) time(NULL));
    hipc_put_f64(&cw, T(THRESHOLD), p->threshold);
    hipc_put_u64(&cw, T(SEARCHED), p->searched);
    for (i = 0; i < p->nhits; i++) {
        at = hipc_open(&cw, T(CANDIDATE));
        hipc_put_str(&cw, T(CURP), p->hits[i].curp);
        hipc_put_u32(&cw, T(POSITION), p->hits[i].position);
        hipc_put_u32(&cw, T(INDEX), p->hits[i].probe_position);
        hipc_put_f64(&cw, T(SCORE), p->hits[i].score);
        hipc_close(&cw, at);
    }
    hipc_put(&cw, T(PAYLOAD), payload, len);
    rc = en_record_put(txn, en_db_enroll(), "c:", case_id, &cw);
    free(buf);
    if (rc == 0) {
        k = en_key(kb, sizeof(kb), "o:", f->curp);
        v.mv_data = case_id;
        v.mv_size = strlen(case_id);
        rc = mdb_put(txn, en_db_enroll(), &k, &v, 0);
    }
    if (rc == 0) {
        /* The audit names the case, never the other identity: the trail
         * is readable by more people than the dedup queue. */
        rc = id_audit(txn, f->actor, "dedup_case_opened", f->curp, f->client,
            "case_id", case_id, "employer_rfc", f->rfc, NULL);
    }
    if (rc != 0) {
        ops_error(w, "storage_error", NULL, "%s", mdb_strerror(rc));
        return HIPC_ST_INTERNAL;
    }
    /* The employer learns that a review is needed, never with whom. */
    ops_error(w, "duplicate_suspect", "fingers", "a finger of this "
        "enrollment matches one already enrolled; case %s awaits review by "
        "an auditor", case_id);
    hipc_put_str(w, T(CASE_ID), case_id);
    return HIPC_ST_CONFLICT | OPS_WRITE_KEEP;
}

/* Stores the whole enrollment and its receipt (inside the caller's nested
 * transaction: all of it or nothing), journaled for the recheck. */
int
en_store_enrollment(const struct en_fields *f, struct enroll_prep *p,
    const char *case_id, MDB_txn *txn, struct hipc_writer *w)
{
    struct store_subject   s;
    struct store_finger    fg;
    struct ids_account     acct;
    const struct registry_person *person;
    json_t                *payload, *arr;
    char                   folio[RECEIPT_FOLIO_MAX], *jws = NULL;
    unsigned               i;
    int                    rc, unreadable = 0;

    rc = store_subject_get(ops_store(), txn, f->curp, &s);
    if (rc == MDB_NOTFOUND) {
        memset(&s, 0, sizeof(s));
        snprintf(s.curp, sizeof(s.curp), "%s", f->curp);
        person = id_rt()->registry ? registry_find(id_rt()->registry,
            f->curp) : NULL;
        if (person) {
            snprintf(s.name, sizeof(s.name), "%s", person->name);
        }
        if (ids_account_get(ops_store(), txn, f->curp, &acct) == 0) {
            snprintf(s.nss, sizeof(s.nss), "%s", acct.nss);
            if (s.name[0] == '\0') {
                snprintf(s.name, sizeof(s.name), "%s", acct.name);
            }
        }
        rc = store_subject_create(ops_store(), txn, &s);
    }
    for (i = 0; rc == 0 && i < p->nfingers; i++) {
        memset(&fg, 0, sizeof(fg));
        fg.position = (uint8_t) p->fingers[i].position;
        fg.format = (uint8_t) p->fingers[i].format;
        fg.minutiae = p->fingers[i].minutiae;
        fg.quality = p->fingers[i].quality;
        fg.stored = p->blob + p->fingers[i].off;
        fg.stored_len = p->fingers[i].len;
        rc = store_finger_put(ops_store(), txn, f->curp, &fg);
    }
    if (rc == 0 && f->has_face) {
        rc = en_face_put(txn, f->curp, f->face_model, f->face_dim,
            f->face_data);
    }
    for (i = 0; i < f->nmissing; i++) {
        unreadable |= strcmp(f->missing[i].reason, "unreadable") == 0;
    }
    if (rc == 0 && unreadable) {
        rc = en_exception_open(txn, f->curp, "unreadable_prints",
            "declared unreadable at enrollment", f->actor, f->client);
    }
    if (rc == 0 && p->nfingers > 0) {
        rc = journal_append(txn, f->curp);
    }
    if (rc != 0) {
        goto fail;
    }
    payload = json_pack("{s:s, s:s, s:s}", "curp", f->curp, "employer_rfc",
        f->rfc, "device", f->device_id);
    arr = json_array();
    for (i = 0; i < p->nfingers; i++) {
        json_array_append_new(arr, json_pack("{s:i, s:s, s:s}", "position",
            (int) p->fingers[i].position, "format",
            p->fingers[i].format == HIPC_FMT_ISO19794_2_2005
            ? "iso19794-2:2005" : "ansi378-2004", "sha256",
            p->fingers[i].sha256));
    }
    json_object_set_new(payload, "template_sha256", arr);
    arr = json_array();
    for (i = 0; i < f->nmissing; i++) {
        json_array_append_new(arr, json_pack("{s:i, s:s}", "position",
            (int) f->missing[i].position, "reason", f->missing[i].reason));
    }
    json_object_set_new(payload, "missing", arr);
    json_object_set_new(payload, "face", f->has_face
        ? json_pack("{s:s, s:i, s:s}", "model", f->face_model, "dim",
              (int) f->face_dim, "sha256", p->face_sha256) : json_null());
    json_object_set_new(payload, "dedup", case_id
        ? json_pack("{s:s, s:s}", "case_id", case_id, "decision",
              "false_alarm")
        : json_pack("{s:I, s:f}", "searched", (json_int_t) p->searched,
              "fmr", en_cfg()->dedup_fmr));
    rc = receipt_issue(txn, "enrollment", payload, f->rfc, f->curp, folio,
        &jws);
    json_decref(payload);
    if (rc == 0) {
        rc = en_status_enrolled(txn, f, s.nss, p->nfingers, folio);
    }
    if (rc == 0) {
        rc = id_audit(txn, f->actor, "enrollment", f->curp, f->client,
            "folio", folio, "employer_rfc", f->rfc, "device", f->device_id,
            NULL);
    }
    if (rc != 0) {
        goto fail;
    }
    hipc_put_str(w, T(FOLIO), folio);
    hipc_put_str(w, T(RECEIPT), jws);
    hipc_put_str(w, T(CURP), f->curp);
    free(jws);
    return HIPC_ST_OK;
fail:
    free(jws);
    ops_error(w, "storage_error", NULL, "%s", rc == -1
        ? "cannot sign the receipt" : mdb_strerror(rc));
    return HIPC_ST_INTERNAL;
}

static int
write_enroll(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w)
{
    struct enroll_prep  *p = rq->prep;
    struct en_fields     f;
    struct en_err        e;
    char                 job_id[EN_ID_MAX];
    int                  rc;

    if (en_decode(rq->payload, rq->len, en_enroll_allowed,
            en_enroll_required, &f, &e) != 0)
    {
        return en_put_err(w, &e);
    }
    if (p->nerr > 0) {
        return write_refusal(&f, p, txn, w);
    }
    if (enroll_preconditions(txn, &f, &e, job_id, sizeof(job_id)) != 0) {
        if (strcmp(e.code, "dedup_pending") == 0) {
            hipc_put_str(w, T(JOB_ID), job_id);
        }
        return en_put_err(w, &e);
    }
    if (p->queue) {
        return en_jobs_write_queued(&f, p, rq->payload, rq->len, txn, w);
    }
    /* Enrollments that committed while this one was scanning. */
    if ((rc = en_dedup_recheck(txn, f.curp, p)) != 0) {
        ops_error(w, "dedup_failed", NULL, "the dedup recheck failed: %s",
            rc > 0 ? mdb_strerror(rc) : "out of memory");
        return HIPC_ST_INTERNAL;
    }
    if (p->nhits > 0) {
        return en_write_case(&f, p, rq->payload, rq->len, txn, w);
    }
    return en_store_enrollment(&f, p, NULL, txn, w);
}

/* ---- DEDUP_RESOLVE ------------------------------------------------------ */

static const uint16_t resolve_allowed[] = { T(CASE_ID), T(STATE), T(ACTOR),
    T(CLIENT), 0 };
static const uint16_t resolve_required[] = { T(CASE_ID), T(STATE),
    T(ACTOR), 0 };

static void
resolve_pool(void *arg, struct hd_thread *th)
{
    struct hd_request   *rq = arg;
    struct enroll_prep  *p = rq->prep;
    struct en_fields     f, ef;
    struct en_err        e;
    MDB_txn             *txn;
    const uint8_t       *rec, *d;
    size_t               len;
    uint32_t             n;
    int                  rc;

    en_decode(rq->payload, rq->len, resolve_allowed, resolve_required, &f,
        &e);
    if ((rc = store_read_begin(ops_store(), &txn)) != 0) {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
        hd_request_free(rq);
        return;
    }
    rc = en_record_get(txn, en_db_enroll(), "c:", f.case_id, &rec, &len);
    if (rc != 0 || hipc_find(rec, len, T(PAYLOAD), &d, &n) != 1
        || (p->payload = malloc(n ? n : 1)) == NULL)
    {
        mdb_txn_abort(txn);
        ops_reply_error(rq, rc == MDB_NOTFOUND ? HIPC_ST_NOT_FOUND
            : HIPC_ST_INTERNAL, rc == MDB_NOTFOUND ? "case_not_found"
            : "storage_error", "case_id", "no dedup case %s", f.case_id);
        hd_request_free(rq);
        return;
    }
    memcpy(p->payload, d, n);
    p->payload_len = n;
    mdb_txn_abort(txn);
    if (strcmp(f.state, "false_alarm") == 0
        && (en_decode(p->payload, p->payload_len, en_enroll_allowed,
                en_enroll_required, &ef, &e) != 0
            || en_prepare_fingers(th, &ef, p) != 0 || p->nerr > 0))
    {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "case_unreadable", "case_id",
            "the enrollment held by case %s cannot be prepared", f.case_id);
        hd_request_free(rq);
        return;
    }
    writer_submit(rq);
}

static int
write_resolve(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w)
{
    struct enroll_prep  *p = rq->prep;
    struct en_fields     f, ef;
    struct en_err        e;
    const uint8_t       *rec;
    size_t               len;
    char                 state[EN_WORD_MAX], folio[RECEIPT_FOLIO_MAX];
    char                 kb[64], *jws = NULL;
    uint8_t             *copy;
    struct hipc_reader   r;
    struct hipc_writer   cw;
    const uint8_t       *d;
    uint32_t             n;
    uint16_t             tag;
    MDB_val              k;
    json_t              *payload;
    int                  rc, status;

    en_decode(rq->payload, rq->len, resolve_allowed, resolve_required, &f,
        &e);
    en_decode(p->payload, p->payload_len, en_enroll_allowed, en_enroll_required,
        &ef, &e);
    rc = en_record_get(txn, en_db_enroll(), "c:", f.case_id, &rec, &len);
    if (rc != 0) {
        ops_error(w, rc == MDB_NOTFOUND ? "case_not_found" : "storage_error",
            "case_id", "no dedup case %s", f.case_id);
        return rc == MDB_NOTFOUND ? HIPC_ST_NOT_FOUND : HIPC_ST_INTERNAL;
    }
    en_record_str(rec, len, T(STATE), state, sizeof(state));
    if (strcmp(state, "open") != 0) {
        ops_error(w, "case_closed", "case_id", "case %s was already "
            "resolved (%s)", f.case_id, state);
        return HIPC_ST_CONFLICT;
    }
    /* Rewrite the case: every field but STATE kept, then the decision. */
    copy = malloc(len + 1024);
    if (copy == NULL) {
        ops_error(w, "out_of_memory", NULL, "cannot resolve the case");
        return HIPC_ST_INTERNAL;
    }
    hipc_writer_init(&cw, copy, len + 1024);
    hipc_reader_init(&r, rec, len);
    while (hipc_next(&r, &tag, &d, &n) == 1) {
        if (tag != T(STATE)) {
            hipc_put(&cw, tag, d, n);
        }
    }
    hipc_put_str(&cw, T(STATE), f.state);
    hipc_put_str(&cw, T(TARGET), f.actor);            /* resolved by */
    hipc_put_u64(&cw, T(EXPIRES), (uint64_t) time(NULL)); /* resolved at */
    rc = en_record_put(txn, en_db_enroll(), "c:", f.case_id, &cw);
    if (rc == 0) {
        k = en_key(kb, sizeof(kb), "o:", ef.curp);
        rc = mdb_del(txn, en_db_enroll(), &k, NULL);
        rc = rc == MDB_NOTFOUND ? 0 : rc;
    }
    if (rc == 0) {
        rc = id_audit(txn, f.actor, "dedup_resolved", ef.curp, f.client,
            "case_id", f.case_id, "decision", f.state, NULL);
    }
    if (rc == 0 && strcmp(f.state, "confirmed") == 0) {
        /* Both identities flagged: the enrolling one and every match. */
        hipc_reader_init(&r, rec, len);
        rc = en_status_flag(txn, ef.curp, "duplicate_confirmed",
            "duplicate_confirmed");
        while (rc == 0 && hipc_next(&r, &tag, &d, &n) == 1) {
            char  other[STORE_CURP_MAX];

            if (tag != T(CANDIDATE)) {
                continue;
            }
            en_record_str(d, n, T(CURP), other, sizeof(other));
            rc = en_status_flag(txn, other, "duplicate_confirmed", NULL);
        }
    }
    free(copy);
    if (rc != 0) {
        ops_error(w, "storage_error", NULL, "%s", mdb_strerror(rc));
        return HIPC_ST_INTERNAL;
    }
    if (strcmp(f.state, "false_alarm") == 0) {
        status = en_store_enrollment(&ef, p, f.case_id, txn, w);
    } else {
        payload = json_pack("{s:s, s:s, s:s, s:s}", "case_id", f.case_id,
            "decision", "confirmed", "curp", ef.curp, "employer_rfc",
            ef.rfc);
        rc = payload ? receipt_issue(txn, "dedup_decision", payload, ef.rfc,
            ef.curp, folio, &jws) : -1;
        json_decref(payload);
        if (rc != 0) {
            ops_error(w, "storage_error", NULL, "cannot issue the receipt");
            return HIPC_ST_INTERNAL;
        }
        hipc_put_str(w, T(FOLIO), folio);
        hipc_put_str(w, T(RECEIPT), jws);
        free(jws);
        status = HIPC_ST_OK;
    }
    if (status == HIPC_ST_OK) {
        hipc_put_str(w, T(CASE_ID), f.case_id);
        hipc_put_str(w, T(STATE), f.state);
    }
    return status;
}

static void
op_resolve(struct hd_request *rq)
{
    struct en_fields     f;
    struct en_err        e;
    struct enroll_prep  *p;

    if (en_decode(rq->payload, rq->len, resolve_allowed, resolve_required,
            &f, &e) != 0)
    {
        en_reply_err(rq, &e);
        return;
    }
    if (strcmp(f.state, "confirmed") != 0
        && strcmp(f.state, "false_alarm") != 0)
    {
        ops_reply_error(rq, HIPC_ST_INVALID, "invalid_decision", "decision",
            "the decision is confirmed or false_alarm");
        return;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        ops_reply_error(rq, HIPC_ST_BUSY, "out_of_memory", NULL,
            "huellad is out of memory");
        return;
    }
    en_dispatch(rq, p, en_prep_free, resolve_pool);
}

/* ---- DEDUP_LIST --------------------------------------------------------- */

static json_t *
case_json(const uint8_t *rec, size_t len)
{
    char                 s[8][STORE_NAME_MAX];
    json_t              *o, *matches = json_array();
    struct hipc_reader   r;
    const uint8_t       *d;
    uint32_t             n;
    uint16_t             tag;
    uint64_t             resolved;

    en_record_str(rec, len, T(CASE_ID), s[0], sizeof(s[0]));
    en_record_str(rec, len, T(CURP), s[1], sizeof(s[1]));
    en_record_str(rec, len, T(RFC), s[2], sizeof(s[2]));
    en_record_str(rec, len, T(DEVICE_ID), s[3], sizeof(s[3]));
    en_record_str(rec, len, T(STATE), s[4], sizeof(s[4]));
    en_record_str(rec, len, T(ACTOR), s[5], sizeof(s[5]));
    en_record_str(rec, len, T(TARGET), s[6], sizeof(s[6]));
    hipc_reader_init(&r, rec, len);
    while (hipc_next(&r, &tag, &d, &n) == 1) {
        if (tag == T(CANDIDATE)) {
            en_record_str(d, n, T(CURP), s[7], sizeof(s[7]));
            json_array_append_new(matches, json_pack("{s:s, s:I, s:I, s:f}",
                "curp", s[7], "position", (json_int_t) en_record_u32(d, n,
                T(POSITION)), "probe_position", (json_int_t) en_record_u32(d,
                n, T(INDEX)), "score", en_record_f64(d, n, T(SCORE))));
        }
    }
    resolved = en_record_u64(rec, len, T(EXPIRES));
    o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:f, s:I, s:o}",
        "case_id", s[0], "curp", s[1], "employer_rfc", s[2], "device", s[3],
        "status", s[4], "opened_by", s[5], "created",
        (json_int_t) en_record_u64(rec, len, T(CREATED)), "threshold",
        en_record_f64(rec, len, T(THRESHOLD)), "searched",
        (json_int_t) en_record_u64(rec, len, T(SEARCHED)), "matches",
        matches);
    if (o && resolved) {
        json_object_set_new(o, "resolved_by", json_string(s[6]));
        json_object_set_new(o, "resolved_at", json_integer(
            (json_int_t) resolved));
    }
    return o;
}

static void
op_dedup_list(struct hd_request *rq, struct hd_thread *th)
{
    static const uint16_t  tags[] = { T(STATE), 0 };
    struct en_fields       f;
    MDB_txn               *txn = NULL;
    MDB_cursor            *cur = NULL;
    MDB_val                k = { 2, (void *) "c:" }, v;
    json_t                *arr, *o;
    char                   state[EN_WORD_MAX];
    int                    rc;

    if (en_list_open(rq, tags, en_db_enroll(), &f, &txn, &cur) != 0) {
        return;
    }
    arr = json_array();
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    {
        if (k.mv_size < 2 || memcmp(k.mv_data, "c:", 2) != 0) {
            break;
        }
        if (v.mv_size < 1) {
            continue;
        }
        en_record_str((const uint8_t *) v.mv_data + 1, v.mv_size - 1,
            T(STATE), state, sizeof(state));
        if (f.state[0] && strcmp(state, f.state) != 0) {
            continue;
        }
        o = case_json((const uint8_t *) v.mv_data + 1, v.mv_size - 1);
        if (o) {
            json_array_append_new(arr, o);
        }
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    en_reply_json(rq, th, json_dumps(arr, JSON_COMPACT));
    json_decref(arr);
}

/* ---- entry points ------------------------------------------------------- */

void
enrollment_handle(struct hd_request *rq, struct hd_thread *th)
{
    switch (rq->op) {
    case HIPC_OP_ENROLL:
        op_enroll(rq);
        break;
    case HIPC_OP_DEDUP_LIST:
        op_dedup_list(rq, th);
        break;
    case HIPC_OP_DEDUP_RESOLVE:
        op_resolve(rq);
        break;
    default:
        en_status_handle(rq, th);
        break;
    }
}

int
enrollment_write(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w)
{
    if (rq->op == HIPC_OP_DEDUP_RESOLVE) {
        return write_resolve(rq, txn, w);
    }
    return write_enroll(rq, txn, w);
}

int
enrollment_init(char *err, size_t errlen)
{
    return en_jobs_start(err, errlen);
}
