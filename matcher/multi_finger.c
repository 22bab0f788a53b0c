/*
 * multi_finger.c -- the multi-finger form of VERIFY and IDENTIFY (several
 * probe fingers, one fused decision); see multi_finger.h and docs/api.md
 * "Multi-finger fusion".
 *
 * Why an assignment and not "each probe's best finger": two impressions of
 * the same finger sent without positions would otherwise both pair with
 * the same enrolled finger and count twice as independent evidence, which
 * the fusion rule (independent fingers) must never see.  So
 * every enrolled finger serves at most one probe: a probe with a position
 * takes that finger, and the probes without one share the rest in the
 * assignment with the highest fused score, found exactly by a dynamic
 * programme over subsets of the (at most 11) enrolled fingers.  The fused
 * score is hm_fuse_scores() (Fisher's combination of the calibrated FMRs)
 * over the fingers that were compared.  IDENTIFY lets search_run() find
 * the candidates (its score, from each probe's best finger, is never below
 * this one) and scores each candidate here.
 */

#include "multi_finger.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fusion.h"
#include "ipc_server.h"
#include "prefilter.h"
#include "search.h"

#define MF_DEFAULT_CANDIDATES  10u
#define MF_MAX_CANDIDATES      100u
#define MF_ENROLLED_MAX        11      /* positions 0 (unknown) .. 10 */
#define MF_NONE                0xFF

/* JSON names of a probe's fields: ops_err keeps a static string. */
#define MF_NAMES(i)  { "fingers[" #i "]", "fingers[" #i "].position", \
                       "fingers[" #i "].format", "fingers[" #i "].data" }

enum { MF_NAME_SELF, MF_NAME_POSITION, MF_NAME_FORMAT, MF_NAME_DATA };

static const char *const mf_names[MF_PROBES_MAX][4] = {
    MF_NAMES(0), MF_NAMES(1), MF_NAMES(2), MF_NAMES(3), MF_NAMES(4),
    MF_NAMES(5), MF_NAMES(6), MF_NAMES(7), MF_NAMES(8), MF_NAMES(9)
};

/* A probe as decoded, before its template is prepared. */
struct mf_raw {
    unsigned        position;
    uint32_t        format;
    const uint8_t  *tmpl;
    uint32_t        tmpl_len;
};

int
mf_payload_has_probes(const uint8_t *payload, size_t len)
{
    struct hipc_reader  r;
    const uint8_t      *d;
    uint32_t            n;
    uint16_t            tag;

    hipc_reader_init(&r, payload, len);
    while (hipc_next(&r, &tag, &d, &n) == 1) {
        if (tag == HIPC_F_PROBE) {
            return 1;
        }
    }
    return 0;
}

/* One PROBE group: [POSITION], FORMAT, TEMPLATE, each once. */
static int
decode_probe(const uint8_t *buf, uint32_t len, unsigned i, struct mf_raw *p,
    struct ops_err *e)
{
    const char *const  *name = mf_names[i];
    const char         *field;
    struct hipc_reader  r;
    const uint8_t      *d;
    uint32_t            n, v;
    uint16_t            tag;
    int                 rc, seen_pos = 0, seen_fmt = 0, seen_tmpl = 0;

