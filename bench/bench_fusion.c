/*
 * bench_fusion.c -- accuracy of two-finger fusion (multi_finger.h) against
 * single fingers, on the FVC sets, in one run.
 *
 * Owns: the scores behind docs/api.md "Multi-finger fusion" figures.  Per
 * set, every template is compared with every other one (hm_compare() in
 * both directions, the larger kept, as eer.py does).  Single finger: every
 * unordered pair within a set (eer.py protocol).  Two fingers: chimeric
 * identities, since FVC has one finger per identity: the 10 fingers of a
 * set are paired into 5 "persons" (a, b) in each of the 9 rounds of a
 * round-robin schedule, so every pair of fingers is a person exactly once
 * (45 persons a set); a person's sample k is (a_k, b_k), impression k of
 * both fingers (as if captured in one sitting).  Within a round, every
 * unordered pair of samples is compared: same person = genuine (28 a
 * person, 1260 a set), other person = impostor (fingers disjoint; 640 a
 * round, 5760 a set).  Persons of different rounds share fingers and are
 * never compared.  The fused score is the API's, mf_fused_score() of
 * s(a_i,c_j) and s(b_i,d_j) (positions given: a with c, b with d); the
 * bare product of the two FMRs is shown next to it as the baseline.
 *
 *   build/bench/bench_fusion OUTDIR [FMR]
 *
 * writes OUTDIR/single.txt, OUTDIR/fused.txt and OUTDIR/product.txt
 * ("PROBE CANDIDATE SCORE" lines for $HUELLA_SHARED/tools/eer.py; a
 * person is named as the finger "ab", e.g. 101102_3) and prints, at the
 * threshold calibrated for FMR (default 1e-4), FNMR and the impostors
 * accepted for each.  Last, the real single-finger impostor scores are
 * resampled into 2M independent n-finger impostors (n = 2, 3, 5, 10) to
 * show the rate accepted at FMR 1e-2 and 1e-3 when every compared finger
 * counts as a draw (the API) and when scores of 0 are left out (plain
 * hm_fuse_scores()).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion.h"
#include "match.h"
#include "multi_finger.h"

#define SETS     4
#define FINGERS  10
#define IMPS     8
#define PER_SET  (FINGERS * IMPS)

static const char  *sets[SETS] = { "fvc2002/DB1_B", "fvc2002/DB2_B",
    "fvc2004/DB1_B", "fvc2004/DB2_B" };

static double  score[SETS][PER_SET][PER_SET];

static int
idx(int finger, int imp)
{
    return (finger - 101) * IMPS + (imp - 1);
}

static int
load_set(const char *shared, int s)
{
    static uint8_t     *stored[PER_SET];
    static long         len[PER_SET];
    struct hm_probe    *probe[PER_SET];
    struct hm_scratch  *scratch = hm_scratch_new();
    int                 f, i, a, b;

    for (f = 101; f < 101 + FINGERS; f++) {
        for (i = 1; i <= IMPS; i++) {
            struct hm_fingerprint  fp;
            char                   path[1024], err[256];
            static uint8_t         buf[65536];
            FILE                  *file;
            size_t                 n;
            int                    k = idx(f, i);

            snprintf(path, sizeof(path), "%s/data/%s/%d_%d.iso", shared,
                sets[s], f, i);
            file = fopen(path, "rb");
            if (file == NULL) {
                fprintf(stderr, "bench_fusion: cannot open %s (set "
                    "HUELLA_SHARED)\n", path);
                return -1;
            }
            n = fread(buf, 1, sizeof(buf), file);
            fclose(file);
            stored[k] = malloc(HM_STORED_MAX);
            if (stored[k] == NULL
                || hm_parse(1, buf, n, &fp, err, sizeof(err)) != 0
                || (len[k] = hm_encode(&fp, stored[k], HM_STORED_MAX, err,
                        sizeof(err))) <= 0
                || (probe[k] = hm_probe_new(stored[k], (size_t) len[k]))
                   == NULL)
            {
                fprintf(stderr, "bench_fusion: %s does not load\n", path);
                return -1;
            }
        }
    }
    for (a = 0; a < PER_SET; a++) {
        for (b = 0; b < PER_SET; b++) {
            score[s][a][b] = a == b ? 0.0 : hm_compare(probe[a], stored[b],
                (size_t) len[b], scratch);
        }
    }
    for (a = 0; a < PER_SET; a++) {
        for (b = a + 1; b < PER_SET; b++) {
            double  m = score[s][a][b] > score[s][b][a] ? score[s][a][b]
                                                        : score[s][b][a];

            score[s][a][b] = score[s][b][a] = m;
        }
    }
    for (a = 0; a < PER_SET; a++) {
        hm_probe_free(probe[a]);
        free(stored[a]);
    }
    hm_scratch_free(scratch);
    return 0;
}

/* Round r (0..8) of the circle method on 10 fingers: finger 9 stays, the
 * others turn.  Pair p (0..4) of round r in *a, *b (0-based fingers). */
