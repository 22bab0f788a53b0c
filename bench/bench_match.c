/*
 * bench_match.c -- 1:1 comparison speed of the MCC matcher.
 *
 * Owns: timing hm_compare() over every ordered pair of the four FVC sets
 * (25,280 comparisons a round): comparisons per second on one core and on
 * all cores, mean and p99 microseconds per comparison.  Absolute figures
 * drift with the machine, so each is also given as a ratio against a
 * baseline run in the same process: a brute-force reference pass that
 * computes the same cylinder-pair similarity matrix cell by cell, without
 * popcount, direction window or consolidation.  Accuracy (EER) is
 * measured by tools/eer.sh.
 *
 *   build/bin/../bench/bench_match [ROUNDS]    (HUELLA_SHARED as in tests)
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "align.h"
#include "match.h"
#include "mcc.h"

#define SETS         4
#define PER_SET      80
#define TEMPLATES    (SETS * PER_SET)

static uint8_t          *stored[TEMPLATES];
static size_t            stored_len[TEMPLATES];
static struct hm_probe  *probes[TEMPLATES];

static double
now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int
load_all(void)
{
    static const char  *sets[SETS] = { "fvc2002/DB1_B", "fvc2002/DB2_B",
        "fvc2004/DB1_B", "fvc2004/DB2_B" };
    const char         *shared = getenv("HUELLA_SHARED");
    int                 s, f, i, k = 0;

    if (shared == NULL || shared[0] == '\0') {
        shared = "../shared";
    }
    for (s = 0; s < SETS; s++) {
        for (f = 101; f <= 110; f++) {
            for (i = 1; i <= 8; i++, k++) {
                struct hm_fingerprint  fp;
                char                   path[1024], err[256];
                uint8_t                buf[65536];
                FILE                  *file;
                size_t                 n;
                long                   len;

                snprintf(path, sizeof(path), "%s/data/%s/%d_%d.iso", shared,
                    sets[s], f, i);
                file = fopen(path, "rb");
                if (file == NULL) {
                    fprintf(stderr, "bench_match: cannot open %s (set "
                        "HUELLA_SHARED)\n", path);
                    return -1;
                }
                n = fread(buf, 1, sizeof(buf), file);
                fclose(file);
                stored[k] = malloc(HM_STORED_MAX);
                if (stored[k] == NULL
                    || hm_parse(1, buf, n, &fp, err, sizeof(err)) != 0
                    || (len = hm_encode(&fp, stored[k], HM_STORED_MAX, err,
                            sizeof(err))) < 0)
                {
                    fprintf(stderr, "bench_match: %s: %s\n", path, err);
                    return -1;
                }
                stored_len[k] = (size_t) len;
                probes[k] = hm_probe_new(stored[k], stored_len[k]);
            }
        }
    }
    return 0;
}

/* The brute-force reference: every cylinder pair, every cell, one bit at
 * a time. */
static double
reference_compare(const uint8_t *a, const uint8_t *b)
{
    unsigned  na = (unsigned) (a[6] | a[7] << 8), nb = (unsigned) (b[6]
                  | b[7] << 8), i, j, cell, k;
    double    best = 0.0;

    for (i = 0; i < na; i++) {
        const uint8_t  *ca = a + MCC_HEADER_BYTES + (size_t) i * MCC_CYL_BYTES;

        for (j = 0; j < nb; j++) {
            const uint8_t  *cb = b + MCC_HEADER_BYTES
                + (size_t) j * MCC_CYL_BYTES;
            unsigned        differ = 0, total = 0;

            for (cell = 0; cell < MCC_NS * MCC_NS; cell++) {
                unsigned  byte = 8 + cell / 8, bit = cell % 8;

                if (!((ca[byte] >> bit) & (cb[byte] >> bit) & 1)) {
                    continue;
                }
                for (k = 0; k < MCC_ND; k++) {
                    size_t    off = 8 + 8 * MCC_WORDS * (1 + k) + cell / 8;
                    unsigned  x = ca[off] >> bit & 1, y = cb[off] >> bit & 1;

                    differ += x ^ y;
                    total += x + y;
                }
            }
            if (total > 0 && 1.0 - (double) differ / total > best) {
                best = 1.0 - (double) differ / total;
            }
        }
    }
    return best;
}

