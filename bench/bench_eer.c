/*
 * bench_eer.c -- matcher accuracy in one process, in both directions.
 *
 * Owns: scoring every pair within each FVC folder of ../shared/data with
 * hm_compare() both ways (probe A against candidate B, and B against A)
 * and printing, per set and as a mean over the four, the EER, FNMR at FMR
 * 1% and 0.1% for four ways of turning the two directions into one score:
 *
 *   fwd   the earlier file of the pair as probe (what tools/eer.sh feeds
 *         ../shared/tools/eer.py);
 *   rev   the later file as probe;
 *   max   the larger of both (what eer.py keeps when given both);
 *   avg   their mean.
 *
 * The metrics follow eer.py exactly (EER at the threshold where |FNMR -
 * FMR| is smallest; FNMR at the smallest threshold whose FMR is at most
 * the target), so fwd equals tools/eer.sh to the last digit.  Where eer.sh
 * starts one huellactl per probe and takes half a minute, this takes well
 * under a second: it is the loop to iterate on a matcher change with, and
 * the way to see how much a score depends on which print is the probe.
 *
 *   build/bench/bench_eer                 (HUELLA_SHARED as in tests)
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match.h"

#define SETS         4
#define FINGERS      10
#define IMPRESSIONS  8
#define PER_SET      (FINGERS * IMPRESSIONS)
#define GENUINE      (FINGERS * IMPRESSIONS * (IMPRESSIONS - 1) / 2)
#define IMPOSTOR     (PER_SET * (PER_SET - 1) / 2 - GENUINE)
#define WAYS         4

static const char  *set_names[SETS] = { "fvc2002/DB1_B", "fvc2002/DB2_B",
    "fvc2004/DB1_B", "fvc2004/DB2_B" };
static const char  *way_names[WAYS] = { "fwd", "rev", "max", "avg" };

struct rates {
    double  eer, fnmr_1, fnmr_01;
};

static uint8_t  *stored[PER_SET];
static size_t    stored_len[PER_SET];
static double    score[PER_SET][PER_SET];   /* [probe][candidate] */

static int
by_value(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}

