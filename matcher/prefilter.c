/*
 * prefilter.c -- the 1:N pre-filter: coarse cylinder signatures and a
 * local-similarity-only score (MCC "LSS" without relaxation).
 *
 * Owns: the signature bytes, the prepared query and the top-K scan
 * (prefilter.h).  After R. Cappelli, M. Ferrara, D. Maltoni, "Minutia
 * Cylinder-Code", IEEE TPAMI 32(12), 2010 (local similarity sort) and
 * "Fingerprint indexing based on Minutia Cylinder-Code", IEEE TPAMI 33(5),
 * 2011 (cylinders as the indexing unit).  Each of the first PF_CYL valid
 * cylinders of a stored template is pooled to 96 bits: the 8 x 8 spatial
 * cells OR-ed in 2 x 2 blocks (4 x 4) in each of the 6 direction layers,
 * which tolerates the distortion that makes bit-exact hashing of cylinders
 * (MCC-LSH) useless on this data (measured: mates ranked past 50% of a
 * gallery).  The score of a probe against a signature is, for every probe
 * cylinder, the best Dice similarity 2|a&b| / (|a|+|b|) over the
 * signature's cylinders whose direction is within 60 degrees, and then
 * the mean of the PF_NP best of those maxima.
 *
 * Signature layout (HM_SIG_BYTES = 512, little-endian, structure of arrays
 * so that 16 cylinders are one AVX-512 vector):
 *   0    uint32 w[3][PF_CYL]   pooled bits: layers 0-1, 2-3, 4-5
 *   384  uint8  count[PF_CYL]  bits set in the 96
 *   416  uint8  angle[PF_CYL]  minutia direction, 360/256 degree units
 *   448  uint8  cylinders, uint8 HM_SIG_VERSION, then zeros to 512
 * Unused cylinder slots are all zero and never score.  An all-zero
 * signature (free slot) scores 0.
 *
 * Cost: up to PF_CYL x probe cylinders Dice pairs per signature, 16 per
 * AVX-512 instruction (VPOPCNTDQ; the probe's cylinders in direction
 * order, so each vector visits only the signature cylinders its direction
 * range may pair with), 8 per AVX2 one, or scalar popcnt, chosen at run
 * time (HUELLA_PREFILTER_ISA=avx2|scalar caps the choice, for benchmarks;
 * AVX-512 also needs BW and VL).  Measured on this 2-core EPYC: ~130 ns
 * per signature with AVX-512 cache-hot, ~170 inside huellad streaming the
 * map; ~600 AVX2, ~850 scalar.
 *
 * The query also carries the probe for the first re-rank stage
 * (hm_sigquery_rerank_score(), compare_lite.h) and its default size
 * (hm_sig_default_rerank()).
 */

#include "prefilter.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "compare_lite.h"
#include "isa.h"
#include "match.h"
#include "mcc.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PF_HAVE_AVX512 1
#endif

#define PF_CYL        32        /* cylinders kept per signature */
#define PF_PROBE_CYL  64        /* cylinders used from a probe */
#define PF_NP         12        /* probe maxima averaged */
#define PF_MAX_TURN   43        /* 60 degrees in 360/256 units */

#define PF_OFF_COUNT  384
#define PF_OFF_ANGLE  416
#define PF_OFF_N      448
#define PF_OFF_VER    449

struct hm_sigquery {
    /* SIMD lanes: per 16 probe cylinders, w0 w1 w2, angle + PF_MAX_TURN,
     * count (at least 1), 16 x int32 each. */
    int32_t   vw[PF_PROBE_CYL / 16][5 * 16];
    int       n;
    /* Cylinders are in direction order, so each vector of 16 spans a
     * narrow range of directions: a signature cylinder of direction d
     * can match one of its lanes only if (d - vfrom[v]) mod 256 <=
     * vspan[v] (PF_MAX_TURN either side; 255: any). */
    uint8_t   vfrom[PF_PROBE_CYL / 16], vspan[PF_PROBE_CYL / 16];
    struct hm_lite_probe *lite;   /* the first re-rank stage's probe */
    uint32_t  w[3][PF_PROBE_CYL];
    uint8_t   count[PF_PROBE_CYL];
    uint8_t   angle[PF_PROBE_CYL];
};