    memset(p, 0, sizeof(*p));
    hipc_reader_init(&r, buf, len);
    while ((rc = hipc_next(&r, &tag, &d, &n)) == 1) {
        switch (tag) {
        case HIPC_F_POSITION:
        case HIPC_F_FORMAT:
            field = name[tag == HIPC_F_POSITION ? MF_NAME_POSITION
                                                : MF_NAME_FORMAT];
            if ((*(tag == HIPC_F_POSITION ? &seen_pos : &seen_fmt))++) {
                return ops_fail(e, HIPC_ST_BAD_REQUEST, "duplicate_field",
                    field, "%s given twice", field);
            }
            if (hipc_get_u32(d, n, &v) != 0) {
                return ops_fail(e, HIPC_ST_BAD_REQUEST, "malformed_field",
                    field, "%s must be a 4-byte integer, got %u bytes",
                    field, n);
            }
            if (tag == HIPC_F_POSITION) {
                if (v > 10) {
                    return ops_fail(e, HIPC_ST_INVALID, "invalid_position",
                        name[MF_NAME_POSITION],
                        "finger position %u is outside 1..10", v);
                }
                p->position = v;
            } else {
                if (v != HIPC_FMT_ISO19794_2_2005
                    && v != HIPC_FMT_ANSI378_2004)
                {
                    return ops_fail(e, HIPC_ST_INVALID, "unsupported_format",
                        name[MF_NAME_FORMAT], "template format %u is not "
                        "supported (1 = ISO 19794-2:2005, 2 = ANSI "
                        "378-2004)", v);
                }
                p->format = v;
            }
            break;
        case HIPC_F_TEMPLATE:
            if (seen_tmpl++) {
                return ops_fail(e, HIPC_ST_BAD_REQUEST, "duplicate_field",
                    name[MF_NAME_DATA], "%s given twice",
                    name[MF_NAME_DATA]);
            }
            p->tmpl = d;
            p->tmpl_len = n;
            break;
        default:
            return ops_fail(e, HIPC_ST_BAD_REQUEST, "unexpected_field",
                name[MF_NAME_SELF], "field tag %u is not part of a probe "
                "finger", tag);
        }
    }
    if (rc < 0) {
        return ops_fail(e, HIPC_ST_BAD_REQUEST, "malformed_request",
            name[MF_NAME_SELF], "malformed TLV in %s at byte %zu of %zu",
            name[MF_NAME_SELF], r.pos, r.len);
    }
    if (!seen_fmt || !seen_tmpl) {
        return ops_fail(e, HIPC_ST_BAD_REQUEST, "missing_field",
            name[seen_fmt ? MF_NAME_DATA : MF_NAME_FORMAT],
            "required field %s is missing",
            name[seen_fmt ? MF_NAME_DATA : MF_NAME_FORMAT]);
    }
    return 0;
}

/* The top level: CURP (VERIFY) or MAX_CANDIDATES (IDENTIFY), and 1..10
 * PROBE groups with distinct positions where given. */
static int
decode_request(const struct hd_request *rq, int identify,
    struct mf_request *req, struct mf_raw *raw, struct ops_err *e)
{
    struct hipc_reader  r;
    const uint8_t      *d;
    uint32_t            n, v;
    uint16_t            tag;
    unsigned            i, j;
    int                 rc, seen_curp = 0, seen_max = 0;

