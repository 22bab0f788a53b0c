/*
 * test_search.c -- the generic 1:N search (search_run(), search.h) and
 * score-level fusion (hm_fuse_scores(), fusion.h) on a real LMDB store.
 *
 * Owns: a gallery built once in the parent (40 two-finger subjects from the
 * FVC templates, impression 1, plus SYNTH_N one-finger synthetic subjects
 * from huellactl synth's generator); each test opens it and starts its own
 * worker pool (threads do not survive Check's fork).  Checks that hits
 * equal a one-by-one computation with hm_compare() and hm_fuse_scores(),
 * that positions restrict probes, that skip() leaves subjects out, that the
 * pre-filtered and exhaustive searches agree on rank 1, that a passed
 * deadline and bad specs are reported, and the fusion rule itself.  No
 * wall-clock assertions.
 */

#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "fvc_data.h"
#include "fusion.h"
#include "match.h"
#include "ops.h"
#include "prefilter.h"
#include "search.h"
#include "sigblocks.h"
#include "store.h"

#define SYNTH_N    300
#define REAL_N     20             /* subjects with two FVC fingers */

static char  data_dir[64];

/* Real finger r (0..39): set r / 10, FVC finger 101 + r % 10. */
static void
load_real(int r, int imp, struct stored *st)
{
    fvc_load(r / 10, 101 + r % 10, imp, st);
}

/* Real subject i (0..19) holds real finger i at position 1 and real
 * finger i + 20 (another set) at position 2: each of the 40 FVC fingers
 * belongs to exactly one subject. */
static int
second_finger(int i)
{
    return i + REAL_N;
}

static void
real_curp(int i, char *curp)
{
    snprintf(curp, STORE_CURP_MAX, "REAL%02dHDFRRN0%d", i, i % 10);
}

static void
put_finger(struct store *st, MDB_txn *txn, const char *curp,
    unsigned position, const struct stored *t)
{
    struct store_finger  f;

    memset(&f, 0, sizeof(f));
    f.position = (uint8_t) position;
    f.quality = (uint8_t) hm_stored_quality(t->bytes, (size_t) t->len);
    f.minutiae = (uint16_t) hm_stored_minutiae(t->bytes, (size_t) t->len);
    f.stored = t->bytes;
    f.stored_len = (size_t) t->len;
    ck_assert_int_eq(store_finger_put(st, txn, curp, &f), 0);
}

static void
put_subject(struct store *st, MDB_txn *txn, const char *curp)
{
    struct store_subject  s;

    memset(&s, 0, sizeof(s));
    snprintf(s.curp, sizeof(s.curp), "%s", curp);
    snprintf(s.name, sizeof(s.name), "Sujeto %s", curp);
    ck_assert_int_eq(store_subject_create(st, txn, &s), 0);
}