static int
compare_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}

struct worker {
    int     first, step;
    long    comparisons;
    double  checksum;
};

/* All ordered pairs within each set, probes first..step. */
static void *
worker_run(void *arg)
{
    struct worker      *w = arg;
    struct hm_scratch  *scratch = hm_scratch_new();
    int                 p, c;

    for (p = w->first; p < TEMPLATES; p += w->step) {
        int  base = p / PER_SET * PER_SET;

        for (c = base; c < base + PER_SET; c++) {
            if (c != p) {
                w->checksum += hm_compare(probes[p], stored[c],
                    stored_len[c], scratch);
                w->comparisons++;
            }
        }
    }
    hm_scratch_free(scratch);
    return NULL;
}

int
main(int argc, char **argv)
{
    int                 rounds = argc > 1 ? atoi(argv[1]) : 3, r, p, c, t;
    long                threads = sysconf(_SC_NPROCESSORS_ONLN), n = 0;
    double             *lat, t0, one_core, ref_us, sum = 0.0, checksum = 0.0;
    struct hm_scratch  *scratch;
    pthread_t           tid[64];
    struct worker       w[64];

    if (load_all() != 0) {
        return 1;
    }
    if (rounds < 1) {
        rounds = 1;
    }
    threads = threads < 1 ? 1 : threads > 64 ? 64 : threads;
    scratch = hm_scratch_new();
    lat = malloc(sizeof(double) * TEMPLATES * PER_SET * (size_t) rounds);

    /* Latency: one core, each comparison timed on its own. */
    for (r = 0; r < rounds; r++) {
        for (p = 0; p < TEMPLATES; p++) {
            int  base = p / PER_SET * PER_SET;

            for (c = base; c < base + PER_SET; c++) {
                if (c == p) {
                    continue;
                }
                t0 = now_us();
                checksum += hm_compare(probes[p], stored[c], stored_len[c],
                    scratch);
                lat[n] = now_us() - t0;
                sum += lat[n++];
            }
        }
    }
    qsort(lat, (size_t) n, sizeof(double), compare_double);

    /* Throughput: one core, then all cores. */
    t0 = now_us();
    w[0] = (struct worker) { 0, 1, 0, 0.0 };
    for (r = 0; r < rounds; r++) {
        worker_run(&w[0]);
    }
    one_core = w[0].comparisons / ((now_us() - t0) / 1e6);
    t0 = now_us();
    for (t = 0; t < threads; t++) {
        w[t] = (struct worker) { t, (int) threads, 0, 0.0 };
        pthread_create(&tid[t], NULL, worker_run, &w[t]);
    }
    long  all = 0;
    for (t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        all += w[t].comparisons;
    }
    double  all_cores = all / ((now_us() - t0) / 1e6);

    /* Baseline in the same process: the brute-force reference on the
     * first set's first probe against the whole set. */
    t0 = now_us();
    for (c = 1; c < PER_SET; c++) {
        checksum += reference_compare(stored[0], stored[c]);
    }
    ref_us = (now_us() - t0) / (PER_SET - 1);

    printf("templates             %d (4 FVC sets x 80), %ld comparisons "
        "timed\n", TEMPLATES, n);
    printf("1:1 mean              %.2f us   (%.1fx faster than the "
        "brute-force reference, %.1f us)\n", sum / n, ref_us / (sum / n),
        ref_us);
    printf("1:1 p50 / p99         %.2f / %.2f us\n", lat[n / 2],
        lat[n * 99 / 100]);
    printf("1 core                %.0f comparisons/s\n", one_core);
    printf("%ld cores               %.0f comparisons/s (%.0f per core, "
        "%.2fx of one core)\n", threads, all_cores, all_cores / threads,
        all_cores / one_core);
    printf("checksum              %.3f\n", checksum);
    printf("local step            %s (HUELLA_COMPARE_ISA=scalar or avx2 "
        "caps it)\n", mcc_isa_name(mcc_compare_isa(-1)));
    printf("pairing               %s (HUELLA_ALIGN_ISA=scalar or avx2 "
        "caps it)\n", mcc_isa_name(align_pairing_isa(-1)));
    free(lat);
    hm_scratch_free(scratch);
    return 0;
}