    memset(req, 0, sizeof(*req));
    hipc_reader_init(&r, rq->payload, rq->len);
    while ((rc = hipc_next(&r, &tag, &d, &n)) == 1) {
        if (tag == HIPC_F_PROBE) {
            if (req->n == MF_PROBES_MAX) {
                return ops_fail(e, HIPC_ST_INVALID, "invalid_fingers",
                    "fingers", "at most %u fingers in one request",
                    MF_PROBES_MAX);
            }
            if (decode_probe(d, n, req->n, &raw[req->n], e) != 0) {
                return -1;
            }
            req->n++;
        } else if (tag == HIPC_F_CURP && !identify) {
            if (seen_curp++) {
                return ops_fail(e, HIPC_ST_BAD_REQUEST, "duplicate_field",
                    "curp", "field curp given twice");
            }
            if (!ops_curp_valid(d, n)) {
                return ops_fail(e, HIPC_ST_INVALID, "invalid_curp", "curp",
                    "a CURP is 18 characters of 0-9, A-Z and Ñ");
            }
            memcpy(req->curp, d, n);
            req->curp[n] = '\0';
        } else if (tag == HIPC_F_MAX_CANDIDATES && identify) {
            if (seen_max++) {
                return ops_fail(e, HIPC_ST_BAD_REQUEST, "duplicate_field",
                    "max_candidates", "field max_candidates given twice");
            }
            if (hipc_get_u32(d, n, &v) != 0) {
                return ops_fail(e, HIPC_ST_BAD_REQUEST, "malformed_field",
                    "max_candidates", "max_candidates must be a 4-byte "
                    "integer, got %u bytes", n);
            }
            if (v < 1 || v > MF_MAX_CANDIDATES) {
                return ops_fail(e, HIPC_ST_INVALID, "invalid_max_candidates",
                    "max_candidates", "max_candidates must be 1..%u",
                    MF_MAX_CANDIDATES);
            }
            req->max_candidates = v;
        } else if (tag == HIPC_F_POSITION || tag == HIPC_F_FORMAT
                   || tag == HIPC_F_TEMPLATE)
        {
            return ops_fail(e, HIPC_ST_BAD_REQUEST, "conflicting_fields",
                "fingers", "\"finger\" and \"fingers\" are mutually "
                "exclusive: send one finger or a list of fingers");
        } else {
            return ops_fail(e, HIPC_ST_BAD_REQUEST, "unexpected_field", NULL,
                "field tag %u is not part of this request", tag);
        }
    }
    if (rc < 0) {
        return ops_fail(e, HIPC_ST_BAD_REQUEST, "malformed_request", NULL,
            "malformed TLV at byte %zu of %zu", r.pos, r.len);
    }
    if (!identify && !seen_curp) {
        return ops_fail(e, HIPC_ST_BAD_REQUEST, "missing_field", "curp",
            "required field curp is missing");
    }
    if (req->n == 0) {
        return ops_fail(e, HIPC_ST_BAD_REQUEST, "missing_field", "fingers",
            "at least one finger is required");
    }
    for (i = 1; i < req->n; i++) {
        for (j = 0; j < i; j++) {
            if (raw[i].position != 0 && raw[i].position == raw[j].position) {
                return ops_fail(e, HIPC_ST_INVALID, "duplicate_position",
                    mf_names[i][MF_NAME_POSITION], "position %u is also "
                    "given by fingers[%u]: each finger once", raw[i].position,
                    j);
            }
        }
    }
    return 0;
}

void
mf_request_release(struct mf_request *req)
{
    unsigned  i;

    for (i = 0; i < req->n; i++) {
        hm_probe_free(req->probes[i].probe);
        hm_sigquery_free(req->probes[i].sigq);
        req->probes[i].probe = NULL;
        req->probes[i].sigq = NULL;
    }
    req->n = 0;
}

int
mf_request_prepare(const struct hd_request *rq, struct hd_thread *th,
    int identify, struct mf_request *req, struct ops_err *e)
{
    struct mf_raw  raw[MF_PROBES_MAX];
    unsigned       i, n;
    long           len;

    if (decode_request(rq, identify, req, raw, e) != 0) {
        req->n = 0;
        return -1;
    }
    n = req->n;
    req->n = 0;
    for (i = 0; i < n; i++) {
        len = ops_prepare_template(th, raw[i].format, raw[i].tmpl,
            raw[i].tmpl_len, mf_names[i][MF_NAME_DATA], e);
        if (len < 0) {
            mf_request_release(req);
            return -1;
        }
        req->probes[i].position = raw[i].position;
        req->probes[i].probe = hm_probe_new(th->encoded, (size_t) len);
        /* no pre-filter query (out of memory) only means exhaustive */
        req->probes[i].sigq = identify
            ? hm_sigquery_new(th->encoded, (size_t) len) : NULL;
        req->n = i + 1;
        if (req->probes[i].probe == NULL) {
            mf_request_release(req);
            return ops_fail(e, HIPC_ST_INTERNAL, "probe_failed",
                mf_names[i][MF_NAME_DATA], "cannot prepare the probe");
        }
    }
    return 0;
}

/* ---- the fused score ----------------------------------------------------- */