static pthread_once_t  pf_once = PTHREAD_ONCE_INIT;
static int             pf_simd;

/* 2: AVX-512 with VPOPCNTDQ, 1: AVX2, 0: scalar; HUELLA_PREFILTER_ISA=
 * avx2|scalar caps it (benchmarks of the fallbacks). */
static void
pf_init(void)
{
#ifdef PF_HAVE_AVX512
    const char  *cap = getenv("HUELLA_PREFILTER_ISA");

    __builtin_cpu_init();
    pf_simd = __builtin_cpu_supports("avx512f")
        && __builtin_cpu_supports("avx512vpopcntdq")
        && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl") ? 2
        : __builtin_cpu_supports("avx2") ? 1 : 0;
    if (cap != NULL && strcmp(cap, "scalar") == 0) {
        pf_simd = 0;
    } else if (cap != NULL && strcmp(cap, "avx2") == 0 && pf_simd > 1) {
        pf_simd = 1;
    }
#endif

}

/* 96-bit pooled code of one cylinder record. */
static void
pf_pool(const uint8_t *rec, uint32_t w[3])
{
    unsigned  k, cell;

    w[0] = w[1] = w[2] = 0;
    for (k = 0; k < MCC_ND; k++) {
        uint64_t  layer = mcc_load64(rec + 16 + 8 * k);

        while (layer) {
            cell = (unsigned) __builtin_ctzll(layer);
            layer &= layer - 1;
            /* cell = i * 8 + j -> pooled (i / 2) * 4 + j / 2 */
            w[k / 2] |= (uint32_t) 1 << ((k % 2) * 16
                + (cell / 16) * 4 + (cell % 8) / 2);
        }
    }
}

/* Fills up to cap cylinders; -1 if stored is malformed. */
static int
pf_decode(const uint8_t *stored, size_t len, unsigned cap,
    uint32_t *w0, uint32_t *w1, uint32_t *w2, uint8_t *count,
    uint8_t *angle, unsigned *n)
{
    struct mcc_header  h;
    unsigned           c;

    *n = 0;
    if (mcc_header_read(stored, len, &h) != 0) {
        return -1;
    }
    for (c = 0; c < h.cylinders && c < cap; c++) {
        const uint8_t  *rec = stored + MCC_HEADER_BYTES
            + (size_t) c * MCC_CYL_BYTES;
        uint32_t        w[3];

        pf_pool(rec, w);
        w0[c] = w[0];
        w1[c] = w[1];
        w2[c] = w[2];
        count[c] = (uint8_t) (__builtin_popcount(w[0])
            + __builtin_popcount(w[1]) + __builtin_popcount(w[2]));
        angle[c] = rec[4];
    }
    *n = c;
    return 0;
}

size_t
hm_signature_size(void)
{
    return HM_SIG_BYTES;
}

static void
put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) v;
    p[1] = (uint8_t) (v >> 8);
    p[2] = (uint8_t) (v >> 16);
    p[3] = (uint8_t) (v >> 24);
}

int
hm_signature_from_stored(const uint8_t *stored, size_t len, uint8_t *sig)
{
    uint32_t  w[3][PF_CYL];
    uint8_t   count[PF_CYL], angle[PF_CYL];
    unsigned  n, c, i;

    if (sig == NULL) {
        return -1;
    }
    memset(sig, 0, HM_SIG_BYTES);
    if (pf_decode(stored, len, PF_CYL, w[0], w[1], w[2], count, angle, &n)
        != 0)
    {
        return -1;
    }
    for (c = 0; c < n; c++) {
        for (i = 0; i < 3; i++) {
            put32(sig + 4 * (i * PF_CYL + c), w[i][c]);
        }
        sig[PF_OFF_COUNT + c] = count[c];
        sig[PF_OFF_ANGLE + c] = angle[c];
    }
    sig[PF_OFF_N] = (uint8_t) n;
    sig[PF_OFF_VER] = (uint8_t) HM_SIG_VERSION;
    return 0;
}