static void
round_pair(int r, int p, int *a, int *b)
{
    if (p == 0) {
        *a = 9;
        *b = r;
    } else {
        *a = (r + p) % 9;
        *b = (r - p + 9) % 9;
    }
    if (*a > *b) {
        int  t = *a;

        *a = *b;
        *b = t;
    }
}

/* The baseline: thresholding the bare product of the two FMRs. */
static double
plain_product(const double *s, unsigned n)
{
    double    p = 1.0;
    unsigned  i;

    for (i = 0; i < n; i++) {
        p *= hm_fmr_for_score(s[i]);
    }
    return hm_threshold_for_fmr(p);
}

struct tally {
    unsigned long  gen, imp, gen_rejected, imp_accepted;
};

static void
count(struct tally *t, int genuine, double s, double threshold)
{
    if (genuine) {
        t->gen++;
        t->gen_rejected += s < threshold;
    } else {
        t->imp++;
        t->imp_accepted += s >= threshold;
    }
}

static void
report(const char *what, const struct tally *t)
{
    printf("  %-30s genuine %5lu  FNMR %6.2f%%   impostor %6lu  accepted "
        "%3lu (FMR %.2e)\n", what, t->gen, 100.0 * t->gen_rejected
        / (double) t->gen, t->imp, t->imp_accepted,
        (double) t->imp_accepted / (double) t->imp);
}

static double   impostor[SETS * PER_SET * PER_SET / 2];
static size_t   nimpostor;