double
mf_fused_score(const double *scores, const uint8_t *drawn_from, unsigned n)
{
    double    drawn[MF_PROBES_MAX];
    unsigned  i, m = 0;

    for (i = 0; i < n && i < MF_PROBES_MAX; i++) {
        if (drawn_from[i]) {
            drawn[m++] = scores[i];
        }
    }
    if (m > 1) {
        for (i = 0; i < m; i++) {
            /* hm_fuse_scores() leaves a score of 0 out of its m draws; a
             * compared finger that scored 0 (or lost its partner to
             * another finger) was a draw all the same, an impostor's
             * chance, so it goes in as the smallest positive score, whose
             * calibrated FMR is exactly 1. */
            if (!(drawn[i] > 0.0)) {
                drawn[i] = DBL_MIN;
            }
        }
    }
    return hm_fuse_scores(drawn, m);
}

/* ---- one subject: the assignment of probes to enrolled fingers ---------- */

struct mf_enrolled {
    unsigned  n;
    struct {
        unsigned        position;
        const uint8_t  *stored;
        size_t          len;
    } f[MF_ENROLLED_MAX];
};

/* The dynamic programme's tables (53 KiB: kept off the ring thread's
 * small stack).  best[t % 2][mask]: the highest evidence with the first t
 * free probes placed and the fingers in mask taken; choice[t][mask]: the
 * finger probe t took to get there, or MF_NONE. */
struct mf_dp {
    double   best[2][1u << MF_ENROLLED_MAX];
    uint8_t  choice[MF_PROBES_MAX][1u << MF_ENROLLED_MAX];
};

static int
collect_finger(void *arg, const struct store_finger *fg)
{
    struct mf_enrolled  *en = arg;

    if (en->n < MF_ENROLLED_MAX) {
        en->f[en->n].position = fg->position;
        en->f[en->n].stored = fg->stored;
        en->f[en->n].len = fg->stored_len;
        en->n++;
    }
    return 0;
}

/* What a pairing is worth: the evidence -log10 FMR it adds to the fused
 * product, plus a hair of the raw score so that ties (scores past the
 * calibrated range, or 0) go to the closer finger and an available finger
 * is preferred to none. */
static double
pair_weight(double score)
{
    return -log10(hm_fmr_for_score(score)) + 1e-9 * (score + 1e-3);
}

