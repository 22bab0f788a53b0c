/*
 * compare_lite.c -- a cheap one-to-one score for the first re-rank stage
 * of a 1:N search: MCC's local similarity sort (LSS) alone.
 *
 * Owns: struct hm_lite_probe and hm_lite_score() (compare_lite.h).  Step 1
 * of hm_compare() (compare.c) -- the local similarity 1 - |a^b| / (|a|+|b|)
 * of every cylinder pair with directions within 60 degrees and enough
 * cells matchable in both -- then, instead of the one-to-one choice, the
 * relaxation, the global step and the neighbour descriptor, the mean of
 * the n_P best similarities (Cappelli, Ferrara, Maltoni, "Minutia
 * Cylinder-Code", TPAMI 32(12), 2010, "LSS").  It ranks the pre-filter's
 * candidates well enough to leave hm_compare() only the best few percent
 * (docs/matcher.md, "1:N pre-filter"); it is never a decision score.
 */

#include "compare_lite.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mcc.h"

/* As compare.c: the direction window, the level floor (pairs below never
 * decide a score) and n_P's range. */
#define LITE_MAX_TURN   43
#define LITE_LEVELS     256
#define LITE_MIN_LEVEL  60
#define LITE_NP_MIN     4
#define LITE_NP_MAX     12
#define LITE_NP_MU      20.0
#define LITE_NP_TAU     0.4

struct hm_lite_probe {
    int        n;
    int        min_matchable;
    uint16_t   first_at[257];     /* first cylinder with direction >= u */
    uint64_t  *valid;             /* [n][MCC_WORDS] */
    uint64_t  *bits;              /* [n][MCC_ND][MCC_WORDS] */
};

struct hm_lite_probe *
hm_lite_probe_new(const uint8_t *stored, size_t len)
{
    struct mcc_header      h;
    struct hm_lite_probe  *p;
    size_t                 count[257], i, w, k, n;
    uint8_t                order[HM_MAX_MINUTIAE];

    if (mcc_header_read(stored, len, &h) != 0
        || h.cylinders > HM_MAX_MINUTIAE)
    {
        return NULL;
    }
    n = h.cylinders;
    p = calloc(1, sizeof(*p) + (n ? n : 1) * MCC_WORDS * (1 + MCC_ND)
        * sizeof(uint64_t));
    if (p == NULL) {
        return NULL;
    }
    p->n = (int) n;
    p->min_matchable = (int) ceil(MCC_MIN_MATCHABLE * mcc_disk_cells());
    p->valid = (uint64_t *) (p + 1);
    p->bits = p->valid + n * MCC_WORDS;
    /* Direction order, so that a candidate cylinder visits only the
     * probe cylinders it may pair with. */
    memset(count, 0, sizeof(count));
    for (i = 0; i < n; i++) {
        count[stored[MCC_HEADER_BYTES + i * MCC_CYL_BYTES + 4] + 1]++;
    }
    for (i = 0; i < 256; i++) {
        count[i + 1] += count[i];
    }
    for (i = 0; i <= 256; i++) {
        p->first_at[i] = (uint16_t) count[i];
    }
    for (i = 0; i < n; i++) {
        order[count[stored[MCC_HEADER_BYTES + i * MCC_CYL_BYTES + 4]]++] =
            (uint8_t) i;
    }
    for (i = 0; i < n; i++) {
        const uint8_t  *rec = stored + MCC_HEADER_BYTES
            + (size_t) order[i] * MCC_CYL_BYTES;

        for (w = 0; w < MCC_WORDS; w++) {
            p->valid[i * MCC_WORDS + w] = mcc_load64(rec + 8 + 8 * w);
        }
        for (k = 0; k < MCC_ND; k++) {
            for (w = 0; w < MCC_WORDS; w++) {
                p->bits[(i * MCC_ND + k) * MCC_WORDS + w] =
                    mcc_load64(rec + 8 + 8 * (MCC_WORDS * (1 + k) + w));
            }
        }
    }
    return p;
}