int
hm_signature_from_fingerprint(const struct hm_fingerprint *fp, uint8_t *sig)
{
    uint8_t  *stored = malloc(HM_STORED_MAX);
    char      err[128];
    long      n;
    int       rc = -1;

    if (sig == NULL) {
        free(stored);
        return -1;
    }
    memset(sig, 0, HM_SIG_BYTES);
    if (stored == NULL || fp == NULL) {
        free(stored);
        return -1;
    }
    n = hm_encode(fp, stored, HM_STORED_MAX, err, sizeof(err));
    if (n > 0) {
        rc = hm_signature_from_stored(stored, (size_t) n, sig);
    }
    free(stored);
    return rc;
}

/* Fills q's SIMD lanes from n decoded cylinders (w[i][c], count[c],
 * angle[c]). */
static void
pf_query_fill(struct hm_sigquery *q, const uint32_t *w0, const uint32_t *w1,
    const uint32_t *w2, const uint8_t *count, const uint8_t *angle,
    unsigned n)
{
    unsigned  i, v;

    q->n = (int) n;
    for (i = 0; i < n; i++) {
        int32_t  *lane = q->vw[i / 16];

        q->w[0][i] = w0[i];
        q->w[1][i] = w1[i];
        q->w[2][i] = w2[i];
        q->count[i] = count[i];
        q->angle[i] = angle[i];
        lane[i % 16] = (int32_t) w0[i];
        lane[16 + i % 16] = (int32_t) w1[i];
        lane[32 + i % 16] = (int32_t) w2[i];
        lane[48 + i % 16] = angle[i] + PF_MAX_TURN;
        lane[64 + i % 16] = count[i] > 0 ? count[i] : 1;
    }
    for (; i < PF_PROBE_CYL; i++) {
        q->vw[i / 16][64 + i % 16] = 1;     /* padding: never 1 / 0 */
    }
    for (v = 0; v < PF_PROBE_CYL / 16; v++) {
        unsigned  first = 16 * v, last = 16 * v + 15, span;

        if (first >= n) {
            q->vfrom[v] = 0;
            q->vspan[v] = 0;
            continue;
        }
        last = last < n ? last : n - 1;
        span = (unsigned) angle[last] - angle[first] + 2 * PF_MAX_TURN;
        q->vfrom[v] = (uint8_t) (angle[first] - PF_MAX_TURN);
        q->vspan[v] = (uint8_t) (span > 255 ? 255 : span);
    }
}

/* Insertion sort of n decoded cylinders by direction (stable); a score
 * does not depend on the probe cylinders' order. */
static void
pf_sort_by_direction(uint32_t *w0, uint32_t *w1, uint32_t *w2,
    uint8_t *count, uint8_t *angle, unsigned n)
{
    unsigned  i, j;

    for (i = 1; i < n; i++) {
        uint32_t  x0 = w0[i], x1 = w1[i], x2 = w2[i];
        uint8_t   c = count[i], a = angle[i];

        for (j = i; j > 0 && angle[j - 1] > a; j--) {
            w0[j] = w0[j - 1];
            w1[j] = w1[j - 1];
            w2[j] = w2[j - 1];
            count[j] = count[j - 1];
            angle[j] = angle[j - 1];
        }
        w0[j] = x0;
        w1[j] = x1;
        w2[j] = x2;
        count[j] = c;
        angle[j] = a;
    }
}