int
mf_score_subject(const struct mf_request *req, MDB_txn *txn,
    const char *curp, struct hm_scratch *scratch, struct mf_outcome *out,
    int *missing)
{
    struct store_subject  subject;
    struct mf_enrolled    en;
    double                s[MF_PROBES_MAX][MF_ENROLLED_MAX];
    double                w[MF_PROBES_MAX][MF_ENROLLED_MAX];
    struct mf_dp         *dp;
    unsigned              freep[MF_PROBES_MAX], nfree = 0;
    unsigned              i, j, t, used = 0, mask, full, top;
    double               *cur, *nxt, v;
    int                   rc;

    memset(out, 0, sizeof(*out));
    for (i = 0; i < MF_PROBES_MAX; i++) {
        out->matched[i] = -1;
    }
    if (missing) {
        *missing = -1;
    }
    rc = store_subject_get(ops_store(), txn, curp, &subject);
    if (rc != 0) {
        return rc;
    }
    en.n = 0;
    rc = store_finger_each(ops_store(), txn, curp, collect_finger, &en);
    if (rc != 0) {
        return rc;
    }
    out->enrolled = en.n;

    /* Probes with a position take that finger. */
    for (i = 0; i < req->n; i++) {
        if (req->probes[i].position == 0) {
            freep[nfree++] = i;
            continue;
        }
        for (j = 0; j < en.n; j++) {
            if (en.f[j].position == req->probes[i].position) {
                break;
            }
        }
        if (j == en.n) {
            if (missing && *missing < 0) {
                *missing = (int) i;
            }
            continue;
        }
        out->score[i] = hm_compare(req->probes[i].probe, en.f[j].stored,
            en.f[j].len, scratch);
        out->compared++;
        out->matched[i] = (int) en.f[j].position;
        out->drawn[i] = 1;
        used |= 1u << j;
    }

    /* The others: the best assignment over the fingers left, exactly. */
    if (nfree > 0 && used != (1u << en.n) - 1) {
        dp = malloc(sizeof(*dp));
        if (dp == NULL) {
            return ENOMEM;
        }
        for (t = 0; t < nfree; t++) {
            for (j = 0; j < en.n; j++) {
                if (used & (1u << j)) {
                    continue;
                }
                s[t][j] = hm_compare(req->probes[freep[t]].probe,
                    en.f[j].stored, en.f[j].len, scratch);
                w[t][j] = pair_weight(s[t][j]);
                out->compared++;
                out->drawn[freep[t]] = 1;
            }
        }
        full = 1u << en.n;
        cur = dp->best[0];
        nxt = dp->best[1];
        for (mask = 0; mask < full; mask++) {
            cur[mask] = -1.0;
        }
        cur[used] = 0.0;
        for (t = 0; t < nfree; t++) {
            for (mask = 0; mask < full; mask++) {
                nxt[mask] = -1.0;
            }
            for (mask = 0; mask < full; mask++) {
                if (cur[mask] < 0.0) {
                    continue;
                }
                if (cur[mask] > nxt[mask]) {          /* t left unpaired */
                    nxt[mask] = cur[mask];
                    dp->choice[t][mask] = MF_NONE;
                }
                for (j = 0; j < en.n; j++) {
                    if (mask & (1u << j)) {
                        continue;
                    }
                    v = cur[mask] + w[t][j];
                    if (v > nxt[mask | (1u << j)]) {
                        nxt[mask | (1u << j)] = v;
                        dp->choice[t][mask | (1u << j)] = (uint8_t) j;
                    }
                }
            }
            cur = nxt;
            nxt = cur == dp->best[0] ? dp->best[1] : dp->best[0];
        }
        top = used;
        for (mask = 0; mask < full; mask++) {
            if (cur[mask] > cur[top]) {
                top = mask;
            }
        }
        for (t = nfree; t-- > 0; ) {
            j = dp->choice[t][top];
            if (j == MF_NONE) {
                continue;
            }
            out->score[freep[t]] = s[t][j];
            out->matched[freep[t]] = (int) en.f[j].position;
            top &= ~(1u << j);
        }
        free(dp);
    }
    out->fused = mf_fused_score(out->score, out->drawn, req->n);
    return 0;
}

void
mf_put_detail(struct hipc_writer *w, const struct mf_request *req,
    const struct mf_outcome *o)
{
    unsigned  i;
    size_t    at;

    for (i = 0; i < req->n; i++) {
        at = hipc_open(w, HIPC_F_PROBE_SCORE);
        hipc_put_u32(w, HIPC_F_POSITION, req->probes[i].position);
        hipc_put_f64(w, HIPC_F_SCORE, o->score[i]);
        if (o->matched[i] >= 0) {
            hipc_put_u32(w, HIPC_F_MATCHED_POSITION,
                (uint32_t) o->matched[i]);
        }
        hipc_close(w, at);
    }
}

/* ---- VERIFY, inline on the ring thread ----------------------------------- */