void
hm_lite_probe_free(struct hm_lite_probe *p)
{
    free(p);
}

double
hm_lite_score(const struct hm_lite_probe *p, const uint8_t *cand,
    size_t len)
{
    struct mcc_header  h;
    int                level_count[LITE_LEVELS];
    int                a, b, w, k, r, runs, lo, hi, run[2][2];
    int                smaller, np, left, level;
    double             sum = 0.0;

    if (p == NULL || p->n == 0 || mcc_header_read(cand, len, &h) != 0
        || h.cylinders == 0)
    {
        return 0.0;
    }
    memset(level_count, 0, sizeof(level_count));
    for (b = 0; b < h.cylinders; b++) {
        const uint8_t  *rec = cand + MCC_HEADER_BYTES
            + (size_t) b * MCC_CYL_BYTES;
        uint64_t        vb[MCC_WORDS], cb[MCC_ND][MCC_WORDS];
        uint8_t         angle_b = rec[4];

        for (w = 0; w < MCC_WORDS; w++) {
            vb[w] = mcc_load64(rec + 8 + 8 * w);
        }
        for (k = 0; k < MCC_ND; k++) {
            for (w = 0; w < MCC_WORDS; w++) {
                cb[k][w] = mcc_load64(rec + 8 + 8 * (MCC_WORDS * (1 + k)
                    + w));
            }
        }
        lo = (angle_b - LITE_MAX_TURN) & 255;
        hi = ((angle_b + LITE_MAX_TURN) & 255) + 1;
        run[0][0] = p->first_at[lo];
        if (lo < hi) {
            run[0][1] = p->first_at[hi];
            runs = 1;
        } else {
            run[0][1] = p->n;
            run[1][0] = 0;
            run[1][1] = p->first_at[hi];
            runs = 2;
        }
        for (r = 0; r < runs; r++)
        for (a = run[r][0]; a < run[r][1]; a++) {
            const uint64_t  *va = p->valid + (size_t) a * MCC_WORDS;
            const uint64_t  *ca = p->bits + (size_t) a * MCC_ND * MCC_WORDS;
            uint64_t         mask[MCC_WORDS];
            int              matchable = 0, differ = 0, both = 0, total;

            for (w = 0; w < MCC_WORDS; w++) {
                mask[w] = va[w] & vb[w];
                matchable += __builtin_popcountll(mask[w]);
            }
            if (matchable < p->min_matchable) {
                continue;
            }
            for (k = 0; k < MCC_ND; k++) {
                for (w = 0; w < MCC_WORDS; w++) {
                    uint64_t  x = ca[k * MCC_WORDS + w], y = cb[k][w];

                    differ += __builtin_popcountll((x ^ y) & mask[w]);
                    both += __builtin_popcountll(x & y);
                }
            }
            total = differ + 2 * both;
            /* level >= LITE_MIN_LEVEL, in integers (as compare.c). */
            if (total == 0
                || 510 * differ > (511 - 2 * LITE_MIN_LEVEL) * total)
            {
                continue;
            }
            level = (int) ((float) (LITE_LEVELS - 1) * (1.0f
                - (float) differ / (float) total) + 0.5f);
            level_count[level]++;
        }
    }
    smaller = p->n < h.cylinders ? p->n : h.cylinders;
    np = LITE_NP_MIN + (int) lround(1.0 / (1.0 + exp(-LITE_NP_TAU
        * (smaller - LITE_NP_MU))) * (LITE_NP_MAX - LITE_NP_MIN));
    for (level = LITE_LEVELS - 1, left = np; level > 0 && left > 0;
         level--)
    {
        int  take = level_count[level] < left ? level_count[level] : left;

        sum += (double) take * level;
        left -= take;
    }
    return sum / ((double) np * (LITE_LEVELS - 1));
}
