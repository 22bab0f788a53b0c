/*
 * attendance_punch.c -- PUNCH: a kiosk's fingerprint becomes an entry or
 * an exit.
 *
 * Ring thread: decode, resolve the kiosk's site.  Pool: throttle check
 * (NIST SP 800-63B: after `throttle.threshold` consecutive failures per
 * kiosk or per person, each try waits `throttle.delay_s`), template parse,
 * then 1:1 against the typed matricula's fingers, or 1:N over the site's
 * roster first (small, the likely match) and the whole gallery after, by
 * search_run() (sharded across the pool, pre-filtered on large galleries,
 * the roster skipped); then the face, when sent, and the decision.
 * Writer: the day's earlier punches decide entrada/salida and the status
 * (attendance_rules.c), then the punch, its folio index, the receipt and
 * the audit entry commit together; the reply leaves after the durable
 * commit.  A miss is written too (the failure counters must survive a
 * restart) and answered UNAUTHORIZED `no_match` with ATTEMPTS_LEFT.
 */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attendance.h"
#include "attendance_store.h"
#include "enroll_ops.h"
#include "identity.h"
#include "identity_store.h"
#include "ipc_server.h"
#include "match.h"
#include "prefilter.h"
#include "search.h"
#include "store.h"
#include "writer.h"

static const uint16_t punch_allowed[] = {
    HIPC_F_FORMAT, HIPC_F_TEMPLATE, HIPC_F_DEVICE_ID, HIPC_F_MATRICULA,
    HIPC_F_SITE, HIPC_F_TEST_NOW, HIPC_F_CLIENT, HIPC_F_FACE, 0
};
/* FORMAT and TEMPLATE, or FACE, or both (checked in att_punch_handle) */
static const uint16_t punch_required[] = { HIPC_F_DEVICE_ID, 0 };

/* ---- throttle ----------------------------------------------------------- */

static void
throttle_name(char *out, size_t cap, char kind, const char *id)
{
    snprintf(out, cap, "%c:%s", kind, id);
}

/* Seconds to wait before the next try (0 = may try now). */
static unsigned
throttle_wait(MDB_txn *txn, const char *name, time_t now)
{
    const struct att_rules  *r = att_rules();
    struct att_throttle      t;
    int64_t                  until;

    if (atts_throttle_get(txn, att_dbi(), name, &t) != 0
        || t.failures < r->throttle_threshold)
    {
        return 0;
    }
    until = (int64_t) t.last_failure + r->throttle_delay_s;
    return until > (int64_t) now ? (unsigned) (until - (int64_t) now) : 0;
}

/* ---- matching (pool) ---------------------------------------------------- */

struct best {
    const struct hm_probe  *probe;
    struct hm_scratch      *scratch;
    double                  score;
    char                    curp[ATT_CURP_MAX];
    uint64_t                compared;
};

struct one_person {
    struct best  *b;
    const char   *curp;
};

static int
compare_finger(void *arg, const struct store_finger *fg)
{
    struct one_person  *op = arg;
    double              s;

    s = hm_compare(op->b->probe, fg->stored, fg->stored_len,
        op->b->scratch);
    op->b->compared++;
    if (s > op->b->score) {
        op->b->score = s;
        snprintf(op->b->curp, sizeof(op->b->curp), "%s", op->curp);
    }
    return 0;
}

static int
compare_person(MDB_txn *txn, struct best *b, const char *curp)
{
    struct one_person  op = { b, curp };

    return store_finger_each(ops_store(), txn, curp, compare_finger, &op);
}

/* ---- faces (pool) ------------------------------------------------------- */

/* The best face so far: cosine similarity of L2-normalised embeddings. */
struct face_best {
    const float  *probe;         /* normalised */
    unsigned      dim;
    double        score;
    char          curp[ATT_CURP_MAX];
    uint64_t      compared;
};