/* Builds the gallery once, in the parent, before Check forks. */
static void
build_gallery(void)
{
    char           synth_dir[] = "/tmp/huella-test-search-synth-XXXXXX";
    char           path[1024], curp[STORE_CURP_MAX], err[256];
    char           nbuf[16], *av[4];
    struct store  *st;
    MDB_txn       *txn;
    struct stored  t;
    int            i;

    snprintf(data_dir, sizeof(data_dir), "/tmp/huella-test-search-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(data_dir));
    ck_assert_ptr_nonnull(mkdtemp(synth_dir));
    snprintf(nbuf, sizeof(nbuf), "%d", SYNTH_N);
    av[0] = "synth";
    av[1] = nbuf;
    av[2] = synth_dir;
    av[3] = NULL;
    setenv("HUELLA_SHARED", shared_dir(), 1);
    ck_assert_int_eq(ctl_synth(3, av), 0);

    ck_assert_msg(store_open(&st, data_dir, 256u << 20, 16, err,
        sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(store_write_begin(st, NULL, &txn), 0);
    for (i = 0; i < REAL_N; i++) {
        real_curp(i, curp);
        put_subject(st, txn, curp);
        load_real(i, 1, &t);
        put_finger(st, txn, curp, 1, &t);
        free(t.bytes);
        load_real(second_finger(i), 1, &t);
        put_finger(st, txn, curp, 2, &t);
        free(t.bytes);
    }
    for (i = 0; i < SYNTH_N; i++) {
        snprintf(path, sizeof(path), "%s/synth_%07d.iso", synth_dir, i);
        ck_assert_int_eq(load_path(path, &t), 0);
        snprintf(curp, sizeof(curp), "SYNT%06dHDFRRN01", i);
        put_subject(st, txn, curp);
        put_finger(st, txn, curp, 1, &t);
        free(t.bytes);
        unlink(path);
    }
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    store_close(st);
    snprintf(path, sizeof(path), "%s/manifest.tsv", synth_dir);
    unlink(path);
    rmdir(synth_dir);
}

static struct store  *store;

/* In each forked test: the store and a two-thread pool. */
static void
pool_up(void)
{
    char  err[256];

    ck_assert_msg(store_open(&store, data_dir, 256u << 20, 16, err,
        sizeof(err)) == 0, "%s", err);
    ck_assert_msg(search_start(2, store, err, sizeof(err)) == 0, "%s", err);
}

static void
pool_down(void)
{
    search_stop();
    store_close(store);
}

/* What done() saw, copied out for the test thread. */
struct outcome {
    pthread_mutex_t       lock;
    pthread_cond_t        cond;
    int                   calls;
    int                   had_thread;
    struct search_result  r;
    struct search_hit     hits[64];
    atomic_int            skip_calls;
    const char           *skip_prefix;     /* subjects skipped */
};

static void
outcome_init(struct outcome *o)
{
    memset(o, 0, sizeof(*o));
    pthread_mutex_init(&o->lock, NULL);
    pthread_cond_init(&o->cond, NULL);
}

static void
on_done(void *ctx, struct hd_thread *th, const struct search_result *r)
{
    struct outcome  *o = ctx;
    unsigned         i;

    pthread_mutex_lock(&o->lock);
    o->calls++;
    o->had_thread = th != NULL;
    o->r = *r;
    for (i = 0; i < r->n && i < 64; i++) {
        o->hits[i] = r->hits[i];
    }
    o->r.hits = NULL;
    pthread_cond_broadcast(&o->cond);
    pthread_mutex_unlock(&o->lock);
}

static int
on_skip(void *ctx, const char *curp)
{
    struct outcome  *o = ctx;

    atomic_fetch_add(&o->skip_calls, 1);
    return o->skip_prefix != NULL
        && strncmp(curp, o->skip_prefix, strlen(o->skip_prefix)) == 0;
}

/* Runs spec to completion; returns search_run()'s result. */
static int
run(struct search_spec *spec, struct outcome *o)
{
    int  rc;

    spec->done = on_done;
    spec->ctx = o;
    rc = search_run(spec);
    if (rc == 0) {
        pthread_mutex_lock(&o->lock);
        while (o->calls == 0) {
            pthread_cond_wait(&o->cond, &o->lock);
        }
        pthread_mutex_unlock(&o->lock);
        /* Exactly once: give a second call a chance to show up. */
        usleep(1000);
        ck_assert_int_eq(o->calls, 1);
        ck_assert(o->had_thread);
    }
    return rc;
}

struct probe_set {
    struct search_probe  p[SEARCH_PROBES_MAX];
    struct stored        t[SEARCH_PROBES_MAX];
    unsigned             n;
};

static void
probe_add(struct probe_set *ps, int real, int imp, unsigned position)
{
    struct search_probe  *p = &ps->p[ps->n];

    load_real(real, imp, &ps->t[ps->n]);
    p->probe = hm_probe_new(ps->t[ps->n].bytes, (size_t) ps->t[ps->n].len);
    p->sigq = hm_sigquery_new(ps->t[ps->n].bytes,
        (size_t) ps->t[ps->n].len);
    ck_assert_ptr_nonnull(p->probe);
    ck_assert_ptr_nonnull(p->sigq);
    p->position = position;
    ps->n++;
}

static void
probes_free(struct probe_set *ps)
{
    unsigned  i;

    for (i = 0; i < ps->n; i++) {
        hm_probe_free(ps->p[i].probe);
        hm_sigquery_free(ps->p[i].sigq);
        free(ps->t[i].bytes);
    }
    ps->n = 0;
}

/* The expected result by brute force: every subject, every finger, the
 * same fusion; best first (ties: any order).  Returns hits written. */
struct expect_arg {
    const struct probe_set  *ps;
    struct hm_scratch       *scratch;
    struct search_hit       *h;
    double                   best_single;
    int                      compared;
};

static int
expect_finger(void *arg, const struct store_finger *f)
{
    struct expect_arg  *a = arg;
    unsigned            i;
    double              s;

    for (i = 0; i < a->ps->n; i++) {
        if (a->ps->p[i].position != 0
            && a->ps->p[i].position != f->position)
        {
            continue;
        }
        s = hm_compare(a->ps->p[i].probe, f->stored, f->stored_len,
            a->scratch);
        a->compared++;
        if (s > a->h->probe_scores[i]) {
            a->h->probe_scores[i] = s;
        }
        if (s > a->best_single) {
            a->best_single = s;
            a->h->position = f->position;
        }
    }
    return 0;
}

static unsigned
expect(const struct probe_set *ps, double threshold, struct search_hit *out,
    unsigned cap)
{
    struct hm_scratch  *scratch = hm_scratch_new();
    struct expect_arg   a;
    struct search_hit   h;
    MDB_txn            *txn;
    MDB_cursor         *cur;
    MDB_val             k, v;
    unsigned            n = 0, j;
    int                 rc;

    ck_assert_int_eq(store_read_begin(store, &txn), 0);
    /* Subjects: walk the fingers database and take each CURP once. */
    ck_assert_int_eq(store_finger_cursor(store, txn, &cur), 0);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    {
        char  curp[STORE_CURP_MAX];

        memcpy(curp, k.mv_data, k.mv_size - 2);
        curp[k.mv_size - 2] = '\0';
        if (n > 0 && strcmp(out[n - 1].curp, curp) == 0) {
            continue;
        }
        memset(&h, 0, sizeof(h));
        snprintf(h.curp, sizeof(h.curp), "%s", curp);
        a.ps = ps;
        a.scratch = scratch;
        a.h = &h;
        a.best_single = -1;
        a.compared = 0;
        ck_assert_int_eq(store_finger_each(store, txn, curp, expect_finger,
            &a), 0);
        h.score = hm_fuse_scores(h.probe_scores, ps->n);
        ck_assert_uint_lt(n, cap);
        out[n++] = h;       /* all subjects, sorted below */
        if (!a.compared) {
            out[n - 1].score = -1;
        }
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    hm_scratch_free(scratch);
    /* Best first, then drop those under the threshold. */
    for (j = 1; j < n; j++) {
        struct search_hit  x = out[j];
        unsigned           i = j;

        while (i > 0 && out[i - 1].score < x.score) {
            out[i] = out[i - 1];
            i--;
        }
        out[i] = x;
    }
    while (n > 0 && !(out[n - 1].score >= threshold)) {
        n--;
    }
    return n;
}

/* The search's hits are the first r->n expected ones (same scores, same
 * per-probe bests; equal scores may come in either order). */
static void
assert_hits_match(const struct outcome *o, const struct search_hit *want,
    unsigned nwant, unsigned k, unsigned nprobes)
{
    unsigned  i, j, p;

    ck_assert_uint_eq(o->r.n, nwant < k ? nwant : k);
    for (i = 0; i < o->r.n; i++) {
        ck_assert(o->hits[i].score == want[i].score);
        for (j = 0; j < nwant; j++) {
            if (strcmp(want[j].curp, o->hits[i].curp) == 0) {
                break;
            }
        }
        ck_assert_msg(j < nwant, "unexpected hit %s", o->hits[i].curp);
        ck_assert(want[j].score == o->hits[i].score);
        ck_assert_uint_eq(want[j].position, o->hits[i].position);
        for (p = 0; p < nprobes; p++) {
            ck_assert(want[j].probe_scores[p] == o->hits[i].probe_scores[p]);
        }
    }
}

START_TEST(test_fuse_scores)
{
    double  s[SEARCH_PROBES_MAX], one, two, top = hm_threshold_for_fmr(1e-12);
    int     i;

    s[0] = 0.0731234567;
    one = hm_fuse_scores(s, 1);
    ck_assert(memcmp(&one, &s[0], sizeof(one)) == 0);
    s[0] = 0.9;                 /* above the calibration: kept as is */
    one = hm_fuse_scores(s, 1);
    ck_assert(one == 0.9);
    ck_assert(hm_fuse_scores(s, 0) == 0.0);

    /* A missing finger contributes FMR 1: the other decides. */
    s[0] = 0.09;
    s[1] = 0.0;
    two = hm_fuse_scores(s, 2);
    ck_assert_msg(fabs(two - 0.09) < 1e-9, "fused %.12f", two);
    s[1] = NAN;
    ck_assert(fabs(hm_fuse_scores(s, 2) - 0.09) < 1e-9);
    s[1] = -1.0;
    ck_assert(fabs(hm_fuse_scores(s, 2) - 0.09) < 1e-9);

    /* Two fingers at FMR 1e-2 each: Fisher's 1e-4 * (1 + ln 1e4), not the
     * bare product 1e-4. */
    s[0] = s[1] = hm_threshold_for_fmr(1e-2);
    two = hm_fuse_scores(s, 2);
    ck_assert_msg(fabs(hm_fmr_for_score(two) / (1e-4 * (1.0 + log(1e4)))
                       - 1.0) < 1e-3, "fmr %g", hm_fmr_for_score(two));
    ck_assert(two > s[0]);

    /* Monotone in each score, clamped to the calibrated range. */
    s[0] = 0.05;
    s[1] = 0.06;
    one = hm_fuse_scores(s, 2);
    s[1] = 0.07;
    ck_assert(hm_fuse_scores(s, 2) > one);
    for (i = 0; i < SEARCH_PROBES_MAX; i++) {
        s[i] = 0.4;
    }
    two = hm_fuse_scores(s, SEARCH_PROBES_MAX);
    ck_assert(two <= top + 1e-12);
    ck_assert(two >= top - 1e-9);
    for (i = 0; i < SEARCH_PROBES_MAX; i++) {
        s[i] = 0.0;
    }
    ck_assert(hm_fuse_scores(s, SEARCH_PROBES_MAX) == 0.0);
}
END_TEST

/* The fused score keeps the false match rate it promises: impostor
 * fingers have calibrated rates uniform on (0,1), so among ten-finger
 * impostors about 1% must fuse to FMR 1e-2 or better (the bare product
 * of rates would let ~98% through). */
START_TEST(test_fuse_scores_keeps_fmr)
{
    double        s[SEARCH_PROBES_MAX];
    unsigned      seed = 12345, trial, i, n, passed[2] = { 0, 0 };
    unsigned      sizes[2] = { 2, SEARCH_PROBES_MAX };
    double        limit = hm_threshold_for_fmr(1e-2);
    const unsigned trials = 20000;

    for (n = 0; n < 2; n++) {
        for (trial = 0; trial < trials; trial++) {
            for (i = 0; i < sizes[n]; i++) {
                /* uniform on (1e-6, 1): inside the calibrated range */
                double  u = 1e-6 + (1.0 - 2e-6)
                            * ((double) rand_r(&seed) / RAND_MAX);

                s[i] = hm_threshold_for_fmr(u);
            }
            passed[n] += hm_fuse_scores(s, sizes[n]) >= limit;
        }
        ck_assert_msg(passed[n] > trials / 100 / 2
                      && passed[n] < trials / 100 * 2,
            "%u fingers: %u of %u impostors at FMR <= 1e-2", sizes[n],
            passed[n], trials);
    }
}
END_TEST

/* One probe, exhaustive: exactly the brute-force top-k. */
START_TEST(test_single_probe_exhaustive)
{
    struct search_hit   want[REAL_N + SYNTH_N];
    struct probe_set    ps = { .n = 0 };
    struct search_spec  spec;
    struct outcome      o;
    unsigned            nwant;
    int                 r;

    pool_up();
    for (r = 0; r < REAL_N; r += 4) {
        probe_add(&ps, r, 2, 0);
        memset(&spec, 0, sizeof(spec));
        spec.probes = ps.p;
        spec.nprobes = 1;
        spec.k = 10;
        spec.threshold = 0.0;
        spec.exhaustive = 1;
        outcome_init(&o);
        ck_assert_int_eq(run(&spec, &o), 0);
        ck_assert_int_eq(o.r.failed, 0);
        ck_assert_int_eq(o.r.expired, 0);
        ck_assert_int_eq(o.r.prefiltered, 0);
        ck_assert_uint_eq(o.r.searched, 2 * REAL_N + SYNTH_N);
        ck_assert_uint_eq(o.r.compared, 2 * REAL_N + SYNTH_N);
        nwant = expect(&ps, 0.0, want, REAL_N + SYNTH_N);
        assert_hits_match(&o, want, nwant, 10, 1);
        {
            char  curp[STORE_CURP_MAX];

            /* The mate: its subject, at position 1, ranked first. */
            real_curp(r, curp);
            ck_assert_str_eq(o.hits[0].curp, curp);
            ck_assert_uint_eq(o.hits[0].position, 1);
            ck_assert(o.hits[0].score >= hm_threshold_for_fmr(1e-4));
            ck_assert(o.hits[0].probe_scores[0] == o.hits[0].score);
        }
        probes_free(&ps);
    }
    pool_down();
}
END_TEST

/* Two probes, each bound to a position: both fingers of the mate count,
 * the fused score is the brute-force one and beats either finger. */
START_TEST(test_two_probes_positions)
{
    struct search_hit   want[REAL_N + SYNTH_N];
    struct probe_set    ps = { .n = 0 };
    struct search_spec  spec;
    struct outcome      o;
    char                curp[STORE_CURP_MAX];
    unsigned            nwant;
    double              top;
    int                 r;

    pool_up();
    for (r = 3; r < REAL_N; r += 5) {
        probe_add(&ps, r, 3, 1);
        probe_add(&ps, second_finger(r), 3, 2);
        memset(&spec, 0, sizeof(spec));
        spec.probes = ps.p;
        spec.nprobes = 2;
        spec.k = 5;
        spec.threshold = hm_threshold_for_fmr(1e-2);
        spec.exhaustive = 1;
        outcome_init(&o);
        ck_assert_int_eq(run(&spec, &o), 0);
        /* Each probe sees only its position: one comparison per finger. */
        ck_assert_uint_eq(o.r.compared, 2 * REAL_N + SYNTH_N);
        nwant = expect(&ps, spec.threshold, want, REAL_N + SYNTH_N);
        assert_hits_match(&o, want, nwant, 5, 2);
        real_curp(r, curp);
        ck_assert_str_eq(o.hits[0].curp, curp);
        ck_assert(o.hits[0].probe_scores[0] > 0);
        ck_assert(o.hits[0].probe_scores[1] > 0);
        ck_assert(o.hits[0].score == hm_fuse_scores(o.hits[0].probe_scores,
            2));
        /* Two mated fingers that each reach FMR 1e-2 fuse to at least the
         * better one, unless that is already past the calibrated range
         * (where fusion clamps).  (Fisher's combination can rank a strong
         * finger plus a weak one below the strong one alone.) */
        top = hm_threshold_for_fmr(1e-12);
        if (fmin(o.hits[0].probe_scores[0], o.hits[0].probe_scores[1])
            >= hm_threshold_for_fmr(1e-2))
        {
            ck_assert(o.hits[0].score >= fmin(top - 1e-9,
                fmax(o.hits[0].probe_scores[0],
                     o.hits[0].probe_scores[1])) - 1e-9);
        }
        /* Every hit reaches the threshold, best first. */
        for (unsigned i = 0; i < o.r.n; i++) {
            ck_assert(o.hits[i].score >= spec.threshold);
            ck_assert(i == 0 || o.hits[i - 1].score >= o.hits[i].score);
        }
        probes_free(&ps);
    }

    /* Both probes on any position: compared twice per finger. */
    probe_add(&ps, 0, 2, 0);
    probe_add(&ps, second_finger(0), 2, 0);
    memset(&spec, 0, sizeof(spec));
    spec.probes = ps.p;
    spec.nprobes = 2;
    spec.k = 3;
    spec.exhaustive = 1;
    outcome_init(&o);
    ck_assert_int_eq(run(&spec, &o), 0);
    ck_assert_uint_eq(o.r.compared, 2 * (2 * REAL_N + SYNTH_N));
    nwant = expect(&ps, 0.0, want, REAL_N + SYNTH_N);
    assert_hits_match(&o, want, nwant, 3, 2);
    real_curp(0, curp);
    ck_assert_str_eq(o.hits[0].curp, curp);
    probes_free(&ps);

    /* A position no subject has: nothing to compare, no hits. */
    probe_add(&ps, 0, 2, 7);
    memset(&spec, 0, sizeof(spec));
    spec.probes = ps.p;
    spec.nprobes = 1;
    spec.k = 3;
    outcome_init(&o);
    ck_assert_int_eq(run(&spec, &o), 0);
    ck_assert_uint_eq(o.r.compared, 0);
    ck_assert_uint_eq(o.r.n, 0);
    probes_free(&ps);
    pool_down();
}
END_TEST

/* skip() leaves subjects out and is asked once per subject. */
START_TEST(test_skip)
{
    struct probe_set    ps = { .n = 0 };
    struct search_spec  spec;
    struct outcome      o;
    char                curp[STORE_CURP_MAX];
    unsigned            i;
    int                 pre;

    pool_up();
    probe_add(&ps, 12, 2, 0);
    real_curp(12, curp);
    for (pre = 0; pre < 2; pre++) {
        search_set_prefilter_min(pre ? 1 : 20000);
        memset(&spec, 0, sizeof(spec));
        spec.probes = ps.p;
        spec.nprobes = 1;
        spec.k = 20;
        spec.skip = on_skip;
        outcome_init(&o);
        o.skip_prefix = curp;
        ck_assert_int_eq(run(&spec, &o), 0);
        ck_assert_int_eq(o.r.prefiltered, pre);
        ck_assert_int_eq(atomic_load(&o.skip_calls), REAL_N + SYNTH_N);
        ck_assert_uint_gt(o.r.n, 0);
        for (i = 0; i < o.r.n; i++) {
            ck_assert_str_ne(o.hits[i].curp, curp);
        }
        /* Every real subject skipped: only synthetic ones remain. */
        outcome_init(&o);
        o.skip_prefix = "REAL";
        ck_assert_int_eq(run(&spec, &o), 0);
        for (i = 0; i < o.r.n; i++) {
            ck_assert(strncmp(o.hits[i].curp, "SYNT", 4) == 0);
        }
        ck_assert_uint_eq(o.r.searched, SYNTH_N);
    }
    probes_free(&ps);
    pool_down();
}
END_TEST

/* The pre-filter (kept small so that it really filters) finds the same
 * rank-1 as the exhaustive search, with fewer comparisons. */
START_TEST(test_prefiltered_agrees)
{
    struct probe_set    ps = { .n = 0 };
    struct search_spec  spec;
    struct outcome      ex, pf;
    int                 r, agree = 0, total = 0, nprobes;

    pool_up();
    search_set_prefilter_min(1);
    for (nprobes = 1; nprobes <= 2; nprobes++) {
        for (r = 0; r < REAL_N; r++) {
            probe_add(&ps, r, 4, nprobes == 1 ? 0 : 1);
            if (nprobes == 2) {
                probe_add(&ps, second_finger(r), 4, 2);
            }
            memset(&spec, 0, sizeof(spec));
            spec.probes = ps.p;
            spec.nprobes = ps.n;
            spec.k = 3;
            spec.prefilter_k = 40;
            spec.exhaustive = 1;
            outcome_init(&ex);
            ck_assert_int_eq(run(&spec, &ex), 0);
            ck_assert_int_eq(ex.r.prefiltered, 0);
            spec.exhaustive = 0;
            outcome_init(&pf);
            ck_assert_int_eq(run(&spec, &pf), 0);
            ck_assert_int_eq(pf.r.prefiltered, 1);
            ck_assert_int_eq(pf.r.failed, 0);
            ck_assert_uint_eq(pf.r.searched, ex.r.searched);
            ck_assert_uint_lt(pf.r.compared, ex.r.compared / 3);
            ck_assert_uint_gt(pf.r.n, 0);
            total++;
            if (ex.r.n > 0 && strcmp(ex.hits[0].curp, pf.hits[0].curp) == 0)
            {
                /* The same subject is scored the same way. */
                ck_assert(ex.hits[0].score == pf.hits[0].score);
                agree++;
            }
            probes_free(&ps);
        }
    }
    fprintf(stderr, "prefilter: rank-1 agrees on %d of %d\n", agree, total);
    ck_assert_msg(agree >= total - 1, "rank-1 agrees on %d of %d", agree,
        total);
    pool_down();
}
END_TEST

/* The cheap first re-rank stage: with every subject nominated
 * (prefilter_k above the gallery) and rerank_k small, each shard keeps its
 * rerank_k / shards + 1 subjects of best hm_sigquery_rerank_score() (best
 * finger), and exactly those are scored with hm_compare(): the hits are
 * the one-by-one computation restricted to them. */
struct lite_arg {
    const struct hm_sigquery  *q;
    double                     best;
    int                        fingers;
};

static int
lite_finger(void *arg, const struct store_finger *f)
{
    struct lite_arg  *a = arg;
    double            s = hm_sigquery_rerank_score(a->q, f->stored,
                          f->stored_len);

    a->best = s > a->best ? s : a->best;
    a->fingers++;
    return 0;
}

START_TEST(test_rerank_stage)
{
    enum { ALL = REAL_N + SYNTH_N, RERANK = 40, SHARDS = 2 };
    static struct search_hit  want[ALL], kept[ALL];
    static double             lite[ALL];
    static int                fingers[ALL], chosen[ALL];
    struct probe_set          ps = { .n = 0 };
    struct search_spec        spec;
    struct outcome            o, ex;
    struct lite_arg           la;
    MDB_txn                  *txn;
    unsigned                  nwant, nkept, i, j, shard, rank;
    uint64_t                  compared;
    int                       r, agree = 0, total = 0;

    pool_up();
    search_set_prefilter_min(1);
    for (r = 0; r < REAL_N; r += 2) {
        probe_add(&ps, r, 5, 0);
        memset(&spec, 0, sizeof(spec));
        spec.probes = ps.p;
        spec.nprobes = 1;
        spec.k = 10;
        spec.prefilter_k = 4000;
        spec.rerank_k = RERANK;
        outcome_init(&o);
        ck_assert_int_eq(run(&spec, &o), 0);
        ck_assert_int_eq(o.r.prefiltered, 1);
        ck_assert_int_eq(o.r.failed, 0);

        /* One by one: every subject's full and cheap scores. */
        nwant = expect(&ps, 0.0, want, ALL);
        ck_assert_uint_eq(nwant, ALL);
        ck_assert_int_eq(store_read_begin(store, &txn), 0);
        for (i = 0; i < nwant; i++) {
            la.q = ps.p[0].sigq;
            la.best = -1.0;
            la.fingers = 0;
            ck_assert_int_eq(store_finger_each(store, txn, want[i].curp,
                lite_finger, &la), 0);
            lite[i] = la.best;
            fingers[i] = la.fingers;
        }
        mdb_txn_abort(txn);
        /* Per shard, the RERANK / SHARDS + 1 best cheap scores (ties:
         * the lower CURP). */
        compared = 0;
        for (i = 0; i < nwant; i++) {
            shard = sigblock_lane(want[i].curp, strlen(want[i].curp))
                % SHARDS;
            rank = 0;
            for (j = 0; j < nwant; j++) {
                if (j != i && sigblock_lane(want[j].curp,
                        strlen(want[j].curp)) % SHARDS == shard
                    && (lite[j] > lite[i] || (lite[j] == lite[i]
                        && strcmp(want[j].curp, want[i].curp) < 0)))
                {
                    rank++;
                }
            }
            chosen[i] = rank < RERANK / SHARDS + 1;
            compared += chosen[i] ? (uint64_t) fingers[i] : 0;
        }
        for (i = 0, nkept = 0; i < nwant; i++) {
            if (chosen[i]) {
                kept[nkept++] = want[i];     /* still best first */
            }
        }
        ck_assert_uint_eq(nkept, SHARDS * (RERANK / SHARDS + 1));
        ck_assert_uint_eq(o.r.compared, compared);
        assert_hits_match(&o, kept, nkept, 10, 1);

        /* And rank 1 as the exhaustive search's. */
        spec.exhaustive = 1;
        outcome_init(&ex);
        ck_assert_int_eq(run(&spec, &ex), 0);
        total++;
        agree += ex.r.n > 0 && o.r.n > 0
            && strcmp(ex.hits[0].curp, o.hits[0].curp) == 0;
        probes_free(&ps);
    }
    fprintf(stderr, "rerank stage: rank-1 agrees on %d of %d\n", agree,
        total);
    ck_assert_msg(agree >= total - 1, "rank-1 agrees on %d of %d", agree,
        total);
    pool_down();
}
END_TEST

/* A passed deadline is reported, not searched; a bad spec never starts. */
START_TEST(test_deadline_and_bad_spec)
{
    struct probe_set     ps = { .n = 0 };
    struct search_spec   spec;
    struct outcome       o;
    struct hd_request   *rq = calloc(1, sizeof(*rq));
    struct search_probe  many[SEARCH_PROBES_MAX + 1];
    unsigned             i;

    ck_assert_ptr_nonnull(rq);
    rq->deadline_ns = 1;                /* long past */
    pool_up();
    probe_add(&ps, 5, 2, 0);
    memset(&spec, 0, sizeof(spec));
    spec.probes = ps.p;
    spec.nprobes = 1;
    spec.k = 5;
    spec.deadline = rq;
    outcome_init(&o);
    ck_assert_int_eq(run(&spec, &o), 0);
    ck_assert_int_eq(o.r.expired, 1);
    ck_assert_uint_eq(o.r.n, 0);
    ck_assert_uint_eq(o.r.compared, 0);

    /* k == 0: searched, no hits. */
    spec.deadline = NULL;
    spec.k = 0;
    outcome_init(&o);
    ck_assert_int_eq(run(&spec, &o), 0);
    ck_assert_int_eq(o.r.expired, 0);
    ck_assert_uint_eq(o.r.n, 0);
    ck_assert_uint_eq(o.r.searched, 2 * REAL_N + SYNTH_N);

    spec.k = 5;
    for (i = 0; i <= SEARCH_PROBES_MAX; i++) {
        many[i] = ps.p[0];
    }
    spec.probes = many;
    spec.nprobes = SEARCH_PROBES_MAX + 1;
    outcome_init(&o);
    ck_assert_int_eq(run(&spec, &o), -1);
    spec.nprobes = 0;
    ck_assert_int_eq(run(&spec, &o), -1);
    spec.nprobes = 1;
    many[0].position = 11;
    ck_assert_int_eq(run(&spec, &o), -1);
    many[0].position = 0;
    many[0].probe = NULL;
    ck_assert_int_eq(run(&spec, &o), -1);
    ck_assert_int_eq(o.calls, 0);

    /* Ten probes at once (the maximum) run. */
    for (i = 0; i < SEARCH_PROBES_MAX; i++) {
        many[i] = ps.p[0];
        many[i].position = i % 2 + 1;
    }
    spec.nprobes = SEARCH_PROBES_MAX;
    spec.probes = many;
    outcome_init(&o);
    ck_assert_int_eq(run(&spec, &o), 0);
    ck_assert_uint_eq(o.r.compared,
        (uint64_t) 5 * (REAL_N + SYNTH_N) + 5 * REAL_N);
    probes_free(&ps);
    pool_down();
    free(rq);
}
END_TEST

static void
remove_gallery(void)
{
    char  path[128];

    snprintf(path, sizeof(path), "%s/data.mdb", data_dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/lock.mdb", data_dir);
    unlink(path);
    if (rmdir(data_dir) != 0) {
        fprintf(stderr, "test_search: %s left behind\n", data_dir);
    }
}

int
main(void)
{
    Suite    *s = suite_create("search");
    TCase    *tc = tcase_create("core");
    SRunner  *sr;
    int       failed;

    /* Unchecked: runs once, in the parent, before the tests fork. */
    tcase_add_unchecked_fixture(tc, build_gallery, remove_gallery);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_fuse_scores);
    tcase_add_test(tc, test_fuse_scores_keeps_fmr);
    tcase_add_test(tc, test_single_probe_exhaustive);
    tcase_add_test(tc, test_two_probes_positions);
    tcase_add_test(tc, test_skip);
    tcase_add_test(tc, test_prefiltered_agrees);
    tcase_add_test(tc, test_rerank_stage);
    tcase_add_test(tc, test_deadline_and_bad_spec);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