void
mf_op_verify(struct hd_request *rq, struct hd_thread *th)
{
    struct mf_request   req;
    struct mf_outcome   o;
    struct ops_err      e;
    struct hipc_writer  w;
    MDB_txn            *txn;
    double              threshold = ops_threshold();
    int                 rc, missing;

    if (mf_request_prepare(rq, th, 0, &req, &e) != 0) {
        ops_reply_err(rq, &e);
        return;
    }
    if ((rc = store_read_begin(ops_store(), &txn)) != 0) {
        mf_request_release(&req);
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
        return;
    }
    rc = mf_score_subject(&req, txn, req.curp, th->scratch, &o, &missing);
    mdb_txn_abort(txn);
    ops_count_comparisons(o.compared);
    if (rc == MDB_NOTFOUND) {
        ops_reply_error(rq, HIPC_ST_NOT_FOUND, "subject_not_found", "curp",
            "no subject with CURP %s", req.curp);
    } else if (rc != 0) {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
    } else if (o.enrolled == 0) {
        ops_reply_error(rq, HIPC_ST_NOT_FOUND, "no_fingers_enrolled", "curp",
            "subject %s has no enrolled fingerprint", req.curp);
    } else if (missing >= 0) {
        ops_reply_error(rq, HIPC_ST_NOT_FOUND, "finger_not_found",
            mf_names[missing][MF_NAME_POSITION], "subject %s has no finger "
            "enrolled at position %u", req.curp,
            req.probes[missing].position);
    } else {
        hipc_writer_init(&w, th->reply, sizeof(th->reply));
        hipc_put_u32(&w, HIPC_F_MATCH, o.fused >= threshold);
        hipc_put_f64(&w, HIPC_F_SCORE, o.fused);
        hipc_put_f64(&w, HIPC_F_THRESHOLD, threshold);
        hipc_put_u32(&w, HIPC_F_FUSED, 1);
        mf_put_detail(&w, &req, &o);
        hd_reply(rq, HIPC_ST_OK, th->reply, w.len);
    }
    mf_request_release(&req);
}

/* ---- IDENTIFY: search_run() over the pool, then each hit as VERIFY ------- */

/* The search ranks by its own fusion of each probe's best finger, which
 * may pair two probes with one finger; every hit is scored again with the
 * assignment above (exactly what VERIFY answers for that CURP), so a few
 * more hits than asked are fetched in case some drop in rank. */
#define MF_SEARCH_SPARE  2u

struct mf_identify {
    struct hd_request    *rq;
    struct mf_request     req;
    struct search_probe   probes[MF_PROBES_MAX];
    unsigned              k;
    double                threshold;
};

struct mf_ranked {
    char               curp[STORE_CURP_MAX];
    struct mf_outcome  o;
};

static int
ranked_cmp(const void *a, const void *b)
{
    const struct mf_ranked  *x = a, *y = b;

    if (x->o.fused != y->o.fused) {
        return x->o.fused > y->o.fused ? -1 : 1;
    }
    return strcmp(x->curp, y->curp);
}

/* The enrolled finger of the candidate's best single score. */
static uint32_t
best_position(const struct mf_request *req, const struct mf_outcome *o)
{
    unsigned  i, best = 0;

    for (i = 1; i < req->n; i++) {
        if (o->matched[i] >= 0
            && (o->matched[best] < 0 || o->score[i] > o->score[best]))
        {
            best = i;
        }
    }
    return o->matched[best] >= 0 ? (uint32_t) o->matched[best] : 0;
}

static void
mf_identify_free(struct mf_identify *job)
{
    hd_request_free(job->rq);
    mf_request_release(&job->req);
    free(job);
}