static struct hm_sigquery *
pf_query_alloc(void)
{
    struct hm_sigquery  *q;

    if (posix_memalign((void **) &q, 64, sizeof(*q)) != 0) {
        return NULL;
    }
    memset(q, 0, sizeof(*q));
    return q;
}

struct hm_sigquery *
hm_sigquery_new(const uint8_t *probe_stored, size_t len)
{
    struct hm_sigquery  *q;
    uint32_t             w[3][PF_PROBE_CYL];
    uint8_t              count[PF_PROBE_CYL], angle[PF_PROBE_CYL];
    unsigned             n;

    pthread_once(&pf_once, pf_init);
    q = pf_query_alloc();
    if (q == NULL) {
        return NULL;
    }
    if (pf_decode(probe_stored, len, PF_PROBE_CYL, w[0], w[1], w[2],
            count, angle, &n) != 0)
    {
        free(q);
        return NULL;
    }
    pf_sort_by_direction(w[0], w[1], w[2], count, angle, n);
    pf_query_fill(q, w[0], w[1], w[2], count, angle, n);
    q->lite = hm_lite_probe_new(probe_stored, len);
    if (q->lite == NULL) {
        free(q);
        return NULL;
    }
    return q;
}

void
hm_sigquery_free(struct hm_sigquery *q)
{
    if (q != NULL) {
        hm_lite_probe_free(q->lite);
    }
    free(q);
}

/* A local similarity in [0, 1] as one of 256 levels. */
static inline int
pf_level(float sim)
{
    return (int) fmaf(sim, 255.0f, 0.5f);     /* as the SIMD path */
}

/* Score from the probe cylinders' best levels: the mean of the PF_NP
 * largest, as 16.16 fixed point of a similarity. */
static uint32_t
pf_top_mean(const int *level, int n)
{
    int       hist[256] = { 0 }, i, np = n < PF_NP ? n : PF_NP, left, top = 0;
    uint32_t  sum = 0;

    if (np == 0) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        hist[level[i]]++;
        top = level[i] > top ? level[i] : top;
    }
    for (i = top, left = np; left > 0; i--) {
        int  take = hist[i] < left ? hist[i] : left;

        sum += (uint32_t) (take * i);
        left -= take;
    }
    return (uint32_t) ((uint64_t) sum * 65536 / (255u * (unsigned) np));
}

static uint32_t
pf_score_scalar(const struct hm_sigquery *q, const uint8_t *sig)
{
    uint32_t  w[3][PF_CYL];
    int       m[PF_PROBE_CYL];
    int       a, b, n = sig[PF_OFF_N] < PF_CYL ? sig[PF_OFF_N] : PF_CYL;

    for (b = 0; b < n; b++) {
        w[0][b] = mcc_le32(sig + 4 * b);
        w[1][b] = mcc_le32(sig + 4 * (PF_CYL + b));
        w[2][b] = mcc_le32(sig + 4 * (2 * PF_CYL + b));
    }
    for (a = 0; a < q->n; a++) {
        float  best = 0.0f;

        for (b = 0; b < n; b++) {
            unsigned  d = (unsigned) (q->angle[a] - sig[PF_OFF_ANGLE + b])
                & 255;
            int       both, total;
            float     sim;

            if ((d < 256 - d ? d : 256 - d) > PF_MAX_TURN) {
                continue;
            }
            both = __builtin_popcount(q->w[0][a] & w[0][b])
                + __builtin_popcount(q->w[1][a] & w[1][b])
                + __builtin_popcount(q->w[2][a] & w[2][b]);
            total = q->count[a] + sig[PF_OFF_COUNT + b];
            sim = (float) (2 * both) / (float) (total > 0 ? total : 1);
            best = sim > best ? sim : best;
        }
        m[a] = pf_level(best);
    }
    return pf_top_mean(m, q->n);
}

