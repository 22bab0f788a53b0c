/*
 * compare.c -- one-to-one comparison of MCC templates.
 *
 * Owns: struct hm_probe, struct hm_scratch and hm_compare().  Three steps,
 * the first two after Cappelli, Ferrara, Maltoni, "Minutia Cylinder-Code",
 * IEEE TPAMI 32(12), 2010, section 5:
 *
 *  1. local similarity of every cylinder pair with compatible directions,
 *     by popcount over the cells valid in both: 1 - |a^b| / (|a| + |b|);
 *  2. consolidation by LSS-R: the best one-to-one pairs (greedy on the
 *     local similarity, an approximation of the assignment) are relaxed
 *     so that pairs geometrically compatible with many good pairs gain
 *     and the isolated ones fade; the score is the mean relaxed similarity
 *     of the n_P pairs whose similarity held up best ("efficiency");
 *  3. global consolidation (align.c): the best relaxed pairs place the
 *     prints, all minutiae are paired under that placement;
 *  4. a second local descriptor (neighbours.c, stored with each cylinder)
 *     scores the pairs LSS-R kept by their nearest neighbours; the three
 *     scores are fused by a weighted geometric mean.
 *
 * The probe is decoded once into aligned arrays (cylinders in direction
 * order) with its pairwise distances and radial angles precomputed, and
 * its minutiae bucketed for the pairing; the candidate is read in place.
 * Steps 1 and 2 have vector forms, chosen at run time (mcc_compare_isa()),
 * that score every pair exactly as the scalar ones (test_match's
 * isa_scores_as_scalar): AVX-512 (8 probe cylinders a vector with
 * VPOPCNTDQ; 16 compatibilities) and AVX2 (4 probe cylinders a vector,
 * counted by carry-save adders and nibble lookups; 8 compatibilities).
 */

#include <pthread.h>
#include <stdlib.h>

#include "align.h"
#include "isa.h"
#include "match.h"
#include "mcc.h"
#include "mcc_local.h"
#include "neighbours.h"

/* The local step's vector forms need one word per layer (Ns = 8). */
#if defined(__x86_64__) && defined(__GNUC__) && MCC_WORDS == 1
#include <immintrin.h>
#define HM_HAVE_AVX512 1
#define HM_HAVE_AVX2   1
#endif


/* LSS-R: relaxation weight and rounds, the compatibility sigmoids
 * (distance in pixels, angles in radians).  The local similarity's
 * window, floor and n_P: mcc_local.h. */
#define RELAX_W          0.5f
#define RELAX_ROUNDS     5
#define RHO_MU1          5.0f
#define RHO_DIST_REL     0.01f
#define RHO_TAU1         (-8.0f / 5.0f)
#define RHO_MU2          ((float) (M_PI / 12.0))
#define RHO_TAU2         (-30.0f)
#define RHO_MU3          ((float) (M_PI / 12.0))
#define RHO_TAU3         (-30.0f)

/* Lookup tables: distance mismatch in 1/8 px up to where Z1 vanishes,
 * angle mismatch in pi/512 steps. */
#define LUT_DIST_STEPS   8.0f
#define LUT_DIST_MAX     10.0f
#define LUT_DIST_SIZE    (10 * 8 + 1)    /* LUT_DIST_MAX * LUT_DIST_STEPS + 1 */
/* Compatibility below this changes no score visibly. */
#define RHO_NEGLIGIBLE   1e-3f
/* Z1 at 75 / 8 px is already below it (9.1e-4; 1.1e-3 at 74 / 8): 9.5 px
 * leaves room for rounding.  Below LUT_DIST_MAX, so the table suffices. */
#define RHO_FAR          9.5f
#define LUT_ANGLE_SIZE   512
#define LUT_ANGLE_STEPS  ((float) (LUT_ANGLE_SIZE / M_PI))

/* Global consolidation (align.c): the best relaxed pairs its placement is
 * fitted on, and the unpaired minutiae added to each overlap count (a
 * pseudo-count: m pairs of a few minutiae are weaker evidence than the
 * same share of many; it also keeps a tiny overlap from a perfect score). */
#define GLOBAL_ANCHORS      3
#define GLOBAL_PSEUDO_COUNT 2

struct hm_probe {
    int               n;
    int               min_matchable;
    struct mcc_point *pt;
    struct align_grid grid;       /* every minutia, for the global step */
    uint8_t           order[HM_MAX_MINUTIAE];  /* i-th by direction */
    uint64_t          key[HM_MAX_MINUTIAE];    /* point_key(), same order */
    uint16_t          first_at[257];  /* first cylinder with direction >= u */
    uint64_t         *valid;      /* [n][MCC_WORDS] */
    uint64_t         *bits;       /* [n][MCC_ND][MCC_WORDS] */
    /* The same, 8 cylinders (in direction order) per block, transposed:
     * block k holds 1 + MCC_ND rows of 8 words, validity then layers, so
     * that one vector compares 8 probe cylinders with one candidate
     * cylinder.  64-byte aligned; lanes past n are invalid (zero). */
    uint64_t         *blocks;     /* [(n + 7) / 8][1 + MCC_ND][8] */
    float            *dist;       /* [n][n] */
    float            *radial;     /* [n][n]: direction to j seen from i */
    uint8_t          *nb;         /* [n][MCC_NB_BYTES]: neighbour records */
};

struct pair {
    uint8_t   a, b;
    uint8_t   level;              /* similarity quantised to 0..255 */
    float     sim;
};

struct hm_scratch {
    uint64_t      cand_key[HM_MAX_MINUTIAE];   /* point_key() by cylinder */
    struct pair   pairs[HM_MAX_MINUTIAE * HM_MAX_MINUTIAE];
    struct pair   sorted[HM_MAX_MINUTIAE * HM_MAX_MINUTIAE];
    int           level_count[MCC_SIM_LEVELS + 1];
    struct pair   chosen[HM_MAX_MINUTIAE];
    struct mcc_point  cand[HM_MAX_MINUTIAE];
    float         rho[HM_MAX_MINUTIAE * HM_MAX_MINUTIAE];
    float         lambda[2][HM_MAX_MINUTIAE];
    float         efficiency[HM_MAX_MINUTIAE];
    struct mcc_point  cand_all[HM_MAX_MINUTIAE];
    uint8_t       order[HM_MAX_MINUTIAE];  /* chosen pairs, best first */
    float         relaxed[HM_MAX_MINUTIAE];
    struct align_work  align;
    uint8_t       supporters[HM_MAX_MINUTIAE];
    uint8_t       support_of[HM_MAX_MINUTIAE][HM_MAX_MINUTIAE];
};

static float  lut_dist[LUT_DIST_SIZE];
static float  lut_angle2[LUT_ANGLE_SIZE + 1];
static float  lut_angle3[LUT_ANGLE_SIZE + 1];
static float  reciprocal[2 * MCC_ND * MCC_WORDS * 64 + 1];
static int    luts_ready;

static float
sigmoid(float v, float mu, float tau)
{
    return 1.0f / (1.0f + expf(-tau * (v - mu)));
}

static pthread_once_t        isa_once = PTHREAD_ONCE_INIT;
static struct hm_isa_choice  compare_isa;   /* .on: the path in effect */