static uint64_t
next_random(void)
{
    static uint64_t  x = 0x9E3779B97F4A7C15ull;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

static void
resampled(void)
{
    static const uint8_t  all[10] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    static const double   fmrs[] = { 1e-2, 1e-3 };
    static const unsigned ns[] = { 2, 3, 5, 10 };
    const unsigned long   trials = 2000000;
    unsigned long         one, drawn, dropped, t;
    double                thr, sc[10];
    unsigned              a, k, j;
    size_t                i;

    printf("real impostor scores resampled into %lu independent n-finger "
        "impostors:\n", trials);
    for (a = 0; a < 2; a++) {
        thr = hm_threshold_for_fmr(fmrs[a]);
        for (one = 0, i = 0; i < nimpostor; i++) {
            one += impostor[i] >= thr;
        }
        printf("  FMR %g: one finger %.2e;", fmrs[a],
            (double) one / (double) nimpostor);
        for (k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
            drawn = dropped = 0;
            for (t = 0; t < trials; t++) {
                for (j = 0; j < ns[k]; j++) {
                    sc[j] = impostor[next_random() % nimpostor];
                }
                drawn += mf_fused_score(sc, all, ns[k]) >= thr;
                dropped += hm_fuse_scores(sc, ns[k]) >= thr;
            }
            printf(" n=%u %.2e (zeros left out %.2e)", ns[k],
                (double) drawn / trials, (double) dropped / trials);
        }
        printf("\n");
    }
}

int
main(int argc, char **argv)
{
    const char    *shared = getenv("HUELLA_SHARED");
    double         fmr = argc > 2 ? atof(argv[2]) : 1e-4, threshold;
    struct tally   single = { 0 }, fused = { 0 }, product = { 0 };
    char           path[1024];
    FILE          *fs, *ff, *fp;
    int            s, a, b, i, j, r, p, q;
    const uint8_t  drawn[2] = { 1, 1 };

    if (argc < 2 || !(fmr > 0 && fmr < 1)) {
        fprintf(stderr, "usage: bench_fusion OUTDIR [FMR]\n");
        return 2;
    }
    if (shared == NULL || shared[0] == '\0') {
        shared = "../shared";
    }
    threshold = hm_threshold_for_fmr(fmr);
    snprintf(path, sizeof(path), "%s/single.txt", argv[1]);
    fs = fopen(path, "w");
    snprintf(path, sizeof(path), "%s/fused.txt", argv[1]);
    ff = fopen(path, "w");
    snprintf(path, sizeof(path), "%s/product.txt", argv[1]);
    fp = fopen(path, "w");
    if (fs == NULL || ff == NULL || fp == NULL) {
        fprintf(stderr, "bench_fusion: cannot write in %s\n", argv[1]);
        return 1;
    }
    for (s = 0; s < SETS; s++) {
        if (load_set(shared, s) != 0) {
            return 1;
        }
        /* single fingers: every unordered pair of the set */
        for (a = 0; a < PER_SET; a++) {
            for (b = a + 1; b < PER_SET; b++) {
                fprintf(fs, "%s/%d_%d.iso %s/%d_%d.iso %.9g\n", sets[s],
                    101 + a / IMPS, 1 + a % IMPS, sets[s], 101 + b / IMPS,
                    1 + b % IMPS, score[s][a][b]);
                count(&single, a / IMPS == b / IMPS, score[s][a][b],
                    threshold);
                if (a / IMPS != b / IMPS) {
                    impostor[nimpostor++] = score[s][a][b];
                }
            }
        }
        /* two fingers: persons of one round, every unordered sample pair */
        for (r = 0; r < 9; r++) {
            for (p = 0; p < 5; p++) {
                for (q = p; q < 5; q++) {
                    int  a1, b1, a2, b2;

                    round_pair(r, p, &a1, &b1);
                    round_pair(r, q, &a2, &b2);
                    for (i = 1; i <= IMPS; i++) {
                        for (j = p == q ? i + 1 : 1; j <= IMPS; j++) {
                            double  two[2], f, pr;

                            two[0] = score[s][idx(101 + a1, i)]
                                              [idx(101 + a2, j)];
                            two[1] = score[s][idx(101 + b1, i)]
                                              [idx(101 + b2, j)];
                            f = mf_fused_score(two, drawn, 2);
                            pr = plain_product(two, 2);
                            fprintf(ff, "%s/%d%d_%d.iso %s/%d%d_%d.iso "
                                "%.9g\n", sets[s], 101 + a1, 101 + b1, i,
                                sets[s], 101 + a2, 101 + b2, j, f);
                            fprintf(fp, "%s/%d%d_%d.iso %s/%d%d_%d.iso "
                                "%.9g\n", sets[s], 101 + a1, 101 + b1, i,
                                sets[s], 101 + a2, 101 + b2, j, pr);
                            count(&fused, p == q, f, threshold);
                            count(&product, p == q, pr, threshold);
                        }
                    }
                }
            }
        }
    }
    fclose(fs);
    fclose(ff);
    fclose(fp);
    printf("at the threshold for FMR %g (score %.4f), four sets pooled:\n",
        fmr, threshold);
    report("one finger", &single);
    report("two fingers, fused (the API)", &fused);
    report("two fingers, bare FMR product", &product);
    resampled();
    return 0;
}
