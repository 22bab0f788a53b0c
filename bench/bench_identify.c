/*
 * bench_identify.c -- 1:N identification: exhaustive hm_compare vs the
 * pre-filter (hm_sig_topk, then the re-rank of the K best), rank-1
 * accuracy and time per search on 2 threads, in one run.  The re-rank is
 * timed both ways on the same candidates: one stage (hm_compare of all K)
 * and two stages, as huellad's search.c does (hm_sigquery_rerank_score,
 * the cheap MCC local similarity sort, on all K, then hm_compare of its
 * M = hm_sig_default_rerank(K) best).
 *
 * Owns: the identification protocol.  Gallery: impression 1 of every finger
 * of the four real sets ($HUELLA_SHARED/data, default ../shared: 40 fingers)
 * plus N synthetic distractors (`huellactl synth`, matcher/synth.c; read
 * from $HUELLA_SYNTH_DIR, generated there through ctl_synth() when missing,
 * default /tmp/huella-synth-NMAX).  Probes: impressions 2..8 of every real
 * finger (280).  Rank-1 correct = the mate scores above every other gallery
 * entry.  Gallery sizes are prefixes of the largest one, so one exhaustive
 * pass over the largest gallery gives every size's accuracy; exhaustive
 * times for the smaller sizes are measured separately.
 *
 *   bench_identify [N ...]          default 10000 100000 1000000
 *   HUELLA_BENCH_K="a,b,c"          extra K values: accuracy only (M of
 *                                   each: hm_sig_default_rerank(K))
 *   HUELLA_BENCH_EXHAUSTIVE=0       skip the exhaustive pass: rank-1 of
 *                                   both re-ranks per K only, the
 *                                   two-stage one compared with the
 *                                   largest K's one-stage (probe by probe)
 *
 * The 1M exhaustive pass is 280M comparisons: about 20 minutes on 2 cores.
 */

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ctl.h"
#include "match.h"
#include "prefilter.h"

#define THREADS   2
#define NREAL     40          /* gallery fingers: 4 sets x 10 */
#define NPROBES   280         /* 4 x 10 x impressions 2..8 */
#define MAX_SIZES 8
#define MAX_KS    8

static const char *sets[] = { "fvc2002/DB1_B", "fvc2002/DB2_B",
    "fvc2004/DB1_B", "fvc2004/DB2_B" };

struct tmpl {
    uint8_t  *bytes;
    size_t    len;
};

static struct tmpl   probes[NPROBES];
static int           probe_mate[NPROBES];
static char          probe_name[NPROBES][64];
static unsigned char exh_probe_ok[NPROBES][MAX_SIZES];
static struct tmpl  *gallery;
static size_t        gallery_n;       /* NREAL + largest N */
static uint8_t      *sigs;            /* gallery_n x HM_SIG_BYTES */