/* Whether this build has the path and the CPU can run it. */
static int
isa_usable(int level)
{
    switch (level) {
    case HM_ISA_SCALAR:
        return 1;
#ifdef HM_HAVE_AVX2
    case HM_ISA_AVX2:
        return __builtin_cpu_supports("avx2");
#endif
#ifdef HM_HAVE_AVX512
    case HM_ISA_AVX512:
        return __builtin_cpu_supports("avx512f")
            && __builtin_cpu_supports("avx512vpopcntdq");
#endif
    default:
        return 0;
    }
}

/* HUELLA_COMPARE_ISA=scalar or avx2 caps the path (benchmarks of them). */
static void
isa_init(void)
{
    hm_isa_choose(&compare_isa, isa_usable, "HUELLA_COMPARE_ISA");
}

int
mcc_compare_isa(int level)
{
    pthread_once(&isa_once, isa_init);
    return hm_isa_set(&compare_isa, level);
}

/* Idempotent: racing threads compute identical values. */
static void
luts_init(void)
{
    int  i;

    pthread_once(&isa_once, isa_init);

    if (__atomic_load_n(&luts_ready, __ATOMIC_ACQUIRE)) {
        return;
    }
    for (i = 1; i < (int) (sizeof(reciprocal) / sizeof(reciprocal[0])); i++) {
        reciprocal[i] = 1.0f / (float) i;
    }
    for (i = 0; i < LUT_DIST_SIZE; i++) {
        lut_dist[i] = sigmoid(i / LUT_DIST_STEPS, RHO_MU1, RHO_TAU1);
    }
    for (i = 0; i <= LUT_ANGLE_SIZE; i++) {
        lut_angle2[i] = sigmoid(i / LUT_ANGLE_STEPS, RHO_MU2, RHO_TAU2);
        lut_angle3[i] = sigmoid(i / LUT_ANGLE_STEPS, RHO_MU3, RHO_TAU3);
    }
    __atomic_store_n(&luts_ready, 1, __ATOMIC_RELEASE);
}

/* atan2(y, x) and atan2(-y, -x) to about 1e-5 rad, several times cheaper
 * than libm's: the directions from p to q and from q to p, one polynomial
 * for both (each bit for bit what evaluating it for that one gives). */
static inline void
fast_atan2_both(float y, float x, float *there, float *back)
{
    float  ax = fabsf(x), ay = fabsf(y);
    float  lo = ax < ay ? ax : ay, hi = ax < ay ? ay : ax, a, s, r, rb;

    if (hi == 0.0f) {
        *there = *back = 0.0f;
        return;
    }
    a = lo / hi;
    s = a * a;
    r = ((-0.0464964749f * s + 0.15931422f) * s - 0.327622764f) * s * a + a;
    if (ay > ax) {
        r = 1.57079637f - r;
    }
    rb = r;
    if (x < 0.0f) {
        r = 3.14159274f - r;
    }
    if (-x < 0.0f) {
        rb = 3.14159274f - rb;
    }
    *there = y < 0.0f ? -r : r;
    *back = -y < 0.0f ? -rb : rb;
}

/* |a - b| wrapped to [0, pi]. */
static inline float
angle_distance(float a, float b)
{
    float  d = fabsf(a - b);

    while (d > (float) (2.0 * M_PI)) {     /* at most twice: |a|, |b| < 4pi */
        d -= (float) (2.0 * M_PI);
    }
    return d > (float) M_PI ? (float) (2.0 * M_PI) - d : d;
}

/* A cylinder's minutia as one number (position and direction as stored),
 * for tie-breaks that do not depend on which template is the probe. */
static inline uint64_t
point_key(const uint8_t *rec)
{
    return (uint64_t) mcc_le16(rec) << 24 | (uint64_t) mcc_le16(rec + 2) << 8
        | rec[4];
}

struct hm_probe *
hm_probe_new(const uint8_t *stored, size_t len)
{
    struct mcc_header  h;
    struct hm_probe   *probe;
    size_t             n, size;
    const uint8_t     *rec;
    uint8_t           *mem;
    size_t             i, j;

    if (mcc_header_read(stored, len, &h) != 0) {
        return NULL;
    }
    luts_init();
    n = h.cylinders;
    size = sizeof(*probe) + n * sizeof(struct mcc_point)
        + n * MCC_WORDS * (1 + MCC_ND) * sizeof(uint64_t)
        + 2 * n * n * sizeof(float) + n * MCC_NB_BYTES
        + (n + 7) / 8 * (1 + MCC_ND) * 8 * sizeof(uint64_t) + 128;
    mem = calloc(1, size);
    if (mem == NULL) {
        return NULL;
    }
    probe = (struct hm_probe *) mem;
    probe->n = (int) n;
    probe->min_matchable = (int) ceil(MCC_MIN_MATCHABLE * mcc_disk_cells());
    probe->valid = (uint64_t *) (mem + sizeof(*probe));
    probe->bits = probe->valid + n * MCC_WORDS;
    probe->pt = (struct mcc_point *) (probe->bits + n * MCC_WORDS * MCC_ND);
    probe->dist = (float *) (probe->pt + n);
    probe->radial = probe->dist + n * n;
    probe->nb = (uint8_t *) (probe->radial + n * n);
    probe->blocks = (uint64_t *) (((uintptr_t) (probe->nb + n * MCC_NB_BYTES)
        + 63) & ~(uintptr_t) 63);
    {
        struct mcc_point  all[HM_MAX_MINUTIAE];

        for (i = 0; i < h.minutiae; i++) {
            mcc_point_decode(stored + MCC_HEADER_BYTES + n * MCC_CYL_BYTES
                + i * MCC_MINUTIA_BYTES, &all[i]);
        }
        align_grid_build(all, h.minutiae, &probe->grid);
    }

    mcc_direction_order(stored, n, probe->first_at, probe->order);
    for (i = 0; i < n; i++) {
        memcpy(probe->nb + i * MCC_NB_BYTES, stored + MCC_HEADER_BYTES
            + n * MCC_CYL_BYTES + h.minutiae * MCC_MINUTIA_BYTES
            + probe->order[i] * MCC_NB_BYTES, MCC_NB_BYTES);
        rec = stored + MCC_HEADER_BYTES + probe->order[i] * MCC_CYL_BYTES;
        mcc_point_decode(rec, &probe->pt[i]);
        probe->key[i] = point_key(rec);
        mcc_cylinder_load(rec, probe->valid + i * MCC_WORDS,
            probe->bits + i * MCC_ND * MCC_WORDS);
        if (MCC_WORDS == 1) {
            uint64_t  *blk = probe->blocks + i / 8 * (1 + MCC_ND) * 8 + i % 8;

            blk[0] = probe->valid[i];
            for (j = 0; j < MCC_ND; j++) {
                blk[(1 + j) * 8] = probe->bits[i * MCC_ND + j];
            }
        }
    }
    for (i = 0; i < n; i++) {
        probe->dist[i * n + i] = 0.0f;
        probe->radial[i * n + i] = -probe->pt[i].angle;
        for (j = i + 1; j < n; j++) {
            float  dx = probe->pt[j].x - probe->pt[i].x;
            float  dy = probe->pt[j].y - probe->pt[i].y;
            float  there, back;

            probe->dist[i * n + j] = probe->dist[j * n + i]
                = sqrtf(dx * dx + dy * dy);
            fast_atan2_both(dy, dx, &there, &back);
            probe->radial[i * n + j] = there - probe->pt[i].angle;
            probe->radial[j * n + i] = back - probe->pt[j].angle;
        }
    }
    return probe;
}