static double
face_similarity(const struct face_best *fb, const uint8_t *rec, size_t len)
{
    const struct att_rules  *r = att_rules();
    const uint8_t           *d;
    uint32_t                 n, dim;
    double                   dot = 0, norm = 0;
    float                    x;
    char                     model[64];
    unsigned                 i;

    en_record_str(rec, len, HIPC_F_FACE_MODEL, model, sizeof(model));
    if (strcmp(model, r->face_model) != 0
        || hipc_find(rec, len, HIPC_F_FACE_DIM, &d, &n) != 1
        || hipc_get_u32(d, n, &dim) != 0 || dim != fb->dim
        || hipc_find(rec, len, HIPC_F_FACE_DATA, &d, &n) != 1
        || n != dim * 4u)
    {
        return -1.0;        /* another model's embedding: not comparable */
    }
    for (i = 0; i < dim; i++) {
        memcpy(&x, d + 4 * i, 4);
        dot += (double) x * fb->probe[i];
        norm += (double) x * x;
    }
    return norm > 0 ? dot / sqrt(norm) : -1.0;
}

static void
face_person(MDB_txn *txn, struct face_best *fb, const char *curp)
{
    const uint8_t  *rec;
    size_t          len;
    double          s;

    if (en_record_get(txn, en_db_enroll(), "f:", curp, &rec, &len) != 0) {
        return;
    }
    s = face_similarity(fb, rec, len);
    fb->compared++;
    if (s > fb->score) {
        fb->score = s;
        snprintf(fb->curp, sizeof(fb->curp), "%s", curp);
    }
}

/* Every stored face (enrollment's "f:" records), skipping `skip_site`'s
 * roster (already compared); ETIMEDOUT once rq's deadline has passed. */