static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int
load_template(const char *path, struct tmpl *t)
{
    static __thread uint8_t  buf[65536], out[HM_STORED_MAX];
    struct hm_fingerprint    fp;
    char                     err[256];
    FILE                    *f = fopen(path, "rb");
    size_t                   n;
    long                     len;

    if (f == NULL) {
        return -1;
    }
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    if (hm_parse(1, buf, n, &fp, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", path, err);
        return -1;
    }
    len = hm_encode(&fp, out, sizeof(out), err, sizeof(err));
    if (len <= 0) {
        fprintf(stderr, "%s: %s\n", path, err);
        return -1;
    }
    t->bytes = malloc((size_t) len);
    if (t->bytes == NULL) {
        return -1;
    }
    memcpy(t->bytes, out, (size_t) len);
    t->len = (size_t) len;
    return 0;
}

struct load_job {
    const char  *dir;
    size_t       first, count;
    int          index, failed;
};

static void *
load_synth_run(void *arg)
{
    struct load_job  *j = arg;
    char              path[4096];
    size_t            i;

    for (i = (size_t) j->index; i < j->count; i += THREADS) {
        snprintf(path, sizeof(path), "%s/synth_%07zu.iso", j->dir, i);
        if (load_template(path, &gallery[j->first + i]) != 0) {
            fprintf(stderr, "cannot load %s\n", path);
            j->failed = 1;
            return NULL;
        }
        if (hm_signature_from_stored(gallery[j->first + i].bytes,
                gallery[j->first + i].len,
                sigs + (j->first + i) * HM_SIG_BYTES) != 0)
        {
            j->failed = 1;
            return NULL;
        }
    }
    return NULL;
}

/* ---- exhaustive ---- */

struct exh_job {
    const struct hm_probe  *probe;
    size_t                  from, to;     /* gallery range */
    int                     mate;
    const size_t           *bounds;       /* gallery sizes, ascending */
    int                     nsizes;
    double                  best[MAX_SIZES];  /* best impostor per size */
    double                  mate_score;
};

static void *
exh_run(void *arg)
{
    struct exh_job     *j = arg;
    struct hm_scratch  *s = hm_scratch_new();
    size_t              g;
    int                 b;

    for (b = 0; b < j->nsizes; b++) {
        j->best[b] = -1.0;
    }
    j->mate_score = -1.0;
    for (g = j->from; g < j->to; g++) {
        double  sc = hm_compare(j->probe, gallery[g].bytes, gallery[g].len, s);

        if ((int) g == j->mate) {
            j->mate_score = sc;
            continue;
        }
        for (b = j->nsizes - 1; b >= 0 && g < j->bounds[b]; b--) {
            if (sc > j->best[b]) {
                j->best[b] = sc;
            }
        }
    }
    hm_scratch_free(s);
    return NULL;
}

/* Exhaustive search of probe p over the first sizes[]: correct[b] set per
 * size; returns the wall time. */
static double
exhaustive(int p, const size_t *sizes, int nsizes, int *correct)
{
    struct exh_job   jobs[THREADS];
    pthread_t        th[THREADS];
    struct hm_probe *probe = hm_probe_new(probes[p].bytes, probes[p].len);
    size_t           total = sizes[nsizes - 1];
    double           t0 = now(), mate = -1.0, best;
    int              i, b;

    for (i = 0; i < THREADS; i++) {
        jobs[i].probe = probe;
        jobs[i].from = total * (size_t) i / THREADS;
        jobs[i].to = total * (size_t) (i + 1) / THREADS;
        jobs[i].mate = probe_mate[p];
        jobs[i].bounds = sizes;
        jobs[i].nsizes = nsizes;
        pthread_create(&th[i], NULL, exh_run, &jobs[i]);
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
    }
    t0 = now() - t0;
    for (i = 0; i < THREADS; i++) {
        mate = jobs[i].mate_score > mate ? jobs[i].mate_score : mate;
    }
    for (b = 0; b < nsizes; b++) {
        best = -1.0;
        for (i = 0; i < THREADS; i++) {
            best = jobs[i].best[b] > best ? jobs[i].best[b] : best;
        }
        correct[b] = mate > best;
    }
    hm_probe_free(probe);
    return t0;
}

/* ---- pre-filter ---- */

struct pf_job {
    const struct hm_sigquery  *q;
    const struct hm_probe     *probe;
    size_t                     from, to, k;
    uint32_t                  *idx, *score;
    size_t                     n;
    /* re-rank part: cand[cfrom..cto) scored into out[] */
    const uint32_t            *cand;
    size_t                     cfrom, cto;
    double                    *out;
};

static void *
pf_scan_run(void *arg)
{
    struct pf_job  *j = arg;

    j->n = hm_sig_topk(j->q, sigs + j->from * HM_SIG_BYTES, j->to - j->from,
        HM_SIG_BYTES, j->k, j->idx, j->score);
    for (size_t i = 0; i < j->n; i++) {
        j->idx[i] += (uint32_t) j->from;
    }
    return NULL;
}

static void *
pf_full_run(void *arg)
{
    struct pf_job      *j = arg;
    struct hm_scratch  *s = hm_scratch_new();
    size_t              i;

    for (i = j->cfrom; i < j->cto; i++) {
        const struct tmpl  *t = &gallery[j->cand[i]];

        j->out[i] = hm_compare(j->probe, t->bytes, t->len, s);
    }
    hm_scratch_free(s);
    return NULL;
}

static void *
pf_lite_run(void *arg)
{
    struct pf_job  *j = arg;
    size_t          i;

    for (i = j->cfrom; i < j->cto; i++) {
        const struct tmpl  *t = &gallery[j->cand[i]];

        j->out[i] = hm_sigquery_rerank_score(j->q, t->bytes, t->len);
    }
    return NULL;
}

/* Scores cand[0..n) with fn on THREADS threads into out[]. */
static void
pf_parallel(void *(*fn)(void *), const struct hm_sigquery *q,
    const struct hm_probe *probe, const uint32_t *cand, size_t n,
    double *out)
{
    struct pf_job  jobs[THREADS];
    pthread_t      th[THREADS];
    int            t;

    for (t = 0; t < THREADS; t++) {
        jobs[t].q = q;
        jobs[t].probe = probe;
        jobs[t].cand = cand;
        jobs[t].cfrom = n * (size_t) t / THREADS;
        jobs[t].cto = n * (size_t) (t + 1) / THREADS;
        jobs[t].out = out;
        pthread_create(&th[t], NULL, fn, &jobs[t]);
    }
    for (t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
    }
}

static const double  *lite_key;

/* Candidate positions by cheap score, best first (ties: earlier). */
static int
by_lite(const void *a, const void *b)
{
    uint32_t  x = *(const uint32_t *) a, y = *(const uint32_t *) b;

    return lite_key[x] > lite_key[y] ? -1 : lite_key[x] < lite_key[y] ? 1
        : (x > y) - (x < y);
}

struct pf_result {
    double  t_scan, t_one, t_two; /* scan; + hm_compare of all K; + cheap
                                   * stage and hm_compare of its M best */
    int     one[MAX_KS], two[MAX_KS];  /* rank-1 per K prefix */
};

/* Pre-filtered search of probe p over the first size entries keeping kmax
 * candidates; then both re-ranks, timed apart on the same candidates: one
 * stage (hm_compare() of all K) and two stages (hm_sigquery_rerank_score()
 * of all K, hm_compare() of its hm_sig_default_rerank(K) best).  Rank-1
 * of both for every prefix ks[] of the candidate list. */
static void
prefiltered(int p, size_t size, const size_t *ks, int nks, size_t kmax,
    struct pf_result *r)
{
    struct pf_job        jobs[THREADS];
    pthread_t            th[THREADS];
    double               t0 = now(), t1, best;
    struct hm_sigquery  *q;
    struct hm_probe     *probe;
    uint32_t            *idx = malloc(2 * THREADS * kmax * sizeof(uint32_t));
    uint32_t            *merged = malloc(2 * kmax * sizeof(uint32_t));
    uint32_t            *order = malloc(kmax * sizeof(uint32_t));
    uint32_t            *picked = malloc(kmax * sizeof(uint32_t));
    double              *full = malloc(kmax * sizeof(double));
    double              *lite = malloc(kmax * sizeof(double));
    double              *full_m = malloc(kmax * sizeof(double));
    size_t               n, i, c, m, mate_at;
    int                  t, b;

    q = hm_sigquery_new(probes[p].bytes, probes[p].len);
    probe = hm_probe_new(probes[p].bytes, probes[p].len);
    for (t = 0; t < THREADS; t++) {
        jobs[t].q = q;
        jobs[t].probe = probe;
        jobs[t].from = size * (size_t) t / THREADS;
        jobs[t].to = size * (size_t) (t + 1) / THREADS;
        jobs[t].k = kmax;
        jobs[t].idx = idx + 2 * (size_t) t * kmax;
        jobs[t].score = jobs[t].idx + kmax;
        pthread_create(&th[t], NULL, pf_scan_run, &jobs[t]);
    }
    for (t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
    }
    /* THREADS == 2: one merge. */
    n = hm_sig_merge(jobs[0].idx, jobs[0].score, jobs[0].n, jobs[1].idx,
        jobs[1].score, jobs[1].n, kmax, merged, merged + kmax);
    r->t_scan = now() - t0;

    /* One stage: hm_compare() of every candidate. */
    t1 = now();
    pf_parallel(pf_full_run, q, probe, merged, n, full);
    r->t_one = r->t_scan + (now() - t1);

    /* Two stages, on the default K (ks[0]) when it is the only one. */
    t1 = now();
    pf_parallel(pf_lite_run, q, probe, merged, n, lite);
    for (i = 0; i < n; i++) {
        order[i] = (uint32_t) i;
    }
    lite_key = lite;
    qsort(order, n, sizeof(*order), by_lite);
    m = hm_sig_default_rerank(ks[0]);
    m = m < n ? m : n;
    for (i = 0; i < m; i++) {
        picked[i] = merged[order[i]];
    }
    pf_parallel(pf_full_run, q, probe, picked, m, full_m);
    r->t_two = r->t_scan + (now() - t1);

    mate_at = n;
    for (i = 0; i < n; i++) {
        if ((int) merged[i] == probe_mate[p]) {
            mate_at = i;
        }
    }
    for (b = 0; b < nks; b++) {
        c = ks[b] < n ? ks[b] : n;
        /* One stage: the mate in the first c, above every other. */
        best = -1.0;
        for (i = 0; i < c; i++) {
            if (i != mate_at && full[i] > best) {
                best = full[i];
            }
        }
        r->one[b] = mate_at < c && full[mate_at] > best;
        /* Two stages: the cheap stage's M best of the first c. */
        m = hm_sig_default_rerank(ks[b]);
        best = -1.0;
        r->two[b] = 0;
        for (i = 0, t = 0; i < n && (size_t) t < m; i++) {
            if (order[i] >= c) {
                continue;
            }
            t++;
            if (order[i] == mate_at) {
                r->two[b] = 1;
            } else if (full[order[i]] > best) {
                best = full[order[i]];
            }
        }
        r->two[b] = r->two[b] && mate_at < c && full[mate_at] > best;
    }
    hm_sigquery_free(q);
    hm_probe_free(probe);
    free(idx);
    free(merged);
    free(order);
    free(picked);
    free(full);
    free(lite);
    free(full_m);
}

/* Per size: a timed run at the default K, then (extra K values) one
 * untimed run at the largest K whose prefixes give every K's rank-1. */
struct size_figures {
    size_t  ks[MAX_KS];
    int     nks, top;             /* top: the largest K */
    int     one[MAX_KS], two[MAX_KS], lost[MAX_KS], gained[MAX_KS];
    double  t_scan, t_one, t_two;
};

static void
run_size(size_t size, const size_t *extra_k, int nextra,
    const unsigned char *exh_ok, struct size_figures *f)
{
    struct pf_result  r;
    size_t            kmax;
    int               i, p;

    memset(f, 0, sizeof(*f));
    f->ks[f->nks++] = hm_sig_default_k(size);
    for (i = 0; i < nextra; i++) {
        f->ks[f->nks++] = extra_k[i];
    }
    kmax = f->ks[0];
    for (i = 1; i < f->nks; i++) {
        if (f->ks[i] > kmax) {
            kmax = f->ks[i];
            f->top = i;
        }
    }
    for (p = 0; p < NPROBES; p++) {
        prefiltered(p, size, f->ks, 1, f->ks[0], &r);
        f->t_scan += r.t_scan;
        f->t_one += r.t_one;
        f->t_two += r.t_two;
        f->one[0] += r.one[0];
        f->two[0] += r.two[0];
        if (exh_ok != NULL && r.two[0] != exh_ok[p * MAX_SIZES]) {
            fprintf(stderr, "N=%zu %s: exhaustive %s, two-stage %s\n",
                size - NREAL, probe_name[p], exh_ok[p * MAX_SIZES]
                ? "right" : "wrong", r.two[0] ? "right" : "wrong");
        }
        if (f->nks > 1) {
            prefiltered(p, size, f->ks, f->nks, kmax, &r);
            for (i = 1; i < f->nks; i++) {
                f->one[i] += r.one[i];
                f->two[i] += r.two[i];
            }
            for (i = 0; i < f->nks; i++) {
                f->lost[i] += r.one[f->top] && !r.two[i];
                f->gained[i] += !r.one[f->top] && r.two[i];
            }
        }
    }
}

/* Without the exhaustive pass: rank-1 of both re-ranks per K, the
 * two-stage one compared probe by probe with the largest K's one-stage. */
static void
no_exhaustive(const size_t *sizes, const size_t *bounds, int nsizes,
    const size_t *extra_k, int nextra)
{
    struct size_figures  f;
    int                  b, i;

    printf("1:N pre-filter only, %d real probes (impressions 2-8) vs "
        "%d real mates + N synthetic, %d threads; one stage = hm_compare "
        "of K, two = cheap stage on K, hm_compare of M\n", NPROBES, NREAL,
        THREADS);
    printf("%9s %7s %6s | %9s %9s %5s %6s | %9s %9s %9s %7s\n", "N", "K",
        "M", "one rk1", "two rk1", "lost", "gained", "one ms", "two ms",
        "(scan ms)", "two/one");
    for (b = 0; b < nsizes; b++) {
        run_size(bounds[b], extra_k, nextra, NULL, &f);
        for (i = 0; i < f.nks; i++) {
            printf("%9zu %7zu %6zu | %8.2f%% %8.2f%% %5d %6d |", sizes[b],
                f.ks[i], hm_sig_default_rerank(f.ks[i]),
                100.0 * f.one[i] / NPROBES, 100.0 * f.two[i] / NPROBES,
                f.lost[i], f.gained[i]);
            if (i == 0) {
                printf(" %9.1f %9.1f %9.1f %7.3f", f.t_one / NPROBES * 1e3,
                    f.t_two / NPROBES * 1e3, f.t_scan / NPROBES * 1e3,
                    f.t_two / f.t_one);
            }
            printf("%s\n", f.nks > 1 && i == f.top
                ? "  (largest K: reference)" : "");
        }
        fflush(stdout);
    }
}

static int
cmp_size(const void *a, const void *b)
{
    size_t  x = *(const size_t *) a, y = *(const size_t *) b;

    return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
    const char       *root = getenv("HUELLA_SHARED");
    const char       *synth_dir = getenv("HUELLA_SYNTH_DIR");
    const char       *kenv = getenv("HUELLA_BENCH_K");
    const char       *exh_env = getenv("HUELLA_BENCH_EXHAUSTIVE");
    int               do_exh = exh_env == NULL || strcmp(exh_env, "0") != 0;
    size_t            sizes[MAX_SIZES], bounds[MAX_SIZES], nmax;
    size_t            extra_k[MAX_KS];
    int               nsizes = 0, nextra = 0, i, p, b;
    int               exh_ok[MAX_SIZES] = { 0 };
    double            exh_time[MAX_SIZES] = { 0 };
    char              path[4096], dirbuf[256], nbuf[32];
    struct stat       st;
    struct load_job   lj[THREADS];
    pthread_t         th[THREADS];
    double            t0;

    for (i = 1; i < argc && nsizes < MAX_SIZES; i++) {
        sizes[nsizes++] = strtoull(argv[i], NULL, 10);
    }
    if (nsizes == 0) {
        sizes[0] = 10000;
        sizes[1] = 100000;
        sizes[2] = 1000000;
        nsizes = 3;
    }
    qsort(sizes, (size_t) nsizes, sizeof(sizes[0]), cmp_size);
    while (kenv && *kenv && nextra < MAX_KS - 1) {
        extra_k[nextra++] = strtoull(kenv, (char **) &kenv, 10);
        kenv += *kenv == ',';
    }
    nmax = sizes[nsizes - 1];
    if (root == NULL || root[0] == '\0') {
        root = "../shared";
    }
    if (synth_dir == NULL || synth_dir[0] == '\0') {
        snprintf(dirbuf, sizeof(dirbuf), "/tmp/huella-synth-%zu", nmax);
        synth_dir = dirbuf;
    }
    snprintf(path, sizeof(path), "%s/synth_%07zu.iso", synth_dir, nmax - 1);
    if (stat(path, &st) != 0) {
        char  *av[] = { "synth", nbuf, (char *) synth_dir, NULL };

        snprintf(nbuf, sizeof(nbuf), "%zu", nmax);
        fprintf(stderr, "generating %zu synthetic templates in %s\n", nmax,
            synth_dir);
        setenv("HUELLA_SHARED", root, 1);
        if (ctl_synth(3, av) != 0) {
            return 1;
        }
    }

    gallery_n = NREAL + nmax;
    gallery = calloc(gallery_n, sizeof(*gallery));
    sigs = aligned_alloc(64, gallery_n * HM_SIG_BYTES);
    if (gallery == NULL || sigs == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    t0 = now();
    for (int s = 0, np = 0; s < 4; s++) {
        for (int f = 0; f < 10; f++) {
            for (int imp = 1; imp <= 8; imp++) {
                struct tmpl  t;

                snprintf(path, sizeof(path), "%s/data/%s/%d_%d.iso", root,
                    sets[s], 101 + f, imp);
                if (load_template(path, &t) != 0) {
                    fprintf(stderr, "cannot load %s (set HUELLA_SHARED)\n",
                        path);
                    return 1;
                }
                if (imp == 1) {
                    gallery[s * 10 + f] = t;
                    hm_signature_from_stored(t.bytes, t.len,
                        sigs + (size_t) (s * 10 + f) * HM_SIG_BYTES);
                } else {
                    probe_mate[np] = s * 10 + f;
                    snprintf(probe_name[np], sizeof(probe_name[np]),
                        "%s/%d_%d", sets[s], 101 + f, imp);
                    probes[np++] = t;
                }
            }
        }
    }
    for (i = 0; i < THREADS; i++) {
        lj[i] = (struct load_job) { synth_dir, NREAL, nmax, i, 0 };
        pthread_create(&th[i], NULL, load_synth_run, &lj[i]);
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        if (lj[i].failed) {
            return 1;
        }
    }
    fprintf(stderr, "loaded %zu gallery templates + %d probes in %.1f s "
        "(signature %u bytes)\n", gallery_n, NPROBES, now() - t0,
        HM_SIG_BYTES);

    /* Exhaustive accuracy for every size in one pass over the largest. */
    for (b = 0; b < nsizes; b++) {
        bounds[b] = NREAL + sizes[b];
    }
    t0 = now();
    for (p = 0; do_exh && p < NPROBES; p++) {
        int  ok[MAX_SIZES];

        exh_time[nsizes - 1] += exhaustive(p, bounds, nsizes, ok);
        for (b = 0; b < nsizes; b++) {
            exh_ok[b] += ok[b];
            exh_probe_ok[p][b] = (unsigned char) ok[b];
        }
        if ((p + 1) % 40 == 0) {
            fprintf(stderr, "exhaustive %d/%d probes, %.0f s\n", p + 1,
                NPROBES, now() - t0);
        }
    }
    /* Exhaustive time at the smaller sizes, measured on their own. */
    for (b = 0; do_exh && b < nsizes - 1; b++) {
        for (p = 0; p < NPROBES; p++) {
            int  ok[1];

            exh_time[b] += exhaustive(p, &bounds[b], 1, ok);
        }
    }

    if (!do_exh) {
        no_exhaustive(sizes, bounds, nsizes, extra_k, nextra);
        return 0;
    }
    printf("1:N identification, %d real probes (impressions 2-8) vs "
        "%d real mates + N synthetic, %d threads; one stage = hm_compare "
        "of K, two = cheap stage on K, hm_compare of M\n", NPROBES, NREAL,
        THREADS);
    printf("%9s %7s %6s | %9s %9s %6s %9s %6s | %9s %9s %9s %9s %7s\n",
        "N", "K", "M", "exh rk1", "one rk1", "diff", "two rk1", "diff",
        "exh ms", "one ms", "two ms", "(scan ms)", "two/one");
    for (b = 0; b < nsizes; b++) {
        struct size_figures  f;

        run_size(bounds[b], extra_k, nextra, &exh_probe_ok[0][b], &f);
        for (i = 0; i < f.nks; i++) {
            printf("%9zu %7zu %6zu | ", sizes[b], f.ks[i],
                hm_sig_default_rerank(f.ks[i]));
            if (i == 0) {
                printf("%8.2f%% ", 100.0 * exh_ok[b] / NPROBES);
            } else {
                printf("%9s ", "");
            }
            printf("%8.2f%% %+6.2f %8.2f%% %+6.2f |",
                100.0 * f.one[i] / NPROBES,
                100.0 * (f.one[i] - exh_ok[b]) / NPROBES,
                100.0 * f.two[i] / NPROBES,
                100.0 * (f.two[i] - exh_ok[b]) / NPROBES);
            if (i == 0) {
                printf(" %9.1f %9.1f %9.1f %9.1f %7.3f",
                    exh_time[b] / NPROBES * 1e3, f.t_one / NPROBES * 1e3,
                    f.t_two / NPROBES * 1e3, f.t_scan / NPROBES * 1e3,
                    f.t_two / f.t_one);
            }
            printf("\n");
        }
        fflush(stdout);
    }
    return 0;
}