void
hm_probe_free(struct hm_probe *probe)
{
    free(probe);
}

struct hm_scratch *
hm_scratch_new(void)
{
    luts_init();
    return malloc(sizeof(struct hm_scratch));
}

void
hm_scratch_free(struct hm_scratch *scratch)
{
    free(scratch);
}

/* Appends pair (a, b) of the given cell counts if its quantised
 * similarity reaches the floor; returns the new count. */
static inline int
keep_pair(struct hm_scratch *s, int count, int a, int b, int differ,
    int total)
{
    float  sim = 1.0f - (float) differ * reciprocal[total];
    int    level = (int) (sim * (MCC_SIM_LEVELS - 1) + 0.5f);

    if (level < MCC_MIN_LEVEL) {
        return count;
    }
    s->pairs[count].a = (uint8_t) a;
    s->pairs[count].b = (uint8_t) b;
    s->pairs[count].level = (uint8_t) level;
    s->pairs[count].sim = sim;
    s->level_count[level]++;
    return count + 1;
}

/* Step 1: every compatible cylinder pair with a non-zero similarity,
 * counted per quantised level for the sort that follows. */
static int
local_similarities(const struct hm_probe *probe, const uint8_t *cand,
    int cand_n, struct hm_scratch *s)
{
    int  a, b, r, runs, run[2][2], count = 0;

    memset(s->level_count, 0, sizeof(s->level_count));
    for (b = 0; b < cand_n; b++) {
        const uint8_t  *rec = cand + MCC_HEADER_BYTES
            + (size_t) b * MCC_CYL_BYTES;
        uint64_t        vb[MCC_WORDS], cb[MCC_ND * MCC_WORDS];

        s->cand_key[b] = point_key(rec);
        mcc_cylinder_load(rec, vb, cb);
        runs = mcc_direction_window(probe->first_at, probe->n, rec[4], run);
        for (r = 0; r < runs; r++)
        for (a = run[r][0]; a < run[r][1]; a++) {
            int  differ, total;

            if (!mcc_cell_agreement(probe->valid + (size_t) a * MCC_WORDS,
                    probe->bits + (size_t) a * MCC_ND * MCC_WORDS, vb, cb,
                    probe->min_matchable, &differ, &total))
            {
                continue;
            }
            count = keep_pair(s, count, a, b, differ, total);
        }
    }
    return count;
}

#ifdef HM_HAVE_AVX512
/* Step 1 with 8 probe cylinders per vector (lanes, in direction order)
 * against one candidate cylinder (broadcast): the same integer counts as
 * mcc_cell_agreement(), the same tests, and the pairs that pass in the
 * same order (a ascending within each run), so every score is the scalar
 * path's to the last bit.  Most pairs fail the tests; only those that
 * pass leave the vectors. */
__attribute__((target("avx512f,avx512vpopcntdq")))
static int
local_similarities_avx512(const struct hm_probe *probe, const uint8_t *cand,
    int cand_n, struct hm_scratch *s)
{
    const __m512i  min_matchable = _mm512_set1_epi64(probe->min_matchable);
    const __m512i  zero = _mm512_setzero_si512();
    const __m512i  differ_w = _mm512_set1_epi64(510);
    const __m512i  total_w = _mm512_set1_epi64(511 - 2 * MCC_MIN_LEVEL);
    int            b, r, k, runs, run[2][2], count = 0;

    memset(s->level_count, 0, sizeof(s->level_count));
    for (b = 0; b < cand_n; b++) {
        const uint8_t  *rec = cand + MCC_HEADER_BYTES
            + (size_t) b * MCC_CYL_BYTES;
        __m512i         vb, cb[MCC_ND];

        s->cand_key[b] = point_key(rec);
        vb = _mm512_set1_epi64((long long) mcc_load64(rec + 8));
        for (k = 0; k < MCC_ND; k++) {
            cb[k] = _mm512_set1_epi64((long long) mcc_load64(rec + 16
                + 8 * k));
        }
        runs = mcc_direction_window(probe->first_at, probe->n, rec[4], run);
        for (r = 0; r < runs; r++) {
            int  from = run[r][0], to = run[r][1], blk;

            for (blk = from / 8; blk * 8 < to; blk++) {
                const __m512i  *row = (const __m512i *) (probe->blocks
                    + (size_t) blk * (1 + MCC_ND) * 8);
                int             lo = from - blk * 8, hi = to - blk * 8;
                __mmask8        lanes = (__mmask8) ((hi >= 8 ? 0xff
                    : (1u << hi) - 1) & (lo <= 0 ? 0xff : ~((1u << lo) - 1)));
                __m512i         mask, differ, both, total;
                __mmask8        ok;
                uint64_t        differ_at[8], total_at[8];

                mask = _mm512_and_si512(_mm512_load_si512(row), vb);
                differ = zero;
                both = zero;
                for (k = 0; k < MCC_ND; k++) {
                    __m512i  x = _mm512_load_si512(row + 1 + k);

                    differ = _mm512_add_epi64(differ, _mm512_popcnt_epi64(
                        _mm512_and_si512(_mm512_xor_si512(x, cb[k]), mask)));
                    both = _mm512_add_epi64(both, _mm512_popcnt_epi64(
                        _mm512_and_si512(x, cb[k])));
                }
                total = _mm512_add_epi64(differ, _mm512_add_epi64(both,
                    both));
                ok = _mm512_mask_cmpge_epi64_mask(lanes,
                    _mm512_popcnt_epi64(mask), min_matchable);
                ok = _mm512_mask_cmpneq_epi64_mask(ok, total, zero);
                ok = _mm512_mask_cmple_epi64_mask(ok,
                    _mm512_mul_epu32(differ, differ_w),
                    _mm512_mul_epu32(total, total_w));
                if (ok == 0) {
                    continue;
                }
                _mm512_storeu_si512(differ_at, differ);
                _mm512_storeu_si512(total_at, total);
                while (ok != 0) {
                    int  lane = __builtin_ctz(ok);

                    ok &= (__mmask8) (ok - 1);
                    count = keep_pair(s, count, blk * 8 + lane, b,
                        (int) differ_at[lane], (int) total_at[lane]);
                }
            }
        }
    }
    return count;
}
#endif

#ifdef HM_HAVE_AVX2
/* Full adder on 4 x 64 bit lanes: the bits of a + b + c, as sum and carry. */
__attribute__((target("avx2")))
static inline void
full_add_avx2(__m256i a, __m256i b, __m256i c, __m256i *sum, __m256i *carry)
{
    __m256i  ab = _mm256_xor_si256(a, b);

    *sum = _mm256_xor_si256(ab, c);
    *carry = _mm256_or_si256(_mm256_and_si256(a, b), _mm256_and_si256(ab, c));
}

/* The 6 words w[] counted bit by bit over the cells of mask: the byte
 * counts of sum_k popcount(w[k] & mask) (at most 48 a byte).  Adders
 * first reduce the six words to three of weight 1, 2 and 4 (masked
 * after: a cell's sum is 0 where all its bits are), so three lookups
 * count them. */
