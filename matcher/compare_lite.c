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
#include "mcc_local.h"   /* the local step, exactly as hm_compare() */

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
    size_t                 i, n;
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
    mcc_direction_order(stored, n, p->first_at, order);
    for (i = 0; i < n; i++) {
        mcc_cylinder_load(stored + MCC_HEADER_BYTES
            + (size_t) order[i] * MCC_CYL_BYTES, p->valid + i * MCC_WORDS,
            p->bits + i * MCC_ND * MCC_WORDS);
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
    int                level_count[MCC_SIM_LEVELS];
    int                a, b, r, runs, run[2][2];
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
        uint64_t        vb[MCC_WORDS], cb[MCC_ND * MCC_WORDS];

        mcc_cylinder_load(rec, vb, cb);
        runs = mcc_direction_window(p->first_at, p->n, rec[4], run);
        for (r = 0; r < runs; r++)
        for (a = run[r][0]; a < run[r][1]; a++) {
            int  differ, total;

            if (mcc_cell_agreement(p->valid + (size_t) a * MCC_WORDS,
                    p->bits + (size_t) a * MCC_ND * MCC_WORDS, vb, cb,
                    p->min_matchable, &differ, &total))
            {
                level_count[(int) ((float) (MCC_SIM_LEVELS - 1) * (1.0f
                    - (float) differ / (float) total) + 0.5f)]++;
            }
        }
    }
    smaller = p->n < h.cylinders ? p->n : h.cylinders;
    np = mcc_np(smaller);
    for (level = MCC_SIM_LEVELS - 1, left = np; level > 0 && left > 0;
         level--)
    {
        int  take = level_count[level] < left ? level_count[level] : left;

        sum += (double) take * level;
        left -= take;
    }
    return sum / ((double) np * (MCC_SIM_LEVELS - 1));
}