static int
face_gallery(MDB_txn *txn, struct face_best *fb, int skip_site,
    const struct hd_request *rq)
{
    const struct att_rules   *r = att_rules();
    const struct att_person  *p;
    MDB_cursor               *cur;
    MDB_val                   k = { 2, (void *) "f:" }, v;
    char                      curp[ATT_CURP_MAX];
    double                    s;
    uint64_t                  walked = 0;
    int                       rc;

    if ((rc = mdb_cursor_open(txn, en_db_enroll(), &cur)) != 0) {
        return rc;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    {
        if (k.mv_size < 3 || memcmp(k.mv_data, "f:", 2) != 0) {
            break;
        }
        if ((++walked & 1023) == 0 && hd_expired(rq)) {
            mdb_cursor_close(cur);
            return ETIMEDOUT;
        }
        if (k.mv_size - 2 >= sizeof(curp) || v.mv_size < 1) {
            continue;
        }
        memcpy(curp, (const char *) k.mv_data + 2, k.mv_size - 2);
        curp[k.mv_size - 2] = '\0';
        p = skip_site >= 0 ? att_person_find(r, curp) : NULL;
        if (p && att_person_site(r, p) == skip_site) {
            continue;
        }
        s = face_similarity(fb, (const uint8_t *) v.mv_data + 1,
            v.mv_size - 1);
        fb->compared++;
        if (s > fb->score) {
            fb->score = s;
            snprintf(fb->curp, sizeof(fb->curp), "%s", curp);
        }
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

/* The face's search, like the finger's: 1:1 with a matricula, else the
 * site's roster and then everyone.  0, an LMDB error or ETIMEDOUT (rq's
 * deadline passed). */
static int
face_search(MDB_txn *txn, struct att_job *job, struct face_best *fb,
    const struct hd_request *rq)
{
    const struct att_rules  *r = att_rules();
    size_t                   i;

    if (job->by_matricula) {
        if (job->curp[0]) {
            face_person(txn, fb, job->curp);
        }
        return 0;
    }
    for (i = 0; i < r->npeople && job->site >= 0; i++) {
        if (att_person_site(r, &r->people[i]) == job->site) {
            face_person(txn, fb, r->people[i].curp);
        }
    }
    if (fb->score >= r->face_threshold) {
        return 0;
    }
    return face_gallery(txn, fb, job->site, rq);
}

/* ---- the decision (pool) ------------------------------------------------ */

/*
 * What a punch carries from its finger search to its decision: the best
 * finger so far (the roster's, then the gallery's from search_run()), the
 * probe and the pre-filter query (freed at the end), and the roster's
 * CURPs, sorted, which the gallery search skips.
 */
struct punch_ctx {
    struct hd_request   *rq;
    struct search_probe  sp;
    struct best          b;
    char               (*roster)[ATT_CURP_MAX];
    size_t               nroster;
};

static void
punch_ctx_free(struct punch_ctx *pc)
{
    hm_probe_free(pc->sp.probe);
    hm_sigquery_free(pc->sp.sigq);
    free(pc->roster);
    free(pc);
}

/*
 * The face (when sent) and the decision, then the writer.  Either one
 * identifies; when both do, they must name the same person.  Takes pc
 * (and its request).
 */
static void
punch_decide(struct punch_ctx *pc)
{
    struct hd_request        *rq = pc->rq;
    struct att_job           *job = rq->prep;
    const struct att_rules   *r = att_rules();
    struct face_best          fb = { 0 };
    MDB_txn                  *txn = NULL;
    float                    *face = NULL;
    double                    norm = 0;
    size_t                    i;
    int                       rc, finger_ok, face_ok;

    finger_ok = pc->sp.probe != NULL && pc->b.score >= ops_threshold();

    /* the face: normalised once, then the same search as the finger's */
    fb.score = -1.0;
    if (job->f.face_data) {
        if ((rc = store_read_begin(ops_store(), &txn)) != 0) {
            ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL,
                "%s", mdb_strerror(rc));
            goto fail;
        }
        fb.dim = job->f.face_dim;
        face = malloc(fb.dim * sizeof(float));
        if (face == NULL) {
            ops_reply_error(rq, HIPC_ST_BUSY, "out_of_memory", NULL,
                "huellad is out of memory");
            goto fail;
        }
        memcpy(face, job->f.face_data, fb.dim * sizeof(float));
        for (i = 0; i < fb.dim; i++) {
            norm += (double) face[i] * face[i];
        }
        for (i = 0; i < fb.dim && norm > 0; i++) {
            face[i] = (float) (face[i] / sqrt(norm));
        }
        fb.probe = face;
        if (norm > 0) {
            if (finger_ok) {
                /* agreeing with the finger is the common case: try first */
                face_person(txn, &fb, pc->b.curp);
            }
            if (fb.score < r->face_threshold
                && (rc = face_search(txn, job, &fb, rq)) != 0)
            {
                if (rc == ETIMEDOUT) {
                    ops_reply_error(rq, HIPC_ST_EXPIRED, "deadline_exceeded",
                        NULL, "the deadline passed during the face search");
                } else {
                    ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error",
                        NULL, "%s", mdb_strerror(rc));
                }
                goto fail;
            }
        }
        job->face_score = fb.score < 0 ? 0 : fb.score;
        mdb_txn_abort(txn);
        txn = NULL;
        free(face);
        face = NULL;
    }
    face_ok = fb.score >= r->face_threshold;

    job->score = pc->b.score < 0 ? 0 : pc->b.score;
    if (finger_ok && face_ok && strcmp(pc->b.curp, fb.curp) != 0) {
        job->matched = 0;
        job->disagree = 1;
    } else if (finger_ok) {
        job->matched = 1;
        snprintf(job->curp, sizeof(job->curp), "%s", pc->b.curp);
    } else if (face_ok) {
        job->matched = 1;
        job->by_face = 1;
        snprintf(job->curp, sizeof(job->curp), "%s", fb.curp);
    }
    pc->rq = NULL;
    punch_ctx_free(pc);
    writer_submit(rq);
    return;

fail:
    if (txn) {
        mdb_txn_abort(txn);
    }
    free(face);
    punch_ctx_free(pc);
    hd_request_free(rq);
}

/* ---- the gallery fallback (search_run) ---------------------------------- */

static int
cmp_curp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The site's roster was compared already: search_run() leaves it out. */
static int
skip_roster(void *ctx, const char *curp)
{
    const struct punch_ctx  *pc = ctx;

    return pc->nroster > 0
           && bsearch(curp, pc->roster, pc->nroster, sizeof(*pc->roster),
                  cmp_curp) != NULL;
}

/* search_run()'s done(), on a pool thread: the gallery's best, if better
 * than the roster's, then the decision. */
static void
gallery_done(void *ctx, struct hd_thread *th, const struct search_result *r)
{
    struct punch_ctx  *pc = ctx;

    (void) th;
    /* r->compared is already counted by the shards */
    if (r->expired || r->failed) {
        if (r->expired) {
            ops_reply_error(pc->rq, HIPC_ST_EXPIRED, "deadline_exceeded",
                NULL, "the deadline passed during the search");
        } else {
            ops_reply_error(pc->rq, HIPC_ST_INTERNAL, "storage_error", NULL,
                "the search could not read the database");
        }
        hd_request_free(pc->rq);
        punch_ctx_free(pc);
        return;
    }
    if (r->n > 0 && r->hits[0].score > pc->b.score) {
        pc->b.score = r->hits[0].score;
        snprintf(pc->b.curp, sizeof(pc->b.curp), "%s", r->hits[0].curp);
    }
    punch_decide(pc);
}

/* Starts the whole-gallery search; 0, or -1 after answering. */
static int
gallery_start(struct punch_ctx *pc, struct hd_thread *th, long n)
{
    struct search_spec  spec;

    /* NULL (out of memory) only means an exhaustive search */
    pc->sp.sigq = hm_sigquery_new(th->encoded, (size_t) n);
    pc->sp.position = 0;
    if (pc->nroster > 1) {
        qsort(pc->roster, pc->nroster, sizeof(*pc->roster), cmp_curp);
    }
    memset(&spec, 0, sizeof(spec));
    spec.probes = &pc->sp;
    spec.nprobes = 1;
    spec.k = 1;
    spec.threshold = ops_threshold();
    spec.skip = skip_roster;
    spec.deadline = pc->rq;
    spec.done = gallery_done;
    spec.ctx = pc;
    if (search_run(&spec) != 0) {
        ops_reply_error(pc->rq, HIPC_ST_BUSY, "busy", NULL,
            "huellad cannot start the search");
        return -1;
    }
    return 0;
}

/* ---- the finger (pool) -------------------------------------------------- */

static void
punch_match(void *arg, struct hd_thread *th)
{
    struct hd_request        *rq = arg;
    struct att_job           *job = rq->prep;
    const struct att_rules   *r = att_rules();
    const struct att_person  *p;
    struct ids_account        acct;
    struct punch_ctx         *pc;
    MDB_txn                  *txn = NULL;
    char                      name[ATT_CURP_MAX + ATT_NAME_MAX + 4];
    unsigned                  wait;
    size_t                    i;
    long                      n = 0;
    int                       rc;

    pc = calloc(1, sizeof(*pc));
    if (pc == NULL) {
        ops_reply_error(rq, HIPC_ST_BUSY, "out_of_memory", NULL,
            "huellad is out of memory");
        hd_request_free(rq);
        return;
    }
    pc->rq = rq;
    pc->b.score = -1.0;
    if (hd_expired(rq)) {
        ops_reply_error(rq, HIPC_ST_EXPIRED, "deadline_exceeded", NULL,
            "the deadline passed before the punch was matched");
        goto done;
    }
    if ((rc = store_read_begin(ops_store(), &txn)) != 0) {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
        goto done;
    }
    if (job->f.matricula[0]) {
        p = att_person_by_matricula(r, job->f.matricula);
        if (p) {
            snprintf(job->curp, sizeof(job->curp), "%s", p->curp);
        } else if (ids_account_resolve(ops_store(), txn, job->f.matricula,
                       &acct) == 0)
        {
            snprintf(job->curp, sizeof(job->curp), "%s", acct.curp);
        }
        job->by_matricula = 1;
    }
    if (job->curp[0] && att_biometric_disabled(txn, job->curp, NULL)) {
        ops_reply_error(rq, HIPC_ST_LOCKED, "biometric_disabled", "matricula",
            "biometric punches of this person are disabled after %u failed "
            "attempts in a row; an administrator must re-enable them",
            r->disable_after);
        goto done;
    }
    throttle_name(name, sizeof(name), 'k', job->f.device);
    wait = throttle_wait(txn, name, job->now);
    if (wait == 0 && job->curp[0]) {
        throttle_name(name, sizeof(name), 'p', job->curp);
        wait = throttle_wait(txn, name, job->now);
    }
    if (wait > 0) {
        uint8_t             buf[512];
        struct hipc_writer  w;

        hipc_writer_init(&w, buf, sizeof(buf));
        ops_error(&w, "too_many_attempts", NULL, "too many failed "
            "fingerprints: wait %u s before the next try", wait);
        hipc_put_u32(&w, HIPC_F_RETRY_AFTER, wait);
        ops_count_error();
        hd_reply(rq, HIPC_ST_RATE_LIMITED, buf, w.len);
        goto done;
    }

    th->why[0] = '\0';
    if (att_has(&job->f, HIPC_F_TEMPLATE)
        && (job->f.tmpl_len == 0
            || hm_parse((int) job->f.format, job->f.tmpl, job->f.tmpl_len,
                   &th->fp, th->why, sizeof(th->why)) != 0
            || (n = hm_encode(&th->fp, th->encoded, sizeof(th->encoded),
                   th->why, sizeof(th->why))) <= 0
            || (pc->sp.probe = hm_probe_new(th->encoded, (size_t) n))
               == NULL))
    {
        ops_reply_error(rq, HIPC_ST_INVALID, "invalid_template",
            "finger.data", "%s", th->why[0] ? th->why
            : "the template does not parse");
        goto done;
    }
    pc->b.probe = pc->sp.probe;
    pc->b.scratch = th->scratch;
    if (pc->sp.probe && job->by_matricula) {
        if (job->curp[0]) {
            compare_person(txn, &pc->b, job->curp);
        }
    } else if (pc->sp.probe) {
        /* the site's roster first: small, and the likely match */
        for (i = 0; i < r->npeople && job->site >= 0; i++) {
            if (att_person_site(r, &r->people[i]) == job->site) {
                pc->nroster++;
            }
        }
        pc->roster = pc->nroster ? calloc(pc->nroster, sizeof(*pc->roster))
                                 : NULL;
        if (pc->nroster && pc->roster == NULL) {
            ops_reply_error(rq, HIPC_ST_BUSY, "out_of_memory", NULL,
                "huellad is out of memory");
            goto done;
        }
        pc->nroster = 0;
        for (i = 0; i < r->npeople && job->site >= 0; i++) {
            if (att_person_site(r, &r->people[i]) == job->site) {
                compare_person(txn, &pc->b, r->people[i].curp);
                snprintf(pc->roster[pc->nroster++], ATT_CURP_MAX, "%s",
                    r->people[i].curp);
            }
        }
    }
    ops_count_comparisons(pc->b.compared);
    mdb_txn_abort(txn);
    txn = NULL;
    if (pc->sp.probe && !job->by_matricula && pc->b.score < ops_threshold())
    {
        /* then everyone else, sharded across the pool: the decision
         * follows in gallery_done() */
        if (gallery_start(pc, th, n) != 0) {
            goto done;
        }
        return;
    }
    punch_decide(pc);
    return;

done:
    if (txn) {
        mdb_txn_abort(txn);
    }
    punch_ctx_free(pc);
    hd_request_free(rq);
}

void
att_punch_handle(struct hd_request *rq, struct hd_thread *th)
{
    const struct att_rules  *r = att_rules();
    struct att_job          *job;
    int                      site;

    (void) th;
    job = att_job_new(rq, punch_allowed, punch_required);
    if (job == NULL) {
        return;
    }
    if (!att_has(&job->f, HIPC_F_TEMPLATE) && !att_has(&job->f, HIPC_F_FACE))
    {
        ops_reply_error(rq, HIPC_ST_BAD_REQUEST, "missing_field", "finger",
            "a punch needs a fingerprint (FORMAT, TEMPLATE), a face, or "
            "both");
        free(job);
        return;
    }
    if (att_has(&job->f, HIPC_F_TEMPLATE) != att_has(&job->f, HIPC_F_FORMAT))
    {
        ops_reply_error(rq, HIPC_ST_BAD_REQUEST, "missing_field",
            att_has(&job->f, HIPC_F_FORMAT) ? "finger.data"
                                            : "finger.format",
            "a fingerprint needs both FORMAT and TEMPLATE");
        free(job);
        return;
    }
    site = att_site_of_kiosk(r, job->f.device);
    /* Any employer representative can register a kiosk; only the
     * institution can list it under one of its sites.  Refused before any
     * matching, so such a kiosk cannot run up anyone's failure count. */
    if (site < 0 && r->only_mapped_kiosks) {
        ops_reply_error(rq, HIPC_ST_FORBIDDEN, "kiosk_not_assigned", NULL,
            "kiosk %s is not assigned to a site of the institution "
            "(attendance.sites[].kiosks, or an admin change's kiosks)",
            job->f.device);
        free(job);
        return;
    }
    if (job->f.site[0]) {
        int  named = att_site_find(r, job->f.site);

        if (named < 0) {
            ops_reply_error(rq, HIPC_ST_INVALID, "unknown_site", "site",
                "no site '%s' in attendance.sites", job->f.site);
            free(job);
            return;
        }
        if (site >= 0 && site != named) {
            ops_reply_error(rq, HIPC_ST_INVALID, "site_mismatch", "site",
                "kiosk %s belongs to site %s", job->f.device,
                r->sites[site].id);
            free(job);
            return;
        }
        site = named;
    }
    job->site = site;
    att_dispatch(rq, job, punch_match);
}

/* ---- writing (writer) --------------------------------------------------- */

struct day_punches {
    int32_t               day;
    size_t                n;
    struct att_punch_rec  p[ATT_DAY_PUNCHES_MAX];
};

static int
collect_day(void *arg, const struct att_punch_rec *p)
{
    struct day_punches  *d = arg;

    if (p->day == d->day && d->n < ATT_DAY_PUNCHES_MAX - 1) {
        d->p[d->n++] = *p;
    }
    return 0;
}

static int
punch_failed(struct att_job *job, MDB_txn *txn, struct hipc_writer *w)
{
    const struct att_rules  *r = att_rules();
    struct att_throttle      t;
    char                     name[ATT_CURP_MAX + ATT_NAME_MAX + 4], n[16];
    unsigned                 left = r->throttle_threshold, k;
    int                      rc, disabled = 0;

    for (k = 0; k < 2; k++) {
        if (k == 1 && !job->curp[0]) {
            break;
        }
        throttle_name(name, sizeof(name), k == 0 ? 'k' : 'p',
            k == 0 ? job->f.device : job->curp);
        if ((rc = atts_throttle_get(txn, att_dbi(), name, &t)) != 0) {
            break;
        }
        t.failures++;
        t.last_failure = (uint64_t) job->now;
        if ((rc = atts_throttle_put(txn, att_dbi(), name, &t)) != 0) {
            ops_error(w, "storage_error", NULL, "%s", mdb_strerror(rc));
            return HIPC_ST_INTERNAL;
        }
        if (t.failures >= r->throttle_threshold) {
            left = 0;
        } else if (r->throttle_threshold - t.failures < left) {
            left = r->throttle_threshold - t.failures;
        }
        /* NIST SP 800-63B 5.2.2: the person's biometric is disabled after
         * disable_after consecutive failures (audited once, when reached) */
        if (k == 1 && t.failures == r->disable_after) {
            disabled = 1;
            snprintf(n, sizeof(n), "%u", t.failures);
            if ((rc = id_audit(txn, job->f.device, "biometric_disabled",
                    job->curp, job->f.client, "failures", n, NULL)) != 0)
            {
                ops_error(w, "storage_error", NULL, "audit: %s",
                    mdb_strerror(rc));
                return HIPC_ST_INTERNAL;
            }
        }
    }
    id_audit(txn, job->f.device, "punch_no_match", job->curp,
        job->f.client, "kiosk", job->f.device, job->disagree ? "why"
        : NULL, "finger and face name different people", NULL);
    if (job->disagree) {
        ops_error(w, "biometrics_disagree", "face", "the fingerprint and "
            "the face were recognised as two different people");
    } else if (disabled) {
        ops_error(w, "no_match", "finger", "not recognised for this "
            "matricula; after %u failed attempts in a row its biometric "
            "punches are now disabled until an administrator re-enables "
            "them", r->disable_after);
    } else {
        ops_error(w, "no_match", job->f.face_data && !job->f.tmpl ? "face"
            : "finger", "the %s was not recognised%s",
            job->f.face_data && !job->f.tmpl ? "face"
            : job->f.face_data ? "fingerprint or face" : "fingerprint",
            job->by_matricula ? " for this matricula" : "");
    }
    hipc_put_u32(w, HIPC_F_ATTEMPTS_LEFT, left);
    if (left == 0) {
        hipc_put_u32(w, HIPC_F_RETRY_AFTER, r->throttle_delay_s);
    }
    hipc_put_f64(w, HIPC_F_THRESHOLD, ops_threshold());
    return HIPC_ST_UNAUTHORIZED | OPS_WRITE_KEEP;
}

int
att_punch_write(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w)
{
    struct att_job           *job = rq->prep;
    const struct att_rules   *r = att_rules();
    const struct att_person  *person;
    const struct att_shift   *shift;
    struct store_subject      subj;
    struct day_punches       *dp;
    struct att_punch_rec      rec;
    struct att_day_in         in = { 0 };
    struct att_day_out        out;
    int                       mins[ATT_DAY_PUNCHES_MAX];
    uint8_t                   late[ATT_DAY_PUNCHES_MAX];
    char                      at[32], name[ATT_CURP_MAX + ATT_NAME_MAX + 4];
    char                     *jws = NULL;
    char                      dname[STORE_NAME_MAX];
    int32_t                   day;
    int                       minute, rc;
    size_t                    i, pos;
    json_t                   *payload;

    if (!job->matched) {
        return punch_failed(job, txn, w);
    }
    /* recognised, but disabled (identified without a matricula, or
     * disabled by another kiosk since matching) */
    if (att_biometric_disabled(txn, job->curp, NULL)) {
        ops_error(w, "biometric_disabled", NULL, "biometric punches of this "
            "person are disabled after %u failed attempts in a row; an "
            "administrator must re-enable them", r->disable_after);
        return HIPC_ST_LOCKED;
    }
    person = att_person_find(r, job->curp);
    shift = att_person_shift(r, person);
    att_local(job->now, &day, &minute);
    memset(&rec, 0, sizeof(rec));
    rec.version = 1;
    rec.at = (uint64_t) job->now;
    rec.day = att_punch_day(r, shift, day, minute, &rec.minute);
    rec.score = job->score;
    rec.flags = (uint8_t) ((job->by_matricula ? ATT_PF_MATRICULA : 0)
                           | (job->by_face ? ATT_PF_FACE : 0)
                           | (r->freeze_before != ATT_NO_DAY
                              && rec.day < r->freeze_before
                              ? ATT_PF_FROZEN : 0));
    snprintf(rec.device, sizeof(rec.device), "%s", job->f.device);
    if (job->site >= 0) {
        snprintf(rec.site, sizeof(rec.site), "%s", r->sites[job->site].id);
    }

    /* the day's punches so far, this one inserted in time order */
    dp = malloc(sizeof(*dp));
    if (dp == NULL) {
        ops_error(w, "out_of_memory", NULL, "huellad is out of memory");
        return HIPC_ST_BUSY;
    }
    dp->day = rec.day;
    dp->n = 0;
    rc = atts_punch_each(txn, att_dbi(), job->curp,
        rec.at > 3 * 86400 ? rec.at - 3 * 86400 : 0, rec.at + 3 * 86400,
        collect_day, dp);
    if (rc != 0) {
        free(dp);
        ops_error(w, "storage_error", NULL, "%s", mdb_strerror(rc));
        return HIPC_ST_INTERNAL;
    }
    for (pos = 0; pos < dp->n && dp->p[pos].at <= rec.at; pos++) {
        /* find the slot */
    }
    memmove(&dp->p[pos + 1], &dp->p[pos], (dp->n - pos) * sizeof(rec));
    dp->p[pos] = rec;
    dp->n++;
    for (i = 0; i < dp->n; i++) {
        mins[i] = dp->p[i].minute;
        late[i] = (dp->p[i].flags & ATT_PF_FROZEN) != 0;
    }
    free(dp);
    in.policy = &r->policy;
    in.shift = shift;
    in.scheduled = shift != NULL
                   && (shift->days & (1u << att_weekday(rec.day))) != 0;
    in.holiday = att_is_holiday(r, rec.day);
    in.frozen = (rec.flags & ATT_PF_FROZEN) != 0;
    in.now_min = rec.minute;
    in.punch_min = mins;
    in.punch_late = late;
    in.npunches = i;
    att_day_compute(&in, &out);
    rec.kind = out.kind[pos];
    rec.status = out.status[pos];

    if ((rc = atts_counter_next(txn, att_dbi(), "punch", &rec.seq)) != 0) {
        ops_error(w, "storage_error", NULL, "%s", mdb_strerror(rc));
        return HIPC_ST_INTERNAL;
    }
    dname[0] = '\0';
    if (store_subject_get(ops_store(), txn, job->curp, &subj) == 0) {
        snprintf(dname, sizeof(dname), "%s", subj.name);
    }
    if (dname[0] == '\0' && person) {
        snprintf(dname, sizeof(dname), "%s", person->name);
    }
    att_iso8601(job->now, at);

    payload = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "curp",
        job->curp, "name", dname, "kind", att_kind_name(rec.kind), "at", at,
        "status", att_status_name(rec.status), "kiosk", job->f.device,
        "site", rec.site, "method", job->by_face ? "face" : "finger");
    if (payload == NULL
        || att_receipt(txn, "punch", payload, job->curp, rec.folio, &jws)
           != 0)
    {
        /* no receipt service: the punch still stands with its own folio */
        snprintf(rec.folio, sizeof(rec.folio), "P-%08llu",
            (unsigned long long) rec.seq);
    }
    json_decref(payload);

    if ((rc = atts_punch_put(txn, att_dbi(), job->curp, &rec)) != 0) {
        free(jws);
        ops_error(w, "storage_error", NULL, "%s", mdb_strerror(rc));
        return HIPC_ST_INTERNAL;
    }
    throttle_name(name, sizeof(name), 'k', job->f.device);
    atts_throttle_clear(txn, att_dbi(), name);
    throttle_name(name, sizeof(name), 'p', job->curp);
    atts_throttle_clear(txn, att_dbi(), name);
    rc = id_audit(txn, job->f.device, "punch", job->curp, job->f.client,
        "folio", rec.folio, "kind", att_kind_name(rec.kind), "status",
        att_status_name(rec.status), "at", at, "method",
        job->by_face ? "face" : "finger", NULL);
    if (rc != 0) {
        free(jws);
        ops_error(w, "storage_error", NULL, "audit: %s", mdb_strerror(rc));
        return HIPC_ST_INTERNAL;
    }

    hipc_put_str(w, HIPC_F_CURP, job->curp);
    hipc_put_str(w, HIPC_F_NAME, dname);
    hipc_put_str(w, HIPC_F_KIND, att_kind_name(rec.kind));
    hipc_put_str(w, HIPC_F_AT, at);
    hipc_put_str(w, HIPC_F_FOLIO, rec.folio);
    hipc_put_str(w, HIPC_F_PUNCH_STATUS, att_status_name(rec.status));
    /* The decision's own figures: the face's when the face decided. */
    hipc_put_f64(w, HIPC_F_SCORE, job->by_face ? job->face_score : rec.score);
    hipc_put_f64(w, HIPC_F_THRESHOLD, job->by_face ? r->face_threshold
        : ops_threshold());
    hipc_put_str(w, HIPC_F_AUTH_METHOD, job->by_face ? "face" : "finger");
    if (rec.site[0]) {
        hipc_put_str(w, HIPC_F_SITE, rec.site);
    }
    if (jws) {
        hipc_put_str(w, HIPC_F_RECEIPT, jws);
        free(jws);
    }
    return HIPC_ST_OK;
}