__attribute__((target("avx2")))
static inline __m256i
popcount6_bytes_avx2(const __m256i w[6], __m256i mask)
{
    __m256i  s1, c1, s2, c2, ones, c3, twos, fours, n;

    full_add_avx2(w[0], w[1], w[2], &s1, &c1);
    full_add_avx2(w[3], w[4], w[5], &s2, &c2);
    ones = _mm256_xor_si256(s1, s2);
    c3 = _mm256_and_si256(s1, s2);
    full_add_avx2(c1, c2, c3, &twos, &fours);
    n = hm_popcount_bytes_avx2(_mm256_and_si256(fours, mask));
    n = _mm256_add_epi8(_mm256_add_epi8(n, n),
        hm_popcount_bytes_avx2(_mm256_and_si256(twos, mask)));
    return _mm256_add_epi8(_mm256_add_epi8(n, n),
        hm_popcount_bytes_avx2(_mm256_and_si256(ones, mask)));
}

/* The counts of 4 probe cylinders (rows: validity, then MCC_ND layers,
 * 8 words apart) against one candidate cylinder (vb, cb broadcast);
 * returns the lanes that pass mcc_cell_agreement()'s tests, as bits. */
__attribute__((target("avx2")))
static inline unsigned
cell_agreement_avx2(const uint64_t *rows, __m256i vb, const __m256i *cb,
    __m256i min_matchable, __m256i *differ, __m256i *total)
{
    const __m256i  zero = _mm256_setzero_si256();
    __m256i        mask, d[MCC_ND], e[MCC_ND], differ_b, both_b, fail;
    int            k;

    mask = _mm256_and_si256(_mm256_load_si256((const __m256i *) rows), vb);
    for (k = 0; k < MCC_ND; k++) {
        __m256i  x = _mm256_load_si256((const __m256i *) (rows + 8 * (1 + k)));

        d[k] = _mm256_xor_si256(x, cb[k]);
        e[k] = _mm256_and_si256(x, cb[k]);
    }
    differ_b = popcount6_bytes_avx2(d, mask);
    /* x & y needs no mask (bits lie only in valid cells) */
    both_b = popcount6_bytes_avx2(e, _mm256_set1_epi64x(-1));
    *differ = _mm256_sad_epu8(differ_b, zero);
    *total = _mm256_sad_epu8(_mm256_add_epi8(differ_b,
        _mm256_add_epi8(both_b, both_b)), zero);
    /* matchable < min_matchable, total == 0, or the similarity under
     * the floor: the lane fails */
    fail = _mm256_cmpgt_epi64(min_matchable,
        _mm256_sad_epu8(hm_popcount_bytes_avx2(mask), zero));
    fail = _mm256_or_si256(fail, _mm256_cmpeq_epi64(*total, zero));
    fail = _mm256_or_si256(fail, _mm256_cmpgt_epi64(
        _mm256_mul_epu32(*differ, _mm256_set1_epi64x(510)),
        _mm256_mul_epu32(*total, _mm256_set1_epi64x(511
            - 2 * MCC_MIN_LEVEL))));
    return ~(unsigned) _mm256_movemask_pd(_mm256_castsi256_pd(fail)) & 0xf;
}

/* Step 1 with 4 probe cylinders per vector (half a block of
 * probe->blocks) against one candidate cylinder (broadcast): the same
 * integer counts, tests and pair order as local_similarities(), like the
 * AVX-512 form.  Byte counts add up over the layers (at most 6 x 8 bits
 * differ, 6 x 16 for differ + 2 both: under 256) and one sum of absolute
 * differences per count turns them into 64-bit lanes.  A run's counts
 * are all computed before any pair leaves: no branch per block. */
__attribute__((target("avx2")))
static int
local_similarities_avx2(const struct hm_probe *probe, const uint8_t *cand,
    int cand_n, struct hm_scratch *s)
{
    const __m256i  min_matchable = _mm256_set1_epi64x(probe->min_matchable);
    int            b, r, k, runs, run[2][2], count = 0;
    uint64_t       differ_at[HM_MAX_MINUTIAE + 1 + 3];
    uint64_t       total_at[HM_MAX_MINUTIAE + 1 + 3];
    uint64_t       ok_at[(HM_MAX_MINUTIAE + 63) / 64];   /* bit a: passes */

    memset(s->level_count, 0, sizeof(s->level_count));
    for (b = 0; b < cand_n; b++) {
        const uint8_t  *rec = cand + MCC_HEADER_BYTES
            + (size_t) b * MCC_CYL_BYTES;
        __m256i         vb, cb[MCC_ND];

        s->cand_key[b] = point_key(rec);
        vb = _mm256_set1_epi64x((long long) mcc_load64(rec + 8));
        for (k = 0; k < MCC_ND; k++) {
            cb[k] = _mm256_set1_epi64x((long long) mcc_load64(rec + 16
                + 8 * k));
        }
        runs = mcc_direction_window(probe->first_at, probe->n, rec[4], run);
        for (r = 0; r < runs; r++) {
            int       from = run[r][0], to = run[r][1], w;
            unsigned  q;

            if (from >= to) {
                continue;
            }
            for (w = from / 64; w * 64 < to; w++) {
                ok_at[w] = 0;
            }
            /* quads of probe cylinders (half a block each) */
            for (q = (unsigned) from / 4; (int) q * 4 < to; q++) {
                const uint64_t  *rows = probe->blocks
                    + (size_t) (q / 2) * (1 + MCC_ND) * 8 + 4 * (q % 2);
                __m256i          differ, total;
                unsigned         ok;

                ok = cell_agreement_avx2(rows, vb, cb, min_matchable,
                    &differ, &total);
                _mm256_storeu_si256((__m256i *) (differ_at + 4 * q), differ);
                _mm256_storeu_si256((__m256i *) (total_at + 4 * q), total);
                ok_at[q / 16] |= (uint64_t) ok << 4 * (q % 16);
            }
            /* the pairs that pass, a ascending within the run */
            for (w = from / 64; w * 64 < to; w++) {
                uint64_t  ok = ok_at[w];

                if (w * 64 < from) {
                    ok &= ~0ULL << (from - w * 64);
                }
                if (to - w * 64 < 64) {
                    ok &= (1ULL << (to - w * 64)) - 1;
                }
                while (ok != 0) {
                    int  a = w * 64 + __builtin_ctzll(ok);

                    ok &= ok - 1;
                    count = keep_pair(s, count, a, b, (int) differ_at[a],
                        (int) total_at[a]);
                }
            }
        }
    }
    return count;
}
#endif

/* Order of the greedy choice: by similarity, and among equal ones by
 * their minutiae taken as an unordered pair, so that the choice is the
 * same whichever template is the probe (the similarity is symmetric). */
static inline int
pair_before(const struct pair *x, const struct pair *y,
    const struct hm_probe *probe, const struct hm_scratch *s)
{
    if (x->sim != y->sim) {
        return x->sim > y->sim;
    }
    return mcc_unordered_before(probe->key[x->a], s->cand_key[x->b],
        probe->key[y->a], s->cand_key[y->b]);
}

/* Counting sort by level, best first, each level then sorted by
 * pair_before(), and a greedy one-to-one choice. */