#ifdef PF_HAVE_AVX512
/* The same with 16 probe cylinders per vector (lanes) against one
 * signature cylinder at a time (broadcast): the per-lane running maximum
 * needs no horizontal reduction.  1 / total comes from vrcp14ps refined by
 * one Newton step (relative error ~1e-7, where the scalar path divides):
 * scores may differ from the scalar path's in the last fixed-point bits. */
__attribute__((target("avx512f,avx512vpopcntdq,avx512bw,avx512vl")))
static uint32_t
pf_score_avx512(const struct hm_sigquery *q, const uint8_t *sig)
{
    __m512   best[PF_PROBE_CYL / 16];
    int      v, b, nv = (q->n + 15) / 16;
    int      n = sig[PF_OFF_N] < PF_CYL ? sig[PF_OFF_N] : PF_CYL;
    const __m512i  byte = _mm512_set1_epi32(255);
    const __m512i  window = _mm512_set1_epi32(2 * PF_MAX_TURN);
    const __m512   two = _mm512_set1_ps(2.0f);

    /* Per vector of 16 probe cylinders, only the signature cylinders
     * within PF_MAX_TURN of some of its lanes (the lanes are in direction
     * order, so a vector spans a narrow range of directions; the mask
     * below still decides per lane).  Vectors of 8 would cut finer but
     * cost more in per-cylinder broadcasts than they save (measured). */
    const __m256i  sig_angles = _mm256_loadu_si256((const __m256i *)
        (sig + PF_OFF_ANGLE));
    const uint32_t  live = n >= 32 ? 0xffffffffu : (1u << n) - 1;

    for (v = 0; v < nv; v++) {
        const int32_t  *qw = (const int32_t *) q->vw[v];
        const __m512i   qw0 = _mm512_load_si512(qw);
        const __m512i   qw1 = _mm512_load_si512(qw + 16);
        const __m512i   qw2 = _mm512_load_si512(qw + 32);
        const __m512i   qwa = _mm512_load_si512(qw + 48);
        const __m512i   qwc = _mm512_load_si512(qw + 64);
        __m512          acc = _mm512_setzero_ps();
        uint32_t        bm = live & (uint32_t) _mm256_cmple_epu8_mask(
            _mm256_sub_epi8(sig_angles, _mm256_set1_epi8(
                (char) q->vfrom[v])), _mm256_set1_epi8((char) q->vspan[v]));

        while (bm != 0) {
            b = __builtin_ctz(bm);
            bm &= bm - 1;
            __m512i    both = _mm512_add_epi32(
                _mm512_popcnt_epi32(_mm512_and_si512(qw0,
                    _mm512_set1_epi32((int) mcc_le32(sig + 4 * b)))),
                _mm512_add_epi32(
                    _mm512_popcnt_epi32(_mm512_and_si512(qw1,
                        _mm512_set1_epi32((int) mcc_le32(sig
                            + 4 * (PF_CYL + b))))),
                    _mm512_popcnt_epi32(_mm512_and_si512(qw2,
                        _mm512_set1_epi32((int) mcc_le32(sig
                            + 4 * (2 * PF_CYL + b)))))));
            /* (qa + 43 - ca) mod 256 <= 86: directions within 60 deg.
             * ca and cc are broadcast as the 4 bytes from theirs (a
             * memory operand, no scalar load): the 3 bytes after them
             * vanish in the & 255 (qc + cc <= 192 carries nothing). */
            __mmask16  ok = _mm512_cmple_epu32_mask(_mm512_and_si512(
                _mm512_sub_epi32(qwa, _mm512_set1_epi32((int) mcc_le32(
                    sig + PF_OFF_ANGLE + b))), byte), window);
            /* total >= 1 in the probe lanes: qw + 64 holds max(qc, 1)
             * when cc = 0 would leave 0 (both is then 0 as well). */
            __m512     total = _mm512_cvtepi32_ps(_mm512_and_si512(
                _mm512_add_epi32(qwc, _mm512_set1_epi32((int) mcc_le32(
                    sig + PF_OFF_COUNT + b))), byte));
            __m512     r = _mm512_rcp14_ps(total);
            __m512     sim;

            r = _mm512_mul_ps(r, _mm512_fnmadd_ps(total, r, two));
            sim = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(both,
                both)), r);
            acc = _mm512_mask_max_ps(acc, ok, acc, sim);
        }
        best[v] = acc;
    }
    /* Levels, then the PF_NP largest by bisection on the level: the
     * largest t with at least np levels >= t; branch-free, unlike a
     * selection whose branches the data keeps mispredicting. */
    {
        __m512i   lv[PF_PROBE_CYL / 16];
        __m512i   acc = _mm512_setzero_si512();
        int       np = q->n < PF_NP ? q->n : PF_NP, t = 0, bit, above = 0;
        uint32_t  sum;

        if (np == 0) {
            return 0;
        }
        for (v = 0; v < nv; v++) {
            /* Lanes past the probe's cylinders: level 0, never counted
             * above a threshold >= 1; at t = 0 only np are taken. */
            __mmask16  live = (__mmask16) (q->n - 16 * v >= 16 ? 0xffff
                : (1u << (q->n - 16 * v)) - 1);

            lv[v] = _mm512_maskz_cvttps_epi32(live, _mm512_fmadd_ps(best[v],
                _mm512_set1_ps(255.0f), _mm512_set1_ps(0.5f)));
        }
        /* Two bits per step (three thresholds counted side by side):
         * half the dependent steps of a plain bisection. */
        for (bit = 64; bit > 0; bit >>= 2) {
            int      n1 = 0, n2 = 0, n3 = 0;
            __m512i  c1 = _mm512_set1_epi32(t | bit);
            __m512i  c2 = _mm512_set1_epi32(t | 2 * bit);
            __m512i  c3 = _mm512_set1_epi32(t | 3 * bit);

            for (v = 0; v < nv; v++) {
                n1 += __builtin_popcount(_mm512_cmpge_epi32_mask(lv[v], c1));
                n2 += __builtin_popcount(_mm512_cmpge_epi32_mask(lv[v], c2));
                n3 += __builtin_popcount(_mm512_cmpge_epi32_mask(lv[v], c3));
            }
            t = n3 >= np ? t | 3 * bit : n2 >= np ? t | 2 * bit
                : n1 >= np ? t | bit : t;
        }
        for (v = 0; v < nv; v++) {
            __mmask16  gt = _mm512_cmpgt_epi32_mask(lv[v],
                _mm512_set1_epi32(t));

            above += __builtin_popcount(gt);
            acc = _mm512_mask_add_epi32(acc, gt, acc, lv[v]);
        }
        sum = (uint32_t) _mm512_reduce_add_epi32(acc)
            + (uint32_t) ((np - above) * t);
        return (uint32_t) ((uint64_t) sum * 65536 / (255u * (unsigned) np));
    }
}
#endif