static void
identify_done(void *ctx, struct hd_thread *th, const struct search_result *r)
{
    struct mf_identify  *job = ctx;
    struct mf_ranked    *ranked = NULL;
    struct hipc_writer   w;
    MDB_txn             *txn = NULL;
    uint64_t             compared = 0;
    unsigned             i, n = 0;
    size_t               at;
    int                  rc = 0;

    if (r->expired) {
        ops_reply_error(job->rq, HIPC_ST_EXPIRED, "deadline_exceeded", NULL,
            "the deadline passed during the search");
        goto done;
    }
    if (r->failed) {
        ops_reply_error(job->rq, HIPC_ST_INTERNAL, "storage_error", NULL,
            "the search could not read the database");
        goto done;
    }
    if (r->n > 0) {
        ranked = calloc(r->n, sizeof(*ranked));
        if (ranked == NULL) {
            ops_reply_error(job->rq, HIPC_ST_BUSY, "out_of_memory", NULL,
                "huellad is out of memory");
            goto done;
        }
        rc = store_read_begin(ops_store(), &txn);
    }
    for (i = 0; rc == 0 && i < r->n; i++) {
        memcpy(ranked[n].curp, r->hits[i].curp, STORE_CURP_MAX);
        rc = mf_score_subject(&job->req, txn, ranked[n].curp, th->scratch,
            &ranked[n].o, NULL);
        compared += ranked[n].o.compared;
        if (rc == MDB_NOTFOUND) {
            rc = 0;             /* deleted since the search's snapshot */
            continue;
        }
        if (rc == 0 && ranked[n].o.fused >= job->threshold) {
            n++;
        }
    }
    if (txn) {
        mdb_txn_abort(txn);
    }
    ops_count_comparisons(compared);
    if (rc != 0) {
        ops_reply_error(job->rq, HIPC_ST_INTERNAL, "storage_error", NULL,
            "%s", mdb_strerror(rc));
        goto done;
    }
    if (n > 1) {
        qsort(ranked, n, sizeof(*ranked), ranked_cmp);
    }
    if (n > job->k) {
        n = job->k;
    }
    hipc_writer_init(&w, th->reply, sizeof(th->reply));
    for (i = 0; i < n; i++) {
        at = hipc_open(&w, HIPC_F_CANDIDATE);
        hipc_put_str(&w, HIPC_F_CURP, ranked[i].curp);
        hipc_put_u32(&w, HIPC_F_POSITION,
            best_position(&job->req, &ranked[i].o));
        hipc_put_f64(&w, HIPC_F_SCORE, ranked[i].o.fused);
        mf_put_detail(&w, &job->req, &ranked[i].o);
        hipc_close(&w, at);
    }
    hipc_put_u64(&w, HIPC_F_SEARCHED, r->searched);
    hipc_put_f64(&w, HIPC_F_THRESHOLD, job->threshold);
    hipc_put_u32(&w, HIPC_F_FUSED, 1);
    if (w.overflow) {           /* 100 candidates of 10 fingers fit: a bug */
        ops_reply_error(job->rq, HIPC_ST_INTERNAL, "reply_too_large", NULL,
            "the candidates do not fit in one reply");
    } else {
        hd_reply(job->rq, HIPC_ST_OK, th->reply, w.len);
    }

done:
    free(ranked);
    mf_identify_free(job);
}

void
mf_op_identify(struct hd_request *rq, struct hd_thread *th)
{
    struct mf_identify  *job;
    struct search_spec   spec;
    struct ops_err       e;
    unsigned             i;

    job = calloc(1, sizeof(*job));
    if (job == NULL) {
        ops_reply_error(rq, HIPC_ST_BUSY, "out_of_memory", NULL,
            "huellad is out of memory");
        return;
    }
    if (mf_request_prepare(rq, th, 1, &job->req, &e) != 0) {
        free(job);
        ops_reply_err(rq, &e);
        return;
    }
    job->rq = hd_request_dup(rq);
    if (job->rq == NULL) {
        mf_identify_free(job);
        ops_reply_error(rq, HIPC_ST_BUSY, "out_of_memory", NULL,
            "huellad is out of memory");
        return;
    }
    job->rq->len = 0;       /* the payload is not needed any more */
    job->k = job->req.max_candidates ? job->req.max_candidates
                                     : MF_DEFAULT_CANDIDATES;
    job->threshold = ops_threshold();
    for (i = 0; i < job->req.n; i++) {
        job->probes[i].probe = job->req.probes[i].probe;
        job->probes[i].sigq = job->req.probes[i].sigq;
        job->probes[i].position = job->req.probes[i].position;
    }
    memset(&spec, 0, sizeof(spec));
    spec.probes = job->probes;
    spec.nprobes = job->req.n;
    spec.k = job->k * MF_SEARCH_SPARE;
    spec.threshold = job->threshold;
    spec.deadline = job->rq;
    spec.done = identify_done;
    spec.ctx = job;
    if (search_run(&spec) != 0) {
        mf_identify_free(job);
        ops_reply_error(rq, HIPC_ST_BUSY, "busy", NULL,
            "huellad cannot start the search");
    }
}