static int
choose_pairs(const struct hm_probe *probe, struct hm_scratch *s, int count,
    int limit)
{
    uint8_t  used_a[HM_MAX_MINUTIAE], used_b[HM_MAX_MINUTIAE];
    int      start[MCC_SIM_LEVELS], level, i, offset = 0, chosen = 0;

    for (level = MCC_SIM_LEVELS - 1; level >= MCC_MIN_LEVEL; level--) {
        start[level] = offset;
        offset += s->level_count[level];
    }
    for (i = 0; i < count; i++) {
        s->sorted[start[s->pairs[i].level]++] = s->pairs[i];
    }
    /* Greedy, level by level; within a level's run, the pairs still free
     * when it is reached go by pair_before() (the others would be skipped
     * in any order). */
    memset(used_a, 0, sizeof(used_a));
    memset(used_b, 0, sizeof(used_b));
    for (i = 0; i < count && chosen < limit; ) {
        struct pair  *free_ = s->pairs;     /* free once sorted */
        int           level_i = s->sorted[i].level, n = 0, j, k;

        for (; i < count && s->sorted[i].level == level_i; i++) {
            const struct pair  *p = &s->sorted[i];

            if (!used_a[p->a] && !used_b[p->b]) {
                free_[n++] = *p;
            }
        }
        for (j = 1; j < n; j++) {
            struct pair  v = free_[j];

            for (k = j - 1; k >= 0 && pair_before(&v, &free_[k], probe, s);
                 k--)
            {
                free_[k + 1] = free_[k];
            }
            free_[k + 1] = v;
        }
        for (j = 0; j < n && chosen < limit; j++) {
            const struct pair  *p = &free_[j];

            if (used_a[p->a] || used_b[p->b]) {
                continue;
            }
            used_a[p->a] = used_b[p->b] = 1;
            s->chosen[chosen++] = *p;
        }
    }
    return chosen;
}

/* rho of chosen pairs t < k both ways, where it is not negligible, and
 * each in the other's supporter list.  s->cand holds the candidate's
 * minutiae of the chosen pairs. */
static inline void
compatibility(const struct hm_probe *probe, struct hm_scratch *s, int nr,
    int t, int k)
{
    const struct mcc_point  *pa = probe->pt, *pb = s->cand;
    int    n = probe->n, at = s->chosen[t].a, ak = s->chosen[k].a;
    float  dx = pb[k].x - pb[t].x, dy = pb[k].y - pb[t].y;
    float  da = probe->dist[at * n + ak];
    float  db = sqrtf(dx * dx + dy * dy);
    /* Distortion grows with distance: the tolerance does too. */
    float  scale = 1.0f + (da + db) * (0.5f * RHO_DIST_REL);
    float  gap = fabsf(da - db);
    float  z1, z2, d1, d2, d3tk, d3kt, there, back;

    /* rho is read only where support_of[] points.  From d1 >= RHO_FAR,
     * Z1 < RHO_NEGLIGIBLE: tested without the division. */
    if (gap >= RHO_FAR * scale) {
        return;
    }
    d1 = gap / scale;
    z1 = lut_dist[(int) (d1 * LUT_DIST_STEPS)];
    d2 = angle_distance(pa[at].angle - pa[ak].angle,
        pb[t].angle - pb[k].angle);
    z2 = z1 * lut_angle2[(int) (d2 * LUT_ANGLE_STEPS)];
    if (z2 < RHO_NEGLIGIBLE) {
        return;         /* spare the arc tangent */
    }
    fast_atan2_both(dy, dx, &there, &back);
    d3tk = angle_distance(probe->radial[at * n + ak], there - pb[t].angle);
    d3kt = angle_distance(probe->radial[ak * n + at], back - pb[k].angle);
    s->rho[t * nr + k] = z2 * lut_angle3[(int) (d3tk * LUT_ANGLE_STEPS)];
    s->rho[k * nr + t] = z2 * lut_angle3[(int) (d3kt * LUT_ANGLE_STEPS)];
    s->support_of[t][s->supporters[t]++] = (uint8_t) k;
    s->support_of[k][s->supporters[k]++] = (uint8_t) t;
}

#ifdef HM_HAVE_AVX512
/* angle_distance() of 16 differences at once, bit for bit. */
__attribute__((target("avx512f")))
static inline __m512
angle_distance_avx512(__m512 difference)
{
    const __m512  two_pi = _mm512_set1_ps((float) (2.0 * M_PI));
    __m512        d = _mm512_abs_ps(difference);

    d = _mm512_mask_sub_ps(d, _mm512_cmp_ps_mask(d, two_pi, _CMP_GT_OQ), d,
        two_pi);
    d = _mm512_mask_sub_ps(d, _mm512_cmp_ps_mask(d, two_pi, _CMP_GT_OQ), d,
        two_pi);
    return _mm512_mask_sub_ps(d, _mm512_cmp_ps_mask(d,
        _mm512_set1_ps((float) M_PI), _CMP_GT_OQ), two_pi, d);
}

/* fast_atan2_both() of 16 vectors at once, bit for bit. */
__attribute__((target("avx512f")))
static inline void
atan2_both_avx512(__m512 y, __m512 x, __m512 *there, __m512 *back)
{
    const __m512  zero = _mm512_setzero_ps();
    const __m512  pi = _mm512_set1_ps(3.14159274f);
    const __m512i sign = _mm512_set1_epi32((int) 0x80000000u);
    __m512        ax = _mm512_abs_ps(x), ay = _mm512_abs_ps(y);
    __m512        lo = _mm512_min_ps(ax, ay), hi = _mm512_max_ps(ay, ax);
    __m512        a = _mm512_div_ps(lo, hi), sq = _mm512_mul_ps(a, a), r, rb;
    __mmask16     none = _mm512_cmp_ps_mask(hi, zero, _CMP_EQ_OQ);

    r = _mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(_mm512_sub_ps(
        _mm512_mul_ps(_mm512_add_ps(_mm512_mul_ps(
            _mm512_set1_ps(-0.0464964749f), sq), _mm512_set1_ps(0.15931422f)),
            sq), _mm512_set1_ps(0.327622764f)), sq), a), a);
    r = _mm512_mask_sub_ps(r, _mm512_cmp_ps_mask(ay, ax, _CMP_GT_OQ),
        _mm512_set1_ps(1.57079637f), r);
    rb = _mm512_mask_sub_ps(r, _mm512_cmp_ps_mask(x, zero, _CMP_GT_OQ), pi,
        r);
    r = _mm512_mask_sub_ps(r, _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ), pi, r);
    /* negated by the sign bit, as -r is; 0 where both are 0 */
    *there = _mm512_maskz_mov_ps((__mmask16) ~none, _mm512_castsi512_ps(
        _mm512_mask_xor_epi32(_mm512_castps_si512(r), _mm512_cmp_ps_mask(y,
            zero, _CMP_LT_OQ), _mm512_castps_si512(r), sign)));
    *back = _mm512_maskz_mov_ps((__mmask16) ~none, _mm512_castsi512_ps(
        _mm512_mask_xor_epi32(_mm512_castps_si512(rb), _mm512_cmp_ps_mask(y,
            zero, _CMP_GT_OQ), _mm512_castps_si512(rb), sign)));
}

