/*
 * align.h -- global consolidation of a local (MCC) match: transforms
 * fitted on the best local pairs, then a count of the minutiae the two
 * templates have in common under the best of them.  Internal to the
 * matcher (compare.c); callers use match.h.
 */

#ifndef HUELLA_ALIGN_H
#define HUELLA_ALIGN_H

#include "mcc.h"

/* The probe's minutiae bucketed in a grid, built once per probe. */
#define ALIGN_GRID_CELL   16.0f
#define ALIGN_GRID_SIDE   48          /* cells per side at most */

struct align_grid {
    int       n, gw, gh;
    float     x0, y0;                 /* grid origin */
    float     minx, maxx, miny, maxy; /* bounding box of the minutiae */
    uint16_t  start[ALIGN_GRID_SIDE * ALIGN_GRID_SIDE + 1];
    /* Minutiae in cell order. */
    float     x[HM_MAX_MINUTIAE], y[HM_MAX_MINUTIAE];
    float     c[HM_MAX_MINUTIAE], s[HM_MAX_MINUTIAE];   /* direction */
    uint8_t   type[HM_MAX_MINUTIAE];
    uint8_t   col[HM_MAX_MINUTIAE];   /* grid column (the SIMD window) */
    uint64_t  key[HM_MAX_MINUTIAE];   /* position and direction, for ties */
};

/* Box margin (px) for counting a print's minutiae in the other's area. */
#define ALIGN_MARGIN      10.0f

struct align_result {
    int    paired;        /* one-to-one minutiae pairs under the transform */
    float  weighted;      /* the same, pairs of different type and what the
                           * affine refit adds counting less */
    int    overlap_a;     /* minutiae of A inside B's transformed box */
    int    overlap_b;     /* minutiae of B inside A's box */
};

/* Pairing scratch: one per thread (compare.c keeps it in hm_scratch). */
#define ALIGN_CANDS_MAX  (HM_MAX_MINUTIAE * 16)

struct align_cand {
    float    dn;
    uint8_t  i, j;
};

struct align_work {
    /* B transformed: position, direction (unnormalised), tolerance and
     * the least squared dot product its direction accepts. */
    float    tx[HM_MAX_MINUTIAE], ty[HM_MAX_MINUTIAE];
    float    tc[HM_MAX_MINUTIAE], ts[HM_MAX_MINUTIAE];
    float    reach[HM_MAX_MINUTIAE], min2[HM_MAX_MINUTIAE];
    /* R0 + RK / 2 x distance from B's centre: B's part of a tolerance */
    float    half_b[HM_MAX_MINUTIAE];
    /* A under the inverse placement (when it is no rotation). */
    float    ux[HM_MAX_MINUTIAE], uy[HM_MAX_MINUTIAE];
    float    uc[HM_MAX_MINUTIAE], us[HM_MAX_MINUTIAE];
    float    umin2[HM_MAX_MINUTIAE];
    /* RK / 2 x distance from A's centre: A's part of a tolerance (the
     * SIMD pairing's, computed once per placement). */
    float    part_a[HM_MAX_MINUTIAE];
    /* The SIMD pairing's window per B minutia: grid columns col_from..
     * col_to of the cells cell_from..cell_to - 1 (row by row). */
    int32_t  cell_from[HM_MAX_MINUTIAE], cell_to[HM_MAX_MINUTIAE];
    int32_t  col_from[HM_MAX_MINUTIAE], col_to[HM_MAX_MINUTIAE];
    uint8_t  pair_a[HM_MAX_MINUTIAE], pair_b[HM_MAX_MINUTIAE];
    /* cands: room past the last for the AVX2 scan's whole-vector stores
     * (8 candidates, of which the last 7 may be spare) */
    struct align_cand  cands[ALIGN_CANDS_MAX + 7], sorted[ALIGN_CANDS_MAX];
    uint8_t  step[ALIGN_CANDS_MAX];
    uint64_t bkey[HM_MAX_MINUTIAE];   /* the same keys for B's minutiae */
    float    weighted;            /* pairs, different types counting less */
};

/* The path the pairing takes (enum hm_isa; every path gives the scalar
 * code's results to the last bit), for tests and benchmarks of every path:
 * level >= 0 makes it the highest one the CPU has that is at most level;
 * -1 only asks.  Returns the path now in effect.  Until then it is the
 * highest the CPU has, capped by HUELLA_ALIGN_ISA (scalar, avx2). */
int align_pairing_isa(int level);

void align_grid_build(const struct mcc_point *a, int na,
    struct align_grid *g);

/*
 * g: all minutiae of A; b[]: all minutiae of B; pa[], pb[], w[]: the k best
 * local pairs (points of A and of B, best first) with their weights.
 */
void align_consolidate(const struct align_grid *g,
    const struct mcc_point *b, int nb,
    const struct mcc_point *pa, const struct mcc_point *pb, const float *w,
    int k, struct align_work *work, struct align_result *res);


#endif /* HUELLA_ALIGN_H */
