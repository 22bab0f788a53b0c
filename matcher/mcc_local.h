/*
 * mcc_local.h -- MCC's local step, shared by the full comparison
 * (compare.c) and the cheap re-rank score of a 1:N search
 * (compare_lite.c), so that the two can never drift apart.
 *
 * Owns: the direction order of a probe's cylinders, the window of probe
 * cylinders a candidate cylinder may pair with, the popcount form of two
 * cylinders' cell agreement with its similarity floor, and n_P (how many
 * local pairs a score averages).  After Cappelli, Ferrara, Maltoni,
 * "Minutia Cylinder-Code", IEEE TPAMI 32(12), 2010, sections 4 and 5.
 * Inline: both callers spend most of their time in here.
 */

#ifndef HUELLA_MCC_LOCAL_H
#define HUELLA_MCC_LOCAL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "mcc.h"

/* Local similarity: directions at most 60 degrees apart (43 units of
 * 2pi/256; the paper allows 90, measured no better here and 1.5x slower). */
#define MCC_MAX_DIRECTION_UNITS  43

/* Similarities are quantised to 256 levels; pairs below 60/255 never
 * decide a score (50 -> 60 with the global step: -7% instructions, mean
 * EER 5.99% -> 5.92%). */
#define MCC_SIM_LEVELS           256
#define MCC_MIN_LEVEL            60

/* n_P: a sigmoid of the smaller template's cylinder count, 4..12. */
#define MCC_NP_MIN               4
#define MCC_NP_MAX               12
#define MCC_NP_MU                20.0
#define MCC_NP_TAU               0.4

static inline int
mcc_np(int smaller)
{
    return MCC_NP_MIN + (int) lround(1.0 / (1.0 + exp(-MCC_NP_TAU
        * (smaller - MCC_NP_MU))) * (MCC_NP_MAX - MCC_NP_MIN));
}

/* The n cylinders of stored bytes in direction order: order[i] is the
 * i-th by direction, first_at[u] the first position with direction >= u.
 * A candidate cylinder then visits only the window it may pair with. */
static inline void
mcc_direction_order(const uint8_t *stored, size_t n, uint16_t first_at[257],
    uint8_t *order)
{
    size_t  count[257], i;

    memset(count, 0, sizeof(count));
    for (i = 0; i < n; i++) {
        count[stored[MCC_HEADER_BYTES + i * MCC_CYL_BYTES + 4] + 1]++;
    }
    for (i = 0; i < 256; i++) {
        count[i + 1] += count[i];
    }
    for (i = 0; i <= 256; i++) {
        first_at[i] = (uint16_t) count[i];
    }
    for (i = 0; i < n; i++) {
        order[count[stored[MCC_HEADER_BYTES + i * MCC_CYL_BYTES + 4]]++] =
            (uint8_t) i;
    }
}

/* A stored cylinder's validity word(s) and its MCC_ND layers. */
static inline void
mcc_cylinder_load(const uint8_t *rec, uint64_t *valid, uint64_t *bits)
{
    int  w, k;

    for (w = 0; w < MCC_WORDS; w++) {
        valid[w] = mcc_load64(rec + 8 + 8 * w);
    }
    for (k = 0; k < MCC_ND; k++) {
        for (w = 0; w < MCC_WORDS; w++) {
            bits[k * MCC_WORDS + w] =
                mcc_load64(rec + 8 + 8 * (MCC_WORDS * (1 + k) + w));
        }
    }
}

/* The probe cylinders (positions in direction order, n of them) whose
 * direction is within the window of angle: one or two runs [from, to). */
static inline int
mcc_direction_window(const uint16_t first_at[257], int n, uint8_t angle,
    int run[2][2])
{
    int  lo = (angle - MCC_MAX_DIRECTION_UNITS) & 255;
    int  hi = ((angle + MCC_MAX_DIRECTION_UNITS) & 255) + 1;

    run[0][0] = first_at[lo];
    if (lo < hi) {
        run[0][1] = first_at[hi];
        return 1;
    }
    run[0][1] = n;
    run[1][0] = 0;
    run[1][1] = first_at[hi];
    return 2;
}

/* Cell agreement of cylinders a and b over the cells valid in both: the
 * similarity is 1 - differ / total.  Returns 0 when fewer than
 * min_matchable cells are valid in both or the similarity falls below
 * MCC_MIN_LEVEL (tested in integers: most pairs do). */
static inline int
mcc_cell_agreement(const uint64_t *va, const uint64_t *ca,
    const uint64_t *vb, const uint64_t *cb, int min_matchable,
    int *differ_out, int *total_out)
{
    uint64_t  mask[MCC_WORDS];
    int       w, k, matchable = 0, differ = 0, both = 0, total;

    for (w = 0; w < MCC_WORDS; w++) {
        mask[w] = va[w] & vb[w];
        matchable += __builtin_popcountll(mask[w]);
    }
    if (matchable < min_matchable) {
        return 0;
    }
    /* |x| + |y| = |x ^ y| + 2 |x & y|: two popcounts, not three; x & y
     * needs no mask, as bits lie only in valid cells (hm_stored_check
     * enforces it). */
    for (k = 0; k < MCC_ND; k++) {
        for (w = 0; w < MCC_WORDS; w++) {
            uint64_t  x = ca[k * MCC_WORDS + w], y = cb[k * MCC_WORDS + w];

            differ += __builtin_popcountll((x ^ y) & mask[w]);
            both += __builtin_popcountll(x & y);
        }
    }
    total = differ + 2 * both;
    /* level < MCC_MIN_LEVEL exactly when differ / total > (255 -
     * MCC_MIN_LEVEL + 0.5) / 255 (ties go on to the caller's float
     * test). */
    if (total == 0 || 510 * differ > (511 - 2 * MCC_MIN_LEVEL) * total) {
        return 0;
    }
    *differ_out = differ;
    *total_out = total;
    return 1;
}

/* Ties between candidate pairs are broken by their two minutiae taken as
 * an unordered pair ({xa, xb} before {ya, yb}), so that a choice is the
 * same whichever template is the probe. */
static inline int
mcc_unordered_before(uint64_t xa, uint64_t xb, uint64_t ya, uint64_t yb)
{
    uint64_t  xlo = xa < xb ? xa : xb, xhi = xa < xb ? xb : xa;
    uint64_t  ylo = ya < yb ? ya : yb, yhi = ya < yb ? yb : ya;

    return xlo != ylo ? xlo < ylo : xhi < yhi;
}

#endif /* HUELLA_MCC_LOCAL_H */