/* The compatibilities with 16 pairs k per vector: the two tests that
 * reject most (distance gap, then Z1 Z2) computed as compatibility()
 * computes them, the same IEEE operations in the same order; the pairs
 * that pass go through compatibility() itself, in the same order. */
__attribute__((target("avx512f")))
static void
compatibilities_avx512(const struct hm_probe *probe, struct hm_scratch *s,
    int nr)
{
    const struct mcc_point  *pa = probe->pt, *pb = s->cand;
    float    bx[HM_MAX_MINUTIAE], by[HM_MAX_MINUTIAE];
    float    b_angle[HM_MAX_MINUTIAE], a_angle[HM_MAX_MINUTIAE];
    int32_t  a_index[HM_MAX_MINUTIAE];
    int            t, k;

    for (k = 0; k < nr; k++) {
        bx[k] = pb[k].x;
        by[k] = pb[k].y;
        b_angle[k] = pb[k].angle;
        a_index[k] = s->chosen[k].a;
        a_angle[k] = pa[a_index[k]].angle;
    }
    for (t = 0; t < nr - 1; t++) {
        const float  *dist_row = probe->dist + (size_t) a_index[t] * probe->n;
        const float  *radial_row = probe->radial
            + (size_t) a_index[t] * probe->n;
        const __m512  tx = _mm512_set1_ps(bx[t]), ty = _mm512_set1_ps(by[t]);
        const __m512  ta = _mm512_set1_ps(a_angle[t]);
        const __m512  tb = _mm512_set1_ps(b_angle[t]);

        for (k = t + 1; k < nr; k += 16) {
            __mmask16  pass = nr - k >= 16 ? 0xffff
                : (__mmask16) ((1u << (nr - k)) - 1);
            __m512     dx, dy, da, db, scale, gap, z, d, there, back;
            __m512i    index;
            float      rho_tk[16], rho_kt[16];

            dx = _mm512_sub_ps(_mm512_maskz_loadu_ps(pass, bx + k), tx);
            dy = _mm512_sub_ps(_mm512_maskz_loadu_ps(pass, by + k), ty);
            da = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), pass,
                _mm512_maskz_loadu_epi32(pass, a_index + k), dist_row, 4);
            db = _mm512_sqrt_ps(_mm512_add_ps(_mm512_mul_ps(dx, dx),
                _mm512_mul_ps(dy, dy)));
            scale = _mm512_add_ps(_mm512_set1_ps(1.0f), _mm512_mul_ps(
                _mm512_add_ps(da, db), _mm512_set1_ps(0.5f * RHO_DIST_REL)));
            gap = _mm512_abs_ps(_mm512_sub_ps(da, db));
            pass = _mm512_mask_cmp_ps_mask(pass, gap, _mm512_mul_ps(
                _mm512_set1_ps(RHO_FAR), scale), _CMP_LT_OQ);
            if (pass == 0) {
                continue;
            }
            z = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), pass,
                _mm512_cvttps_epi32(_mm512_mul_ps(_mm512_div_ps(gap, scale),
                    _mm512_set1_ps(LUT_DIST_STEPS))), lut_dist, 4);
            /* angle_distance(), lane by lane */
            d = _mm512_abs_ps(_mm512_sub_ps(
                _mm512_sub_ps(ta, _mm512_maskz_loadu_ps(pass, a_angle + k)),
                _mm512_sub_ps(tb, _mm512_maskz_loadu_ps(pass, b_angle + k))));
            d = angle_distance_avx512(d);
            z = _mm512_mul_ps(z, _mm512_mask_i32gather_ps(
                _mm512_setzero_ps(), pass, _mm512_cvttps_epi32(
                    _mm512_mul_ps(d, _mm512_set1_ps(LUT_ANGLE_STEPS))),
                lut_angle2, 4));
            pass = _mm512_mask_cmp_ps_mask(pass, z,
                _mm512_set1_ps(RHO_NEGLIGIBLE), _CMP_GE_OQ);
            if (pass == 0) {
                continue;
            }
            atan2_both_avx512(dy, dx, &there, &back);
            index = _mm512_maskz_loadu_epi32(pass, a_index + k);
            d = angle_distance_avx512(_mm512_sub_ps(
                _mm512_mask_i32gather_ps(_mm512_setzero_ps(), pass, index,
                    radial_row, 4), _mm512_sub_ps(there, tb)));
            _mm512_storeu_ps(rho_tk, _mm512_mul_ps(z, _mm512_mask_i32gather_ps(
                _mm512_setzero_ps(), pass, _mm512_cvttps_epi32(_mm512_mul_ps(
                    d, _mm512_set1_ps(LUT_ANGLE_STEPS))), lut_angle3, 4)));
            d = angle_distance_avx512(_mm512_sub_ps(
                _mm512_mask_i32gather_ps(_mm512_setzero_ps(), pass,
                    _mm512_add_epi32(_mm512_mullo_epi32(index,
                        _mm512_set1_epi32(probe->n)),
                        _mm512_set1_epi32(a_index[t])), probe->radial, 4),
                _mm512_sub_ps(back, _mm512_maskz_loadu_ps(pass,
                    b_angle + k))));
            _mm512_storeu_ps(rho_kt, _mm512_mul_ps(z, _mm512_mask_i32gather_ps(
                _mm512_setzero_ps(), pass, _mm512_cvttps_epi32(_mm512_mul_ps(
                    d, _mm512_set1_ps(LUT_ANGLE_STEPS))), lut_angle3, 4)));
            while (pass != 0) {
                int  lane = __builtin_ctz(pass), kk = k + lane;

                pass &= (__mmask16) (pass - 1);
                s->rho[t * nr + kk] = rho_tk[lane];
                s->rho[kk * nr + t] = rho_kt[lane];
                s->support_of[t][s->supporters[t]++] = (uint8_t) kk;
                s->support_of[kk][s->supporters[kk]++] = (uint8_t) t;
            }
        }
    }
}
#endif