#ifdef PF_HAVE_AVX512
/* AVX2 (x86-64-v3 machines without AVX-512): 8 probe cylinders per
 * vector, popcount by nibble table; the division is exact, as in the
 * scalar path (vrcpps + a Newton step changed 40% of the scores by one
 * level rounding), so both give identical scores. */
__attribute__((target("avx2")))
static uint32_t
pf_score_avx2(const struct hm_sigquery *q, const uint8_t *sig)
{
    __m256   best[PF_PROBE_CYL / 8];
    float    m[PF_PROBE_CYL];
    int      level[PF_PROBE_CYL];
    int      v, b, a, nv = (q->n + 7) / 8;
    int      n = sig[PF_OFF_N] < PF_CYL ? sig[PF_OFF_N] : PF_CYL;
    const __m256i  byte = _mm256_set1_epi32(255);
    const __m256i  window = _mm256_set1_epi32(2 * PF_MAX_TURN);
    const __m256i  ones8 = _mm256_set1_epi8(1);
    const __m256i  ones16 = _mm256_set1_epi16(1);

    for (v = 0; v < nv; v++) {
        best[v] = _mm256_setzero_ps();
    }
    for (b = 0; b < n; b++) {
        __m256i  c0 = _mm256_set1_epi32((int) mcc_le32(sig + 4 * b));
        __m256i  c1 = _mm256_set1_epi32((int) mcc_le32(sig
            + 4 * (PF_CYL + b)));
        __m256i  c2 = _mm256_set1_epi32((int) mcc_le32(sig
            + 4 * (2 * PF_CYL + b)));
        __m256i  cc = _mm256_set1_epi32(sig[PF_OFF_COUNT + b]);
        __m256i  ca = _mm256_set1_epi32(sig[PF_OFF_ANGLE + b]);

        for (v = 0; v < nv; v++) {
            /* The 16-lane groups of vw, eight lanes at a time. */
            const int32_t  *qw = q->vw[v / 2] + 8 * (v % 2);
            __m256i  bytes = _mm256_add_epi8(
                hm_popcount_bytes_avx2(_mm256_and_si256(c0,
                    _mm256_loadu_si256((const __m256i *) qw))),
                _mm256_add_epi8(
                    hm_popcount_bytes_avx2(_mm256_and_si256(c1,
                        _mm256_loadu_si256((const __m256i *) (qw + 16)))),
                    hm_popcount_bytes_avx2(_mm256_and_si256(c2,
                        _mm256_loadu_si256((const __m256i *) (qw + 32))))));
            __m256i  both = _mm256_madd_epi16(_mm256_maddubs_epi16(bytes,
                ones8), ones16);
            __m256i  d = _mm256_and_si256(_mm256_sub_epi32(
                _mm256_loadu_si256((const __m256i *) (qw + 48)), ca), byte);
            __m256   ok = _mm256_castsi256_ps(_mm256_andnot_si256(
                _mm256_cmpgt_epi32(d, window), _mm256_set1_epi32(-1)));
            __m256   total = _mm256_cvtepi32_ps(_mm256_add_epi32(cc,
                _mm256_loadu_si256((const __m256i *) (qw + 64))));
            __m256   sim = _mm256_div_ps(_mm256_cvtepi32_ps(
                _mm256_add_epi32(both, both)), total);

            best[v] = _mm256_max_ps(best[v], _mm256_and_ps(sim, ok));
        }
    }
    for (v = 0; v < nv; v++) {
        _mm256_storeu_ps(m + 8 * v, best[v]);
    }
    for (a = 0; a < q->n; a++) {
        level[a] = pf_level(m[a]);
    }
    return pf_top_mean(level, q->n);
}
#endif