/* Entries of the sorted v below t. */
static size_t
count_below(const double *v, size_t n, double t)
{
    size_t  lo = 0, hi = n;

    while (lo < hi) {
        size_t  mid = lo + (hi - lo) / 2;

        if (v[mid] < t) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static void
rates_of(double *gen, size_t ng, double *imp, size_t ni, struct rates *r)
{
    double  thresholds[GENUINE + IMPOSTOR + 1], best = 2.0;
    size_t  n = 0, i;

    qsort(gen, ng, sizeof(double), by_value);
    qsort(imp, ni, sizeof(double), by_value);
    memcpy(thresholds, gen, ng * sizeof(double));
    memcpy(thresholds + ng, imp, ni * sizeof(double));
    n = ng + ni;
    qsort(thresholds, n, sizeof(double), by_value);
    thresholds[n++] = INFINITY;      /* rejects everything */
    r->eer = 0.0;
    r->fnmr_1 = r->fnmr_01 = -1.0;
    for (i = 0; i < n; i++) {
        double  t = thresholds[i];
        double  fnmr = (double) count_below(gen, ng, t) / (double) ng;
        double  fmr = (double) (ni - count_below(imp, ni, t)) / (double) ni;

        if (fabs(fnmr - fmr) < best) {
            best = fabs(fnmr - fmr);
            r->eer = (fnmr + fmr) / 2.0;
        }
        if (r->fnmr_1 < 0.0 && fmr <= 1e-2) {
            r->fnmr_1 = fnmr;
        }
        if (r->fnmr_01 < 0.0 && fmr <= 1e-3) {
            r->fnmr_01 = fnmr;
        }
    }
}

static int
load_set(const char *shared, int set)
{
    int  f, i, k = 0;

    for (f = 0; f < FINGERS; f++) {
        for (i = 0; i < IMPRESSIONS; i++, k++) {
            struct hm_fingerprint  fp;
            char                   path[1024], err[256];
            uint8_t                buf[65536];
            size_t                 len;
            long                   n;
            FILE                  *file;

            snprintf(path, sizeof(path), "%s/data/%s/%d_%d.iso", shared,
                set_names[set], 101 + f, i + 1);
            file = fopen(path, "rb");
            if (file == NULL) {
                fprintf(stderr, "bench_eer: cannot open %s\n", path);
                return -1;
            }
            len = fread(buf, 1, sizeof(buf), file);
            fclose(file);
            if (hm_parse(1, buf, len, &fp, err, sizeof(err)) != 0) {
                fprintf(stderr, "bench_eer: %s: %s\n", path, err);
                return -1;
            }
            n = hm_encode(&fp, stored[k], HM_STORED_MAX, err, sizeof(err));
            if (n < 0) {
                fprintf(stderr, "bench_eer: %s: %s\n", path, err);
                return -1;
            }
            stored_len[k] = (size_t) n;
        }
    }
    return 0;
}

int
main(void)
{
    const char         *shared = getenv("HUELLA_SHARED");
    static double       gen[WAYS][GENUINE], imp[WAYS][IMPOSTOR];
    struct hm_scratch  *scratch;
    struct rates        r, sum[WAYS];
    int                 s, a, b, w;

    if (shared == NULL || shared[0] == '\0') {
        shared = "../shared";
    }
    for (a = 0; a < PER_SET; a++) {
        stored[a] = malloc(HM_STORED_MAX);
        if (stored[a] == NULL) {
            return 1;
        }
    }
    scratch = hm_scratch_new();
    if (scratch == NULL) {
        return 1;
    }
    memset(sum, 0, sizeof(sum));
    printf("%-14s", "set");
    for (w = 0; w < WAYS; w++) {
        printf("  %-21s", way_names[w]);
    }
    printf("\n%-14s", "");
    for (w = 0; w < WAYS; w++) {
        printf("  %-21s", "EER (FNMR@1% @0.1%)");
    }
    printf("\n");
    for (s = 0; s < SETS; s++) {
        size_t  ng = 0, ni = 0;

        if (load_set(shared, s) != 0) {
            return 1;
        }
        for (a = 0; a < PER_SET; a++) {
            struct hm_probe  *probe = hm_probe_new(stored[a], stored_len[a]);

            if (probe == NULL) {
                fprintf(stderr, "bench_eer: cannot prepare a probe\n");
                return 1;
            }
            for (b = 0; b < PER_SET; b++) {
                score[a][b] = b == a ? 0.0
                    : hm_compare(probe, stored[b], stored_len[b], scratch);
            }
            hm_probe_free(probe);
        }
        for (a = 0; a < PER_SET; a++) {
            for (b = a + 1; b < PER_SET; b++) {
                double  fwd = score[a][b], rev = score[b][a];
                double  way[WAYS] = { fwd, rev, fwd > rev ? fwd : rev,
                    (fwd + rev) / 2.0 };
                int     genuine = a / IMPRESSIONS == b / IMPRESSIONS;

                for (w = 0; w < WAYS; w++) {
                    if (genuine) {
                        gen[w][ng] = way[w];
                    } else {
                        imp[w][ni] = way[w];
                    }
                }
                ng += genuine;
                ni += !genuine;
            }
        }
        printf("%-14s", set_names[s]);
        for (w = 0; w < WAYS; w++) {
            rates_of(gen[w], ng, imp[w], ni, &r);
            sum[w].eer += r.eer / SETS;
            printf("  %5.2f (%5.2f %5.2f)  ", 100 * r.eer, 100 * r.fnmr_1,
                100 * r.fnmr_01);
        }
        printf("\n");
    }
    printf("%-14s", "mean EER");
    for (w = 0; w < WAYS; w++) {
        printf("  %5.2f                ", 100 * sum[w].eer);
    }
    printf("\n");
    hm_scratch_free(scratch);
    for (a = 0; a < PER_SET; a++) {
        free(stored[a]);
    }
    return 0;
}