#ifdef HM_HAVE_AVX2
/* |v| for 8 floats: the sign bit cleared, as fabsf() does. */
__attribute__((target("avx2")))
static inline __m256
abs_avx2(__m256 v)
{
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

/* angle_distance() of 8 differences at once, bit for bit. */
__attribute__((target("avx2")))
static inline __m256
angle_distance_avx2(__m256 difference)
{
    const __m256  two_pi = _mm256_set1_ps((float) (2.0 * M_PI));
    __m256        d = abs_avx2(difference);

    d = _mm256_blendv_ps(d, _mm256_sub_ps(d, two_pi),
        _mm256_cmp_ps(d, two_pi, _CMP_GT_OQ));
    d = _mm256_blendv_ps(d, _mm256_sub_ps(d, two_pi),
        _mm256_cmp_ps(d, two_pi, _CMP_GT_OQ));
    return _mm256_blendv_ps(d, _mm256_sub_ps(two_pi, d),
        _mm256_cmp_ps(d, _mm256_set1_ps((float) M_PI), _CMP_GT_OQ));
}

/* fast_atan2_both() of 8 vectors at once, bit for bit. */
__attribute__((target("avx2")))
static inline void
atan2_both_avx2(__m256 y, __m256 x, __m256 *there, __m256 *back)
{
    const __m256  zero = _mm256_setzero_ps();
    const __m256  pi = _mm256_set1_ps(3.14159274f);
    const __m256  sign = _mm256_set1_ps(-0.0f);
    __m256        ax = abs_avx2(x), ay = abs_avx2(y);
    __m256        lo = _mm256_min_ps(ax, ay), hi = _mm256_max_ps(ay, ax);
    __m256        a = _mm256_div_ps(lo, hi), sq = _mm256_mul_ps(a, a), r, rb;
    __m256        none = _mm256_cmp_ps(hi, zero, _CMP_EQ_OQ);

    r = _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(
        _mm256_mul_ps(_mm256_add_ps(_mm256_mul_ps(
            _mm256_set1_ps(-0.0464964749f), sq), _mm256_set1_ps(0.15931422f)),
            sq), _mm256_set1_ps(0.327622764f)), sq), a), a);
    r = _mm256_blendv_ps(r, _mm256_sub_ps(_mm256_set1_ps(1.57079637f), r),
        _mm256_cmp_ps(ay, ax, _CMP_GT_OQ));
    rb = _mm256_blendv_ps(r, _mm256_sub_ps(pi, r),
        _mm256_cmp_ps(x, zero, _CMP_GT_OQ));
    r = _mm256_blendv_ps(r, _mm256_sub_ps(pi, r),
        _mm256_cmp_ps(x, zero, _CMP_LT_OQ));
    /* negated by the sign bit, as -r is; 0 where both are 0 */
    *there = _mm256_andnot_ps(none, _mm256_xor_ps(r, _mm256_and_ps(sign,
        _mm256_cmp_ps(y, zero, _CMP_LT_OQ))));
    *back = _mm256_andnot_ps(none, _mm256_xor_ps(rb, _mm256_and_ps(sign,
        _mm256_cmp_ps(y, zero, _CMP_GT_OQ))));
}

/* The compatibilities with 8 pairs k per vector, as
 * compatibilities_avx512() computes them: the distance gap and Z1 Z2
 * tests, then both arc tangents, radial angles and Z3, the same IEEE
 * operations in the same order as compatibility(); lookups by gather
 * (masked: only the lanes still in); supporter lists lane by lane. */
__attribute__((target("avx2")))
static void
compatibilities_avx2(const struct hm_probe *probe, struct hm_scratch *s,
    int nr)
{
    const struct mcc_point  *pa = probe->pt, *pb = s->cand;
    /* 8 more each: a vector from any k < nr stays inside */
    float    bx[HM_MAX_MINUTIAE + 8], by[HM_MAX_MINUTIAE + 8];
    float    b_angle[HM_MAX_MINUTIAE + 8], a_angle[HM_MAX_MINUTIAE + 8];
    int32_t  a_index[HM_MAX_MINUTIAE + 8];
    int      t, k;

    for (k = 0; k < nr + 8; k++) {
        bx[k] = k < nr ? pb[k].x : 0.0f;
        by[k] = k < nr ? pb[k].y : 0.0f;
        b_angle[k] = k < nr ? pb[k].angle : 0.0f;
        a_index[k] = k < nr ? s->chosen[k].a : 0;
        a_angle[k] = k < nr ? pa[a_index[k]].angle : 0.0f;
    }
    for (t = 0; t < nr - 1; t++) {
        const float  *dist_row = probe->dist + (size_t) a_index[t] * probe->n;
        const float  *radial_row = probe->radial
            + (size_t) a_index[t] * probe->n;
        const __m256  tx = _mm256_set1_ps(bx[t]), ty = _mm256_set1_ps(by[t]);
        const __m256  ta = _mm256_set1_ps(a_angle[t]);
        const __m256  tb = _mm256_set1_ps(b_angle[t]);

        for (k = t + 1; k < nr; k += 8) {
            __m256   pass, dx, dy, da, db, scale, gap, z, d, there, back, bk;
            __m256i  index;
            unsigned lanes;
            float    rho_tk[8], rho_kt[8];

            pass = _mm256_castsi256_ps(_mm256_cmpgt_epi32(
                _mm256_set1_epi32(nr - k),
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
            index = _mm256_loadu_si256((const __m256i *) (a_index + k));
            dx = _mm256_sub_ps(_mm256_loadu_ps(bx + k), tx);
            dy = _mm256_sub_ps(_mm256_loadu_ps(by + k), ty);
            da = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), dist_row,
                index, pass, 4);
            db = _mm256_sqrt_ps(_mm256_add_ps(_mm256_mul_ps(dx, dx),
                _mm256_mul_ps(dy, dy)));
            scale = _mm256_add_ps(_mm256_set1_ps(1.0f), _mm256_mul_ps(
                _mm256_add_ps(da, db), _mm256_set1_ps(0.5f * RHO_DIST_REL)));
            gap = abs_avx2(_mm256_sub_ps(da, db));
            /* out where gap >= RHO_FAR * scale */
            pass = _mm256_and_ps(pass, _mm256_cmp_ps(gap, _mm256_mul_ps(
                _mm256_set1_ps(RHO_FAR), scale), _CMP_NGE_UQ));
            if (_mm256_movemask_ps(pass) == 0) {
                continue;
            }
            z = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), lut_dist,
                _mm256_cvttps_epi32(_mm256_mul_ps(_mm256_div_ps(gap, scale),
                    _mm256_set1_ps(LUT_DIST_STEPS))), pass, 4);
            bk = _mm256_loadu_ps(b_angle + k);
            d = angle_distance_avx2(_mm256_sub_ps(
                _mm256_sub_ps(ta, _mm256_loadu_ps(a_angle + k)),
                _mm256_sub_ps(tb, bk)));
            z = _mm256_mul_ps(z, _mm256_mask_i32gather_ps(
                _mm256_setzero_ps(), lut_angle2, _mm256_cvttps_epi32(
                    _mm256_mul_ps(d, _mm256_set1_ps(LUT_ANGLE_STEPS))),
                pass, 4));
            /* out where z < RHO_NEGLIGIBLE */
            pass = _mm256_and_ps(pass, _mm256_cmp_ps(z,
                _mm256_set1_ps(RHO_NEGLIGIBLE), _CMP_NLT_UQ));
            lanes = (unsigned) _mm256_movemask_ps(pass);
            if (lanes == 0) {
                continue;
            }
            atan2_both_avx2(dy, dx, &there, &back);
            d = angle_distance_avx2(_mm256_sub_ps(
                _mm256_mask_i32gather_ps(_mm256_setzero_ps(), radial_row,
                    index, pass, 4), _mm256_sub_ps(there, tb)));
            _mm256_storeu_ps(rho_tk, _mm256_mul_ps(z, _mm256_mask_i32gather_ps(
                _mm256_setzero_ps(), lut_angle3, _mm256_cvttps_epi32(
                    _mm256_mul_ps(d, _mm256_set1_ps(LUT_ANGLE_STEPS))),
                pass, 4)));
            d = angle_distance_avx2(_mm256_sub_ps(
                _mm256_mask_i32gather_ps(_mm256_setzero_ps(), probe->radial,
                    _mm256_add_epi32(_mm256_mullo_epi32(index,
                        _mm256_set1_epi32(probe->n)),
                        _mm256_set1_epi32(a_index[t])), pass, 4),
                _mm256_sub_ps(back, bk)));
            _mm256_storeu_ps(rho_kt, _mm256_mul_ps(z, _mm256_mask_i32gather_ps(
                _mm256_setzero_ps(), lut_angle3, _mm256_cvttps_epi32(
                    _mm256_mul_ps(d, _mm256_set1_ps(LUT_ANGLE_STEPS))),
                pass, 4)));
            while (lanes != 0) {
                int  lane = __builtin_ctz(lanes), kk = k + lane;

                lanes &= lanes - 1;
                s->rho[t * nr + kk] = rho_tk[lane];
                s->rho[kk * nr + t] = rho_kt[lane];
                s->support_of[t][s->supporters[t]++] = (uint8_t) kk;
                s->support_of[kk][s->supporters[kk]++] = (uint8_t) t;
            }
        }
    }
}
#endif