static inline uint32_t
pf_score(const struct hm_sigquery *q, const uint8_t *sig)
{
#ifdef PF_HAVE_AVX512
    if (pf_simd == 2) {
        return pf_score_avx512(q, sig);
    }
    if (pf_simd == 1) {
        return pf_score_avx2(q, sig);
    }
#endif
    return pf_score_scalar(q, sig);
}

uint32_t
hm_sigquery_score(const struct hm_sigquery *q, const uint8_t *sig)
{
    if (q == NULL || sig == NULL) {
        return 0;
    }
    return pf_score(q, sig);
}

double
hm_sigquery_rerank_score(const struct hm_sigquery *q, const uint8_t *stored,
    size_t len)
{
    return q != NULL && stored != NULL ? hm_lite_score(q->lite, stored, len)
        : 0.0;
}

/* Min-heap of keys score << 32 | ~index: the root is the weakest kept;
 * a larger key is better (higher score, then lower index). */
static void
heap_sift_down(uint64_t *heap, size_t n, size_t i)
{
    uint64_t  v = heap[i];

    for (;;) {
        size_t  c = 2 * i + 1;

        if (c >= n) {
            break;
        }
        if (c + 1 < n && heap[c + 1] < heap[c]) {
            c++;
        }
        if (heap[c] >= v) {
            break;
        }
        heap[i] = heap[c];
        i = c;
    }
    heap[i] = v;
}