/* Step 2: LSS-R relaxation over the chosen pairs; returns the score. */
static double
relax(const struct hm_probe *probe, const uint8_t *cand, struct hm_scratch *s,
    int nr, int np, int population)
{
    struct mcc_point        *pb = s->cand;
    float                   *cur, *next;
    int                      t, k, r, i;
    double                   score = 0.0;

    for (t = 0; t < nr; t++) {
        mcc_point_decode(cand + MCC_HEADER_BYTES
            + (size_t) s->chosen[t].b * MCC_CYL_BYTES, &pb[t]);
    }
    memset(s->supporters, 0, sizeof(s->supporters));
#ifdef HM_HAVE_AVX512
    if (compare_isa.on == HM_ISA_AVX512) {
        compatibilities_avx512(probe, s, nr);
    } else
#endif
#ifdef HM_HAVE_AVX2
    if (compare_isa.on == HM_ISA_AVX2) {
        compatibilities_avx2(probe, s, nr);
    } else
#endif
    for (t = 0; t < nr; t++) {
        for (k = t + 1; k < nr; k++) {
            compatibility(probe, s, nr, t, k);
        }
    }

    cur = s->lambda[0];
    next = s->lambda[1];
    for (t = 0; t < nr; t++) {
        cur[t] = s->chosen[t].sim;
    }
    for (r = 0; r < RELAX_ROUNDS; r++) {
        for (t = 0; t < nr; t++) {
            float  support = 0.0f;

            /* Only the pairs compatible with t: rho is sparse. */
            for (i = 0; i < s->supporters[t]; i++) {
                k = s->support_of[t][i];
                support += s->rho[t * nr + k] * cur[k];
            }
            next[t] = RELAX_W * cur[t] + (1.0f - RELAX_W) * support
                / (float) (population > 1 ? population - 1 : 1);
        }
        float  *swap = cur;
        cur = next;
        next = swap;
    }

    /* The n_P pairs of highest efficiency (relaxed / initial). */
    for (t = 0; t < nr; t++) {
        s->efficiency[t] = cur[t] / s->chosen[t].sim;
        s->order[t] = (uint8_t) t;
    }
    for (i = 0; i < np && i < nr; i++) {
        int  best = i;

        for (t = i + 1; t < nr; t++) {
            if (s->efficiency[s->order[t]] > s->efficiency[s->order[best]]) {
                best = t;
            }
        }
        uint8_t  o = s->order[best];
        s->order[best] = s->order[i];
        s->order[i] = o;
        score += cur[o];
        s->relaxed[o] = cur[o];
    }
    return score / np;
}

double
hm_compare(const struct hm_probe *probe, const uint8_t *candidate,
    size_t len, struct hm_scratch *scratch)
{
    struct mcc_header  h;
    int                count, nr, np, smaller, k, t, na, nb;
    double             mcc, g, nbs = 0.0;
    struct mcc_point   pa[HM_MAX_MINUTIAE], pb[HM_MAX_MINUTIAE];
    float              w[HM_MAX_MINUTIAE];
    struct align_result  res;
    const uint8_t     *rec;

    if (probe == NULL || scratch == NULL
        || mcc_header_read(candidate, len, &h) != 0
        || probe->n == 0 || h.cylinders == 0)
    {
        return 0.0;
    }
#ifdef HM_HAVE_AVX512
    if (compare_isa.on == HM_ISA_AVX512) {
        count = local_similarities_avx512(probe, candidate, h.cylinders,
            scratch);
    } else
#endif
#ifdef HM_HAVE_AVX2
    if (compare_isa.on == HM_ISA_AVX2) {
        count = local_similarities_avx2(probe, candidate, h.cylinders,
            scratch);
    } else
#endif
    {
        count = local_similarities(probe, candidate, h.cylinders, scratch);
    }
    smaller = probe->n < h.cylinders ? probe->n : h.cylinders;
    nr = choose_pairs(probe, scratch, count, smaller);
    if (nr == 0) {
        return 0.0;
    }
    np = mcc_np(smaller);
    mcc = relax(probe, candidate, scratch, nr, np, smaller);
    /* The second local descriptor (neighbours.h) on the n_P pairs LSS-R
     * kept: do their nearest neighbours agree too? */
    rec = candidate + MCC_HEADER_BYTES + (size_t) h.cylinders * MCC_CYL_BYTES
        + (size_t) h.minutiae * MCC_MINUTIA_BYTES;
    for (t = 0; t < np && t < nr; t++) {
        const struct pair  *p = &scratch->chosen[scratch->order[t]];

        nbs += nb_similarity(probe->nb + (size_t) p->a * MCC_NB_BYTES,
            rec + (size_t) p->b * MCC_NB_BYTES);
    }
    nbs /= np;

    k = GLOBAL_ANCHORS < np ? GLOBAL_ANCHORS : np;
    k = k < nr ? k : nr;
    for (t = 0; t < k; t++) {
        int  o = scratch->order[t];

        pa[t] = probe->pt[scratch->chosen[o].a];
        pb[t] = scratch->cand[o];
        w[t] = scratch->relaxed[o];
    }
    rec = candidate + MCC_HEADER_BYTES + (size_t) h.cylinders * MCC_CYL_BYTES;
    for (t = 0; t < h.minutiae; t++) {
        mcc_point_decode(rec + (size_t) t * MCC_MINUTIA_BYTES,
            &scratch->cand_all[t]);
    }
    align_consolidate(&probe->grid, scratch->cand_all, h.minutiae, pa, pb,
        w, k, &scratch->align, &res);
    /* Pairing score: pairs^2 / ((overlap_a + c) x (overlap_b + c)), the
     * pairs weighted (align.h: different types and the refit's gain
     * count less).  The
     * pseudo-count c shrinks the share of a small overlap most: 9 pairs of
     * 12 minutiae, which chance and look-alike prints reach, score 0.41
     * instead of 0.56, 30 of 40 0.51 instead of 0.56. */
    na = res.overlap_a + GLOBAL_PSEUDO_COUNT;
    nb = res.overlap_b + GLOBAL_PSEUDO_COUNT;
    g = (double) res.weighted * res.weighted / ((double) na * nb);
    g = g > 1.0 ? 1.0 : g;
    /* Weighted geometric mean, S_MCC^0.4 S_G^0.4 S_NB^0.2: any kind of
     * evidence missing sinks the score. */
    return pow(mcc * mcc * g * g * nbs, 0.2);
}