static void
heap_push(uint64_t *heap, size_t *n, uint64_t v)
{
    size_t  i = (*n)++;

    while (i > 0 && heap[(i - 1) / 2] > v) {
        heap[i] = heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    heap[i] = v;
}

static int
key_desc(const void *a, const void *b)
{
    uint64_t  x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return x < y ? 1 : x > y ? -1 : 0;
}

static size_t
pf_scan(const struct hm_sigquery *q, const uint8_t *sigs, size_t count,
    size_t stride, size_t k, uint64_t *heap)
{
    size_t  i, n = 0;

    for (i = 0; i < count; i++) {
        uint32_t  score = pf_score(q, sigs + i * stride);
        uint64_t  key;

        if (score == 0) {
            continue;
        }
        key = (uint64_t) score << 32 | (uint32_t) ~(uint32_t) i;
        if (n < k) {
            heap_push(heap, &n, key);
        } else if (key > heap[0]) {
            heap[0] = key;
            heap_sift_down(heap, n, 0);
        }
    }
    return n;
}

size_t
hm_sig_topk(const struct hm_sigquery *q, const uint8_t *sigs, size_t count,
    size_t stride, size_t k, uint32_t *out_idx, uint32_t *out_score)
{
    uint64_t  *heap;
    size_t     n, i;

    if (q == NULL || sigs == NULL || k == 0 || count == 0
        || stride < HM_SIG_BYTES || count > UINT32_MAX)
    {
        return 0;
    }
    if (k > count) {
        k = count;
    }
    heap = malloc(k * sizeof(*heap));
    if (heap == NULL) {
        return 0;
    }
    n = pf_scan(q, sigs, count, stride, k, heap);
    qsort(heap, n, sizeof(*heap), key_desc);
    for (i = 0; i < n; i++) {
        out_idx[i] = ~(uint32_t) heap[i];
        out_score[i] = (uint32_t) (heap[i] >> 32);
    }
    free(heap);
    return n;
}

size_t
hm_sig_merge(const uint32_t *a_idx, const uint32_t *a_score, size_t na,
    const uint32_t *b_idx, const uint32_t *b_score, size_t nb, size_t k,
    uint32_t *out_idx, uint32_t *out_score)
{
    size_t  i = 0, j = 0, n = 0;

    while (n < k && (i < na || j < nb)) {
        int  take_a = j >= nb || (i < na && (a_score[i] > b_score[j]
            || (a_score[i] == b_score[j] && a_idx[i] < b_idx[j])));

        if (take_a) {
            out_idx[n] = a_idx[i];
            out_score[n++] = a_score[i++];
        } else {
            out_idx[n] = b_idx[j];
            out_score[n++] = b_score[j++];
        }
    }
    return n;
}

size_t
hm_sig_default_k(uint64_t gallery)
{
    /* 2% of the gallery, at least 1000 (bench_identify, this data: 1M
     * gallery, K = 20k, 50k and 100k all gave the exhaustive rank-1; at
     * 100k, one FVC2004 DB1 probe needs 20%, 0.36 points, at 2% to 8%). */
    size_t  k = (size_t) (gallery / 50);

    return k < 1000 ? 1000 : k;
}

size_t
hm_sig_default_rerank(size_t k)
{
    /* A tenth of K, at least 1000 (bench_identify, this data: the cheap
     * stage's best 400 of K = 2000 at 100k and its best 500 of 20000 at
     * 1M already hold every rank-1 of the full re-rank of K; 200 lose
     * one probe at 100k and two at 1M). */
    size_t  m = k / 10;

    m = m < 1000 ? 1000 : m;
    return m < k ? m : k;
}
